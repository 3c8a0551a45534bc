"""Benchmark: one day's feed at Bozhou scale — incremental pass plus the lifecycle.

    python benchmarks/incremental_day.py --home DIR [--records 100000]

DIR is a Bozhou-scale home built by benchmarks/certify_pass.py (or bozhou_lake.py). If its
full pass has not run yet, it runs once (as of the lake's last day, untimed). Then:

1. the daily run of the lake's last day, untimed: the first run of a home catches up (every
   reminder due in the next 60 days, every expiry so far, every death not settled) — not a
   normal day. If the guard held that day's suspensions as a spike (a month of expiries at
   once), they are confirmed as an officer would (untimed). Then quiet days (no new records,
   untimed) until a week has passed since the full pass (which certified everyone on the
   lake's last day: for `certified_lookback_days` the 'certified' step re-reads that mass)
   and the guard has a week of runs to take its spike baseline from; and the person page's
   evidence store is built from the whole lake if the home has none. So the timed day is a
   normal one;
2. one new day's records (~100 k, the mix and persons of the lake) appended to the lake as
   committed batches, one per daily source, as ingestion would;
3. timed: `run_pass(..., 'incremental')` for that day, then `run_day` for the same day (its
   own pass finds nothing left to apply). Target: under 2 s together. Printed: the pass and
   its phases, each step of the run with its seconds and the rows it wrote (table by table),
   and the guard's view of the day (a held or spiking day is not a normal day: said so).

Each run appends a new day after the last one, so the benchmark can be repeated on one home.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bozhou_lake
import certify_pass

from lifesign.ingest.lake import LAKE_SCHEMA, ROW_GROUP_ROWS, partition_path

DAILY_SHARES = {  # the day's records by source: the daily feeds, and a day's share of the
    # household cancellations (Bozhou: ~130 deaths a day among 1.36 M recipients = 0.1 %)
    "yibao_settle": 0.46,
    "yinhang_transactions": 0.32,
    "jiaotong_senior_card": 0.15,
    "tielu_boarding": 0.069,
    "gongan_cancellation": 0.001,
}


def last_run_day(engine: object) -> dt.date | None:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        value = connection.execute(text("SELECT max(as_of) FROM runs")).scalar()
    if value is None:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def finished_runs(engine: object) -> int:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(
            connection.execute(text("SELECT count(*) FROM runs WHERE status = 'finished'")).scalar()
        )


def append_day(settings: object, engine: object, day: dt.date, records: int, seed: int) -> int:
    """Write `records` evidence records dated `day` as committed batches; rows written."""
    from lifesign.store.models import Batch

    rng = np.random.default_rng(seed + day.toordinal())
    codes, _, source_of = bozhou_lake.type_tables()
    with engine.connect() as connection:  # type: ignore[attr-defined]
        persons = int(connection.execute(text("SELECT max(person_id) FROM people")).scalar())
        next_batch = int(connection.execute(select(func.max(Batch.batch_id))).scalar() or 0) + 1
    pseudonym = bozhou_lake.pseudonyms(persons, seed)
    written = 0
    with engine.begin() as connection:  # type: ignore[attr-defined]
        for offset, (source, share) in enumerate(DAILY_SHARES.items()):
            types = [c for c in codes if source_of.get(c) == source]
            n = int(records * share)
            person = rng.integers(0, persons, n)
            kinds = np.array(types)[rng.integers(0, len(types), n)]
            seconds = np.sort(rng.integers(6 * 3600, 21 * 3600, n))
            moment = np.datetime64(day.isoformat(), "s") + seconds.astype("timedelta64[s]")
            batch_id = next_batch + offset
            table = pa.table(
                {
                    "person_id": pa.array(person + 1),
                    "pseudonym": pseudonym.take(pa.array(person)),
                    "evidence_type": pa.array(kinds),
                    "event_time": pa.array(moment, pa.timestamp("s")),
                    "source": pa.array(np.full(n, source)),
                    "record_id": pc.binary_join_element_wise(
                        f"D{day:%Y%m%d}-", pc.cast(pa.array(np.arange(n)), pa.string()), ""
                    ),
                    "record_key": pa.array(rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)),
                    "batch_id": pa.array(np.full(n, batch_id, dtype=np.int64)),
                    "row": pa.array(np.arange(2, n + 2, dtype=np.int64)),
                },
                schema=LAKE_SCHEMA,
            )
            connection.execute(
                insert(Batch).values(
                    batch_id=batch_id,
                    kind="file",
                    source=source,
                    status="committed",
                    file_name=f"bench-{day}-{source}",
                    counts={"records": n},
                )
            )
            path = settings.lake_dir / partition_path(f"{day:%Y-%m}", source, batch_id)  # type: ignore[attr-defined]
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            written += n
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="stop before appending the timed day (the home can then be copied for an A/B)",
    )
    args = parser.parse_args()

    from lifesign.catalog import load_catalog
    from lifesign.certify.passes import run_pass
    from lifesign.lifecycle.daily import MARKS
    from lifesign.lifecycle.parameters import load_guard_parameters, load_lifecycle_parameters
    from lifesign.lifecycle.run import run_day
    from lifesign.store import open_database

    settings = certify_pass.settings_for(args.home)
    engine = open_database(settings)
    catalog = load_catalog(None)
    lake_end = dt.date.fromisoformat(certify_pass.AS_OF)
    with engine.connect() as connection:
        decided = connection.execute(text("SELECT count(*) FROM decisions")).scalar()
    if not decided:
        started = time.perf_counter()
        run_pass(settings, engine, catalog, lake_end, "full")
        print(f"full pass as of {lake_end} (untimed setup): {time.perf_counter() - started:.1f} s")
    last = last_run_day(engine)
    if last is None:
        started = time.perf_counter()
        report = run_day(settings, lake_end, engine=engine, catalog=catalog, settle_seconds=0)
        seconds = time.perf_counter() - started
        print(
            f"first daily run, {lake_end} (catch-up, untimed): {seconds:.1f} s"
            f"; {report.counts.get('messages', 0):,} messages queued"
        )
        confirm_held_spike(engine, catalog, report.run_id)
        last = lake_end
    # Quiet days (no new records, untimed) until a day is a normal one: the full pass
    # certified everyone on `lake_end`, and for `certified_lookback_days` (7) the 'certified'
    # step re-reads that mass every day; and the guard's spike check takes its baseline from
    # `spike_min_history` runs (before, it counts the active recipients: every enrollment).
    settled_from = lake_end + dt.timedelta(days=load_lifecycle_parameters().certified_lookback_days)
    quiet_days, started = 0, time.perf_counter()
    while last < settled_from or finished_runs(engine) < load_guard_parameters().spike_min_history:
        last += dt.timedelta(days=1)
        report = run_day(settings, last, engine=engine, catalog=catalog, settle_seconds=0)
        confirm_held_spike(engine, catalog, report.run_id)
        quiet_days += 1
    if quiet_days:
        print(
            f"{quiet_days} quiet day(s) to {last}, each day's schedule (untimed): "
            f"{time.perf_counter() - started:.1f} s"
        )
    # The person page's evidence store (LAKE/_person/evidence) is built once from the whole
    # lake (Bozhou: 35 M records, minutes), then each run folds its day in: built here,
    # untimed, if this home has none yet.
    from lifesign.ingest.person_store import update_person_store

    started = time.perf_counter()
    folded = update_person_store(settings.lake_dir)
    if folded:
        print(
            f"evidence store: {folded:,} batches folded in (untimed): "
            f"{time.perf_counter() - started:.1f} s"
        )
    if args.prepare_only:
        print(f"prepared: the next day is {last + dt.timedelta(days=1)}")
        return
    day = last + dt.timedelta(days=1)
    started = time.perf_counter()
    rows = append_day(settings, engine, day, args.records, args.seed)
    print(f"appended {rows:,} records dated {day} in {time.perf_counter() - started:.1f} s")

    started, cpu_started = time.perf_counter(), time.process_time()
    passed = run_pass(settings, engine, catalog, day, "incremental")
    pass_seconds = time.perf_counter() - started
    pass_cpu = time.process_time() - cpu_started
    clock = CpuClock()
    started = time.perf_counter()
    report = run_day(
        settings, day, engine=engine, catalog=catalog, settle_seconds=0, progress=clock.step
    )
    day_seconds = time.perf_counter() - started
    total = pass_seconds + day_seconds
    print(
        f"\nincremental pass of {day}: {pass_seconds:.2f} s ({pass_cpu:.2f} s CPU) "
        f"({passed.records:,} records, {passed.decisions:,} decisions; "
        + ", ".join(f"{k} {v:.2f} s" for k, v in passed.phases.items())
        + ")"
    )
    print(
        "  the pass's phases in CPU seconds: "
        + ", ".join(f"{k} {v:.2f}" for k, v in passed.phases_cpu.items())
    )
    print(f"run_day of {day} (its pass finds nothing new): {day_seconds:.2f} s")
    print_steps(report.phases, clock.seconds, report.counts.get("written", {}))
    print(f"together: {total:.2f} s (target < 2 s; ratio to target {total / 2:.2f})")
    print(
        "lifecycle counts: "
        + ", ".join(
            f"{k} {v}"
            for k, v in report.counts.items()
            if isinstance(v, (int, str)) and v and k not in ("written", *MARKS)
        )
        + "; reminders "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.counts.get("reminders", {}).items()))
    )
    warnings = report.guard.get("warnings") or []
    spike = report.guard.get("spike") or {}
    print(
        "guard: "
        + ("; ".join(warnings) if warnings else "every source on time")
        + f"; {spike.get('due', 0):,} suspensions due"
        + f" (a spike above {spike.get('threshold', 0):,.0f})"
    )
    if warnings or report.counts.get("held"):
        print("NOTE: the guard held or warned today: not a normal day")


# run_day's own steps, in order; 'pass' also holds the seeding of new recipients' states.
RUN_STEPS = ("setup", "ingest", "pass")


class CpuClock:
    """CPU seconds of this process per step of a run (from run_day's progress calls): on a
    shared machine the wall clock also counts the other processes' turns."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._step = "setup"
        self._at = time.process_time()

    def step(self, name: str) -> None:
        now = time.process_time()
        self.seconds[self._step] = now - self._at
        self._step, self._at = name, now


def print_steps(phases: dict[str, float], cpu: dict[str, float], written: dict[str, int]) -> None:
    """Each step of the run: seconds (wall, CPU), rows written (by table), ms per row."""
    by_step: dict[str, dict[str, int]] = {}
    for key, rows in written.items():
        step, _, table = key.partition(".")
        by_step.setdefault(step, {})[table] = int(rows)
    print(f"  {'step':<24} {'wall':>7}  {'CPU':>7}  {'rows':>7}  ms/row (CPU)")
    for step, seconds in phases.items():
        tables = by_step.get(step, {})
        rows = sum(tables.values())
        label = "run_day " + step if step in RUN_STEPS else "lifecycle " + step
        detail = ", ".join(f"{table} {n:,}" for table, n in sorted(tables.items()))
        used = cpu.get(step, 0.0)
        per_row = f"{used / rows * 1000:8.3f}" if rows else " " * 8
        print(
            f"  {label:<24} {seconds:6.3f}s  {used:6.3f}s  {rows:>7,}  {per_row}"
            + (f"  ({detail})" if detail else "")
        )


def confirm_held_spike(engine: object, catalog: object, run_id: int) -> None:
    """The catch-up day's suspensions held as a spike: confirmed as an officer would."""
    from lifesign.lifecycle.run import confirm_suspensions

    with engine.connect() as connection:  # type: ignore[attr-defined]
        held = connection.execute(
            text("SELECT count(*) FROM held_suspensions WHERE run_id = :run AND status = 'held'"),
            {"run": run_id},
        ).scalar()
    if not held:
        return
    started = time.perf_counter()
    done = confirm_suspensions(engine, catalog, run_id, officer="benchmark")  # type: ignore[arg-type]
    print(
        f"catch-up day's {held:,} held suspensions confirmed (untimed): {done.applied:,} applied,"
        f" {done.released:,} released in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
