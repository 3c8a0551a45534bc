"""Build a whole synthetic city: population, registry, feeds, truth.

Stages, in order: the population (numpy, in memory); the enrollments; `registry/people.csv`,
`registry/enrollments.csv`; the truth files; then the payment ledger and the department feeds
at the same time — the ledger in a forked process (it only reads the arrays already built),
the feeds in this one (`lifesign.synth.feeds.write_feeds`, which forks its own workers) —
and finally `truth/summary.json`. Same seed, same bytes: nothing depends on the clock.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lifesign.synth.config import SynthConfig
from lifesign.synth.population import Population, generate_population
from lifesign.synth.programs import (
    CAUSE_DEATH,
    STATUS_NAMES,
    Enrollments,
    amount_table,
    build_enrollments,
    has,
)
from lifesign.synth.registry_writer import (
    enrollment_ids,
    write_enrollments,
    write_payments,
    write_people,
)
from lifesign.synth.truth import (
    integrity_cases,
    overpayment_after_recorded_death,
    write_integrity_cases,
    write_people_truth,
)

if TYPE_CHECKING:
    from lifesign.catalog import Catalog

# A progress sink: (stage, done, total, detail). The CLI turns it into a rich display.
ProgressFn = Callable[[str, int, int, str], None]

STAGES = ("population", "enrollments", "registry", "truth", "payments", "feeds")


@dataclass
class CityReport:
    """What was built, for the summary and the CLI."""

    people: int = 0
    recipients: int = 0
    enrollments: int = 0
    payments: int = 0
    evidence_records: int = 0
    feed_files: int = 0
    coverage: dict[str, float] = field(default_factory=dict)
    deaths: int = 0
    deaths_of_recipients: int = 0
    unrecorded_deaths: int = 0
    maoling: int = 0
    integrity_cases: dict[str, int] = field(default_factory=dict)
    program_sizes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    feeds_error: str | None = None


def _version() -> str:
    try:
        return version("lifesign")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _payments_child(
    enr: Enrollments,
    pop: Population,
    catalog: Catalog,
    config: SynthConfig,
    path: Path,
    counter: Any,
    seconds: Any,
) -> None:
    started = time.perf_counter()
    table = amount_table(catalog, config)
    ids = enrollment_ids(enr, catalog)

    def on_rows(k: int) -> None:
        with counter.get_lock():
            counter.value += k

    write_payments(enr, pop, table, ids, config, path, on_rows)
    seconds.value = time.perf_counter() - started


def build_city(
    config: SynthConfig,
    catalog: Catalog,
    progress: ProgressFn | None = None,
    *,
    feeds: bool = True,
) -> CityReport:
    """Write the city under `config.out` (registry/, feeds/, truth/) and return the report."""

    def report_progress(stage: str, done: int, total: int, detail: str = "") -> None:
        if progress is not None:
            progress(stage, done, total, detail)

    out = Path(config.out)
    for sub in ("registry", "feeds", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir(parents=True)
    report = CityReport()
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[stage] = round(now - clock, 2)
        clock = now

    report_progress("population", 0, 1, f"{config.people:,} people")
    pop = generate_population(config, catalog)
    report_progress("population", 1, 1, f"{pop.n:,} people")
    lap("population")

    report_progress("enrollments", 0, 1, "")
    table = amount_table(catalog, config)
    enr = build_enrollments(pop, catalog, config, table)
    ids = enrollment_ids(enr, catalog)
    report_progress("enrollments", 1, 1, f"{len(enr):,} enrollments")
    lap("enrollments")

    report_progress("registry", 0, 2, "people.csv")
    report.recipients = write_people(pop, catalog, config, out / "registry" / "people.csv")
    report_progress("registry", 1, 2, "enrollments.csv")
    report.enrollments = write_enrollments(
        enr, pop, ids, catalog, out / "registry" / "enrollments.csv"
    )
    report_progress("registry", 2, 2, "")
    lap("registry")

    report_progress("truth", 0, 2, "people.csv")
    report.people = write_people_truth(pop, catalog, out / "truth" / "people.csv")
    cases = integrity_cases(pop, enr, ids, catalog, config, None)
    write_integrity_cases(cases, out / "truth" / "integrity_cases.csv")
    for case in cases:
        report.integrity_cases[case[0]] = report.integrity_cases.get(case[0], 0) + 1
    report_progress("truth", 2, 2, f"{len(cases):,} planted cases")
    lap("truth")

    # The ledger and the feeds at the same time.
    expected_rows = int(enr.payment_count.sum())
    payments_path = out / "registry" / "payments.csv"
    ctx = mp.get_context("fork")
    counter = ctx.Value("q", 0)
    child_seconds = ctx.Value("d", 0.0)
    child = None
    t_pay = time.perf_counter()
    if config.workers >= 2:
        child = ctx.Process(
            target=_payments_child,
            args=(enr, pop, catalog, config, payments_path, counter, child_seconds),
        )
        child.start()
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.5):
                report_progress("payments", int(counter.value), expected_rows, "")

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    else:
        report.payments = write_payments(
            enr,
            pop,
            table,
            ids,
            config,
            payments_path,
            lambda k: report_progress("payments", k, expected_rows, ""),
        )
        report_progress("payments", expected_rows, expected_rows, "")
        report.seconds["payments"] = round(time.perf_counter() - t_pay, 2)

    t_feeds = time.perf_counter()
    if feeds:
        try:
            from lifesign.synth.feeds import write_feeds
        except ImportError as error:  # pragma: no cover - the feeds package is being written
            report.feeds_error = f"feeds not available: {error}"
        else:

            def feed_progress(source: str, done: int, total: int) -> None:
                report_progress("feeds", done, total, source)

            feed_report = write_feeds(pop, catalog, config, feed_progress)
            report.evidence_records = feed_report.records
            report.feed_files = feed_report.files
            report.coverage = dict(feed_report.coverage)
    report.seconds["feeds"] = round(time.perf_counter() - t_feeds, 2)

    if child is not None:
        child.join()
        stop.set()
        if child.exitcode != 0:
            raise RuntimeError(f"writing payments.csv failed (exit code {child.exitcode})")
        report.payments = int(counter.value)
        report_progress("payments", report.payments, expected_rows, "")
        report.seconds["payments"] = round(float(child_seconds.value), 2)
        report.seconds["payments_and_feeds"] = round(time.perf_counter() - t_pay, 2)
    clock = time.perf_counter()

    dead = ~np.isnat(pop.death_date)
    report.deaths = int(dead.sum())
    report.deaths_of_recipients = int((dead & pop.is_recipient).sum())
    report.unrecorded_deaths = int((dead & ~pop.death_recorded).sum())
    report.maoling = int(pop.maoling.sum())
    for k, code in enumerate(catalog.programs):
        report.program_sizes[code] = int(has(pop.program_mask, k).sum())
    _write_summary(config, catalog, pop, enr, report, out / "truth" / "summary.json")
    lap("summary")
    return report


def _write_summary(
    config: SynthConfig,
    catalog: Catalog,
    pop: Population,
    enr: Enrollments,
    report: CityReport,
    path: Path,
) -> None:
    enr_dead, months_after = overpayment_after_recorded_death(enr, config)
    summary = {
        "generator": "lifesign synth",
        "lifesign_version": _version(),
        "catalog_version": getattr(catalog, "version", "unknown"),
        "seed": config.seed,
        "window_start": config.window_start.isoformat(),
        "window_end": config.window_end.isoformat(),
        "as_of": config.window_end.isoformat(),
        "recipients": report.recipients,
        "non_recipients": report.people - report.recipients,
        "people": report.people,
        "enrollments": report.enrollments,
        "enrollments_by_status": {
            name: int((enr.status == k).sum()) for k, name in enumerate(STATUS_NAMES)
        },
        "payments": report.payments,
        "evidence_records": report.evidence_records,
        "feed_files": report.feed_files,
        "coverage": report.coverage,
        "deaths": report.deaths,
        "deaths_of_recipients": report.deaths_of_recipients,
        "deaths_unrecorded": report.unrecorded_deaths,
        "maoling": report.maoling,
        "imprisoned": int((~np.isnat(pop.imprisoned_on)).sum()),
        "emigrated": int((~np.isnat(pop.emigrated_on)).sum()),
        "enrollments_paid_after_recorded_death": enr_dead,
        "months_paid_after_recorded_death": months_after,
        "recorded_death_enrollments": int((enr.cause == CAUSE_DEATH).sum()),
        "integrity_cases": dict(sorted(report.integrity_cases.items())),
        "program_sizes": report.program_sizes,
    }
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
