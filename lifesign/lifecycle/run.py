"""The daily run: `run_day(settings, as_of)` — ingest the inbox, run the incremental pass,
then the lifecycle (see `daily.py`), and report.

A run is one unit per as-of date (`runs.as_of` is unique). Ingest commits batch by batch and
the pass commits its decisions with its watermark; the lifecycle is ONE transaction that
also marks the run finished. A crash anywhere leaves the run 'running'; running the same day
again resumes: files already ingested are no-ops, applied batches are not applied again, and
the lifecycle, whose steps only do what the state still needs, runs whole. A second run of a
finished day changes nothing (it reuses the run's row; its counts add zero).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Table, func, insert, select, update

from lifesign.catalog import Catalog, load_catalog
from lifesign.certify.ledger import seed_person_state
from lifesign.config import Settings
from lifesign.errors import LifesignError, Location
from lifesign.lifecycle import daily
from lifesign.lifecycle.guard import GuardFindings, assess_sources
from lifesign.lifecycle.models import HeldSuspension, Run
from lifesign.lifecycle.parameters import (
    GUARD_FILE,
    LIFECYCLE_FILE,
    GuardParameters,
    LifecycleParameters,
    load_guard_parameters,
    load_lifecycle_parameters,
)

if TYPE_CHECKING:
    from lifesign.ingest.sources import SourceDefinition

runs_t = cast(Table, Run.__table__)
people_t = daily.people_t
holds_t = cast(Table, HeldSuspension.__table__)

INBOX_DIR = "inbox"
FAULT_ENV = "LIFESIGN_FAULT_POINT"
# Where a test may kill the run (SIGKILL) to prove that running the day again is clean.
FAULT_POINTS = ("after_ingest", "after_pass", "mid_lifecycle")

Progress = Callable[[str], None]


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class IngestedFile:
    name: str
    outcome: str
    source: str | None
    batch_id: int | None
    summary: str


@dataclass
class DayReport:
    """What one daily run did. `counts` are the lifecycle's (see `daily.StepCounts`)."""

    run_id: int
    as_of: dt.date
    status: str
    files: list[IngestedFile] = field(default_factory=list)
    pass_summary: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    guard: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step

    @property
    def certified(self) -> int:
        return int(self.pass_summary.get("certified", 0))

    def lines(self) -> list[str]:
        """The day report, as printed by `lifesign run`: counts only, never a person."""
        c = self.counts
        reminders = c.get("reminders", {}) or {}
        ingested = [f for f in self.files if f.outcome == "ingested"]
        lines = [
            f"run {self.run_id} as of {self.as_of.isoformat()}: {self.status} "
            f"in {self.seconds:.1f} s",
            f"  ingested        {len(ingested)} batch(es) of {len(self.files)} file(s) in the inbox"
            + (
                f" ({sum(1 for f in self.files if f.outcome in ('failed', 'unmatched'))} set aside)"
                if any(f.outcome in ("failed", "unmatched") for f in self.files)
                else ""
            ),
            "  pass            "
            + (
                ", ".join(f"{k} {v:,}" for k, v in self.pass_summary.items() if isinstance(v, int))
                or "nothing new"
            ),
            f"  certified       {c.get('certified_notices', 0):,} told by SMS",
            "  reminders       "
            + (", ".join(f"{k} {v:,}" for k, v in sorted(reminders.items())) or "none"),
            f"  visit tasks     {c.get('visit_tasks', 0):,} new, "
            f"{c.get('visit_tasks_cancelled', 0):,} cancelled (certified otherwise)",
            f"  suspended       {c.get('suspended', 0):,} enrollment(s); held "
            f"{c.get('held', 0):,}"
            + (
                " (" + ", ".join(f"{k} {v:,}" for k, v in sorted(c["held_by_rule"].items())) + ")"
                if c.get("held_by_rule")
                else ""
            ),
            f"  resumed         {c.get('resumed', 0):,} enrollment(s), back pay "
            f"{c.get('back_pay_months', 0):,} month(s), {c.get('back_pay_amount', '0')} yuan",
            f"  terminated      {c.get('deaths_settled', 0):,} death(s) settled, overpayment "
            f"{c.get('overpayment', '0')} yuan",
            f"  recovery cases  {c.get('recovery_cases', 0):,} opened",
            f"  messages        {c.get('messages', 0):,} queued",
        ]
        if self.phases:
            lines.append(
                "  time            "
                + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.phases.items())
            )
        warnings = list(self.guard.get("warnings", []))
        if warnings:
            lines.append("  guard warnings:")
            lines.extend(f"    ! {w}" for w in warnings)
        else:
            lines.append("  guard           every source on time")
        return lines


class _Phases:
    """Seconds per step of a run, measured between progress calls."""

    def __init__(self, started: float, progress: Progress | None) -> None:
        self.seconds: dict[str, float] = {}
        self._step = "setup"
        self._at = started
        self._progress = progress

    def start(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[self._step] = round(now - self._at, 3)
        self._step, self._at = step, now
        if self._progress is not None:
            self._progress(step)


# ----------------------------------------------------------------------------- loaded once
#
# A process that runs many days (a replay, a long-lived scheduler) used to parse the same YAML
# files every day: the source definitions (27 files), the lifecycle and guard parameters. They
# are kept per process, keyed by the files' modification times, so an edited file is read
# again on the next run and an unchanged one is not.

_T = TypeVar("_T")
# name → (the files' modification times, what it was loaded for, the value)
_loaded: dict[str, tuple[tuple[tuple[str, int], ...], object, Any]] = {}


def _stamps(paths: list[Path]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in paths if p.exists()))


def _cached(name: str, paths: list[Path], load: Callable[[], _T], owner: object = None) -> _T:
    """`load()`, or its last value if the files did not change and `owner` is the same object
    (a catalog: the value was validated against it)."""
    stamps = _stamps(paths)
    known = _loaded.get(name)
    if known is not None and known[0] == stamps and known[1] is owner:
        return cast(_T, known[2])
    value = load()
    _loaded[name] = (stamps, owner, value)
    return value


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return [folder]
    return [folder, *(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))]


def source_definitions(catalog: Catalog) -> dict[str, SourceDefinition]:
    """The source definitions ($LIFESIGN_SOURCES or the packaged ones, and plugins'), loaded
    once per process and catalog while their files are unchanged."""
    from lifesign.ingest.sources import load_sources, sources_directory
    from lifesign.plugins import extra_source_dirs

    folders = [sources_directory(None), *extra_source_dirs()]
    files = [path for folder in folders for path in _yaml_files(folder)]
    return _cached("sources", files, lambda: load_sources(None, catalog), owner=catalog)


def day_parameters() -> tuple[LifecycleParameters, GuardParameters]:
    """The lifecycle and guard parameters, read again only when their files change."""
    return (
        _cached("lifecycle", [LIFECYCLE_FILE], load_lifecycle_parameters),
        _cached("guard", [GUARD_FILE], load_guard_parameters),
    )


# ----------------------------------------------------------------------------- the run row


def _start_run(engine: Engine, as_of: dt.date) -> int:
    with engine.begin() as connection:
        existing = connection.execute(
            select(runs_t.c.run_id, runs_t.c.attempts).where(runs_t.c.as_of == as_of)
        ).first()
        if existing is not None:
            connection.execute(
                update(runs_t)
                .where(runs_t.c.run_id == existing.run_id)
                .values(status="running", attempts=existing.attempts + 1)
            )
            return int(existing.run_id)
        return int(
            connection.execute(
                insert(runs_t)
                .values(as_of=as_of, status="running", attempts=1, counts={}, guard={})
                .returning(runs_t.c.run_id)
            ).scalar_one()
        )


def previous_run_day(connection: Connection, as_of: dt.date) -> dt.date | None:
    """The as-of date of the latest finished run before `as_of` (the schedule's 'since')."""
    found = connection.execute(
        select(runs_t.c.as_of)
        .where(runs_t.c.as_of < as_of, runs_t.c.status == "finished")
        .order_by(runs_t.c.as_of.desc())
        .limit(1)
    ).scalar_one_or_none()
    return cast("dt.date | None", found)


def seed_new_people(connection: Connection, catalog: Catalog) -> int:
    """Registry people without a state row yet (new recipients) get theirs from the registry's
    last certification, so that their expiry is scheduled like everyone's; the highest
    person id looked at (kept in the run's counts as `people_through`).

    Only people added since the runs before looked (person ids above the highest
    `people_through` of a finished run) are compared with the states: the registry hands out
    increasing ids, and comparing all 1.36 M people every day cost a second. A first run (or
    one after runs that kept no mark) compares everyone.
    """
    periods = {code: p.certification_period_months for code, p in catalog.programs.items()}
    newest = connection.execute(select(func.max(people_t.c.person_id))).scalar()
    if newest is None:
        return 0
    seen = daily.latest_mark(connection, daily.PEOPLE_THROUGH)
    if seen is None:
        seed_person_state(connection, None, periods)
    elif newest > seen:
        added = [
            int(person_id)
            for (person_id,) in connection.execute(
                select(people_t.c.person_id).where(people_t.c.person_id > seen)
            )
        ]
        for start in range(0, len(added), daily.CHUNK):
            seed_person_state(connection, added[start : start + daily.CHUNK], periods)
    return int(max(newest, seen or 0))


def _merge_counts(before: dict[str, Any], today: dict[str, Any]) -> dict[str, Any]:
    """A re-run's counts added to the first run's (a re-run that does nothing adds zero)."""
    merged = dict(before)
    for key, value in today.items():
        old = merged.get(key)
        if key == "suspensions_due" or key in daily.MARKS:  # measures and marks, not actions
            merged[key] = max(int(old or 0), int(value))
        elif isinstance(value, dict):
            inner = dict(old or {})
            for k, v in value.items():
                inner[k] = int(inner.get(k, 0)) + int(v)
            merged[key] = inner
        elif isinstance(value, str):  # Decimal amounts
            merged[key] = str(Decimal(str(old or "0")) + Decimal(value))
        else:
            merged[key] = int(old or 0) + int(value)
    return merged


def _merge_guard(before: dict[str, Any], today: dict[str, Any]) -> dict[str, Any]:
    """A re-run keeps what the first attempt warned about (its holds still stand)."""
    if not before:
        return today
    merged = dict(today)
    merged["warnings"] = list(
        dict.fromkeys([*before.get("warnings", []), *today.get("warnings", [])])
    )
    if (before.get("spike") or {}).get("due", 0) > (today.get("spike") or {}).get("due", 0):
        merged["spike"] = before["spike"]
    return merged


# ----------------------------------------------------------------------------- the steps


def ingest_inbox(
    settings: Settings,
    catalog: Catalog,
    engine: Engine,
    as_of: dt.date,
    settle_seconds: float,
) -> list[IngestedFile]:
    """Take what waits in HOME/inbox, as `lifesign ingest watch HOME/inbox --once` does."""
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.sources import match_source
    from lifesign.ingest.watch import DropFolder

    inbox = settings.home / INBOX_DIR
    if not inbox.is_dir() or not any(path.is_file() for path in inbox.iterdir()):
        return []  # nothing waits (a replay's watcher took the day's files)
    sources = source_definitions(catalog)
    ingestor = Ingestor(settings, catalog, sources, as_of, engine=engine)
    ingestor.recover()
    folder = DropFolder(
        directory=inbox,
        match=lambda path: match_source(sources, path),
        ingest=ingestor.ingest_file,
        describe_patterns=lambda: ", ".join(
            sorted({s.file_pattern for s in sources.values() if s.file_pattern})
        ),
        today=lambda: as_of,
    )
    results = folder.run(once=True, interval=settle_seconds)
    return [IngestedFile(r.name, r.outcome, r.source, r.batch_id, r.summary) for r in results]


def _pass_summary(report: Any) -> dict[str, Any]:
    """The pass report's counts (whatever shape its report has: counts only)."""
    counts = getattr(report, "counts", None)
    if callable(counts):
        counts = counts()
    if isinstance(counts, dict):
        return {str(k): v for k, v in counts.items() if isinstance(v, (int, float, str))}
    found: dict[str, Any] = {}
    for name, value in vars(report).items() if hasattr(report, "__dict__") else ():
        if isinstance(value, int) and not isinstance(value, bool):
            found[name] = value
    return found


def run_lifecycle(
    connection: Connection,
    catalog: Catalog,
    lake_dir: Path,
    as_of: dt.date,
    run_id: int,
    *,
    parameters: LifecycleParameters,
    guard: GuardParameters,
    progress: Progress | None = None,
) -> tuple[daily.StepCounts, GuardFindings]:
    """The lifecycle of one day in the caller's transaction (see `daily.py`)."""
    say = progress or (lambda _step: None)
    counts = daily.StepCounts()
    since = previous_run_day(connection, as_of)
    counts.people_through = seed_new_people(connection, catalog)
    say("arrivals")
    counts.arrivals = daily.record_arrivals(connection, catalog, lake_dir, as_of, run_id)
    findings = GuardFindings(as_of=as_of, sources=assess_sources(connection, as_of, guard))
    say("deaths")
    daily.settle_deaths(connection, catalog, as_of, run_id, counts)
    say("resumptions")
    daily.resume_certified(connection, catalog, as_of, run_id, counts, since)
    say("certified")
    daily.notify_certified(connection, catalog, as_of, counts, parameters, since)
    say("reminders")
    daily.send_reminders(connection, catalog, as_of, run_id, counts, parameters, since)
    _fault("mid_lifecycle")
    say("suspensions")
    daily.suspend_expired(
        connection,
        catalog,
        as_of,
        run_id,
        counts,
        findings,
        guard,
        since,
    )
    return counts, findings


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for one day's run, as it was after.

    A day makes hundreds of thousands of short-lived rows, dicts and messages, all freed by
    reference counting as they go; the collector's passes over them (some 400 in the
    'certified' step alone at Bozhou scale) cost about 0.3 s of CPU for nothing. The little
    cyclic garbage a day leaves is collected once the collector is back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_day(
    settings: Settings,
    as_of: dt.date,
    *,
    progress: Progress | None = None,
    settle_seconds: float | None = None,
    engine: Engine | None = None,
    catalog: Catalog | None = None,
) -> DayReport:
    """The daily run of `as_of`: ingest HOME/inbox, incremental pass, lifecycle, report.

    `progress(step)` is called with the name of each step as it starts ('ingest', 'pass',
    'arrivals', 'deaths', 'resumptions', 'certified', 'reminders', 'suspensions',
    'evidence store', 'done').
    `settle_seconds` overrides the inbox's stability wait (a replay passes 0). `engine` and
    `catalog` may be passed by a caller running many days (a replay) to load them once.
    """
    with _collector_paused():
        return _run_day(
            settings,
            as_of,
            progress=progress,
            settle_seconds=settle_seconds,
            engine=engine,
            catalog=catalog,
        )


def _run_day(
    settings: Settings,
    as_of: dt.date,
    *,
    progress: Progress | None,
    settle_seconds: float | None,
    engine: Engine | None,
    catalog: Catalog | None,
) -> DayReport:
    from lifesign.certify.passes import run_pass
    from lifesign.store import open_database

    started = time.monotonic()
    phases = _Phases(started, progress)
    say = phases.start
    parameters, guard = day_parameters()
    engine = engine or open_database(settings)
    catalog = catalog or load_catalog(settings.catalog_dir)
    run_id = _start_run(engine, as_of)
    say("ingest")
    files = ingest_inbox(
        settings,
        catalog,
        engine,
        as_of,
        parameters.inbox_settle_seconds if settle_seconds is None else settle_seconds,
    )
    _fault("after_ingest")
    say("pass")
    pass_report = run_pass(settings, engine, catalog, as_of, "incremental")
    pass_summary = _pass_summary(pass_report)
    _fault("after_pass")
    with engine.begin() as connection:
        counts, findings = run_lifecycle(
            connection,
            catalog,
            settings.lake_dir,
            as_of,
            run_id,
            parameters=parameters,
            guard=guard,
            progress=say,
        )
        before = connection.execute(
            select(runs_t.c.counts).where(runs_t.c.run_id == run_id)
        ).scalar_one()
        merged = _merge_counts(dict(before or {}), counts.to_json())
        guard_json = _merge_guard(
            dict(
                connection.execute(
                    select(runs_t.c.guard).where(runs_t.c.run_id == run_id)
                ).scalar_one()
                or {}
            ),
            findings.to_json(guard),
        )
        connection.execute(
            update(runs_t)
            .where(runs_t.c.run_id == run_id)
            .values(
                status="finished",
                finished_at=dt.datetime.now(dt.UTC),
                counts=merged,
                guard=guard_json,
            )
        )
    say("evidence store")
    # The person page reads one person's evidence from a person-sorted copy of the lake; the
    # day's batches are folded in here, after the commit, so that no page view has to.
    from lifesign.ingest.person_store import update_person_store

    update_person_store(settings.lake_dir)
    say("done")
    return DayReport(
        run_id=run_id,
        as_of=as_of,
        status="finished",
        files=files,
        pass_summary=pass_summary,
        counts=merged,
        guard=guard_json,
        seconds=time.monotonic() - started,
        phases=phases.seconds,
    )


# ----------------------------------------------------------------------------- officers


class UnknownRun(LifesignError):
    """No run has this id."""


@dataclass(frozen=True)
class Confirmation:
    run_id: int
    applied: int
    released: int


def confirm_suspensions(
    engine: Engine,
    catalog: Catalog,
    run_id: int,
    *,
    officer: str,
    on: dt.date | None = None,
) -> Confirmation:
    """Apply the suspensions a run held (an officer looked and agrees).

    A held suspension whose person has been certified since, died or left, or whose
    enrollment is no longer active, is released instead: there is nothing to suspend.
    `on` (default: the run's as-of date or today, whichever is later) is the decision date.
    """
    if not officer.strip():
        raise LifesignError(
            "an officer's name is needed",
            "confirmations are recorded with who made them",
            Location(field="officer"),
        )
    with engine.begin() as connection:
        run = connection.execute(select(runs_t.c.as_of).where(runs_t.c.run_id == run_id)).first()
        if run is None:
            raise UnknownRun(
                f"there is no run {run_id}",
                "see `lifesign run status` for the runs",
                Location(field="run_id"),
            )
        decided_on = on or max(run.as_of, dt.date.today())
        held = connection.execute(
            select(holds_t)
            .where(holds_t.c.run_id == run_id, holds_t.c.status == "held")
            .order_by(holds_t.c.hold_id)
        ).all()
        applied = released = 0
        for row in held:
            state = connection.execute(
                select(daily.state_t.c.status, daily.state_t.c.valid_until).where(
                    daily.state_t.c.person_id == row.person_id
                )
            ).first()
            status = connection.execute(
                select(daily.enrollments_t.c.status, daily.enrollments_t.c.program).where(
                    daily.enrollments_t.c.enrollment_id == row.enrollment_id
                )
            ).first()
            due = (
                state is not None
                and status is not None
                and state.status == "alive"
                and status.status == "active"
                and state.valid_until is not None
                and state.valid_until < row.effective_date
            )
            if not due:
                connection.execute(
                    update(holds_t)
                    .where(holds_t.c.hold_id == row.hold_id)
                    .values(status="released", resolved_on=decided_on, officer=officer)
                )
                released += 1
                continue
            assert status is not None
            decision_id = daily.suspend(
                connection,
                catalog,
                daily.DueSuspension(
                    int(row.person_id),
                    int(row.enrollment_id),
                    str(status.program),
                    row.effective_date,
                ),
                decided_on,
                run_id,
                details={"held_by": row.rule, "confirmed_by": officer},
            )
            connection.execute(
                update(holds_t)
                .where(holds_t.c.hold_id == row.hold_id)
                .values(
                    status="applied",
                    resolved_on=decided_on,
                    officer=officer,
                    decision_id=decision_id,
                )
            )
            applied += 1
    return Confirmation(run_id, applied, released)
