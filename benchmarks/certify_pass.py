"""Benchmark: the full certification pass at Bozhou scale against a bare DuckDB scan.

    python benchmarks/certify_pass.py [--home DIR] [--lake DIR] [--recipients 1360000]
                                      [--records 35e6]

Builds (or reuses, with --home) a Bozhou-scale home — the evidence lake written directly in
the lake's layout and a registry bulk-loaded into SQLite (benchmarks/bozhou_lake.py) — then
measures, each in its own child process so that its peak RSS is its own:

  (a) the floor: `SELECT person_id, max(event_time), count(*) FROM evidence GROUP BY person_id`
      over the same lake view (`lifesign.ingest.lake.open_lake`), run before and after (b);
  (b) `run_pass(settings, engine, catalog, as_of, 'full')` on a fresh copy of the state
      database (no decisions yet), with its phases (the pass's report);
  (c) the same full pass again on top of (b): it must write nothing (decisions are
      append-only and idempotent, the summary and states do not change);
  (d) unless --no-day: one day's feed (--day-records, 100 k by default; the mix of
      benchmarks/incremental_day.py) appended to the lake the day after, and the incremental
      pass of that day (the pass part of the daily target); the day's files are removed
      afterwards, so the home stays as it was.

Prints each with wall and CPU seconds (the machine is shared: CPU time, user + system of every
thread of the child, is the steadier figure), the ratios to (a) (target ≤ 1.5) and the peak
RSS (target < 4 GiB). `--lake DIR` uses a lake kept elsewhere (HOME/lake becomes a link to it).

(b) leaves a copy of its state as HOME/lifesign.full.db: `--skip-fresh` starts from that copy
instead (no (b): (c) and (d) run on the state a full pass left), `--no-again` skips (c) — so
the day's pass alone is `--skip-fresh --no-again`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bozhou_lake

AS_OF = "2026-10-31"
PRISTINE = "lifesign.pristine.db"
AFTER_FULL = "lifesign.full.db"  # the state (b) leaves, for --skip-fresh
WRITE = re.compile(r"^\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settings_for(home: Path) -> Any:
    from lifesign.config import load_settings

    return load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")


def bare_scan(home: str, queue: Any) -> None:
    from lifesign.ingest.lake import open_lake

    connection = open_lake(settings_for(Path(home)))
    connection.execute("SET enable_progress_bar = false")
    started, cpu = time.perf_counter(), cpu_seconds()
    table = connection.sql(
        "SELECT person_id, max(event_time), count(*) FROM evidence GROUP BY person_id"
    ).to_arrow_table()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rows = connection.execute("SELECT count(*) FROM evidence").fetchone()
    queue.put(
        {
            "seconds": seconds,
            "cpu": cpu,
            "persons": table.num_rows,
            "records": rows[0] if rows else 0,
            "rss": peak_rss_gib(),
        }
    )


def full_pass(home: str, queue: Any) -> None:
    import datetime as dt

    from sqlalchemy import event

    from lifesign.catalog import load_catalog
    from lifesign.certify.passes import run_pass
    from lifesign.store import open_database

    settings = settings_for(Path(home))
    engine = open_database(settings)
    catalog = load_catalog(None)
    writes: dict[str, float] = defaultdict(float)
    rows_written: dict[str, int] = defaultdict(int)
    started_at: dict[int, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started_at[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        match = WRITE.match(statement)
        if match:
            writes[match.group(2).lower()] += time.perf_counter() - started_at.pop(id(cursor), 0)
            rows_written[match.group(2).lower()] += max(cursor.rowcount, 0)

    started, cpu = time.perf_counter(), cpu_seconds()
    report = run_pass(settings, engine, catalog, dt.date.fromisoformat(AS_OF), "full")
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    engine.dispose()  # the last connection closed: SQLite folds its WAL into the file
    queue.put(
        {
            "seconds": seconds,
            "cpu": cpu,
            "rss": peak_rss_gib(),
            "writes": dict(writes),
            "rows_written": dict(rows_written),
            "report": {k: v for k, v in vars(report).items() if isinstance(v, (int, float))},
            "phases": dict(getattr(report, "phases", {}) or {}),
            "phases_cpu": dict(getattr(report, "phases_cpu", {}) or {}),
        }
    )


def day_pass(home: str, queue: Any, records: int = 100_000) -> None:
    """(d): one day's records appended after the lake's last day, its incremental pass."""
    import datetime as dt

    import incremental_day

    from lifesign.catalog import load_catalog
    from lifesign.certify.passes import run_pass
    from lifesign.store import open_database

    settings = settings_for(Path(home))
    engine = open_database(settings)
    catalog = load_catalog(None)
    day = dt.date.fromisoformat(AS_OF) + dt.timedelta(days=1)
    month_dir = settings.lake_dir / "evidence" / f"month={day:%Y-%m}"
    if month_dir.exists():
        raise SystemExit(f"{month_dir} exists: remove it (a day of an earlier run?)")
    try:
        appended = incremental_day.append_day(settings, engine, day, records, seed=7)
        started, cpu = time.perf_counter(), cpu_seconds()
        report = run_pass(settings, engine, catalog, day, "incremental")
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        shutil.rmtree(month_dir, ignore_errors=True)
    queue.put(
        {
            "seconds": seconds,
            "cpu": cpu,
            "rss": peak_rss_gib(),
            "appended": appended,
            "report": {k: v for k, v in vars(report).items() if isinstance(v, (int, float))},
            "phases": dict(report.phases),
            "phases_cpu": dict(report.phases_cpu),
            "writes": {},
            "rows_written": {},
        }
    )


def in_child(target: Any, home: Path, *args: Any) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(str(home), queue, *args))
    process.start()
    while True:  # a child that dies puts nothing: do not wait for it forever
        try:
            result: dict[str, Any] = queue.get(timeout=5)
            break
        except Exception:
            if not process.is_alive():
                raise SystemExit(f"{target.__name__} died (exit code {process.exitcode})") from None
    process.join()
    if process.exitcode:
        raise SystemExit(f"{target.__name__} failed with exit code {process.exitcode}")
    return result


def prepare(args: argparse.Namespace) -> Path:
    """A home with a lake and a fresh registry (built if needed), the database pristine."""
    home: Path = args.home or Path(tempfile.mkdtemp(prefix="bozhou-"))
    database = home / "lifesign.db"
    if not database.exists():
        if args.lake is not None:
            raise SystemExit("--lake needs the --home it was built with (its registry)")
        if home.exists() and any(home.iterdir()):
            raise SystemExit(f"{home} has no lifesign.db: give an empty folder or a built home")
        started = time.perf_counter()
        bozhou_lake.build(home, args.recipients, args.records, args.seed)
        print(f"built in {time.perf_counter() - started:.0f} s")
        shutil.copyfile(database, home / PRISTINE)
    elif args.lake is not None and not (home / "lake").exists():
        (home / "lake").symlink_to(args.lake.resolve())
    start = AFTER_FULL if args.skip_fresh else PRISTINE
    if args.skip_fresh and not (home / AFTER_FULL).exists():
        raise SystemExit(f"--skip-fresh needs {home / AFTER_FULL} (left by a run with (b))")
    if (home / start).exists():
        shutil.copyfile(home / start, database)  # every run starts from the same state
        for suffix in ("-wal", "-shm"):
            Path(str(database) + suffix).unlink(missing_ok=True)
    else:
        print("(no pristine copy of the state database: the pass runs on it as it is)")
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--lake", type=Path, default=None)
    parser.add_argument("--recipients", type=int, default=1_360_000)
    parser.add_argument("--records", type=float, default=35e6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--day-records", type=int, default=100_000)
    parser.add_argument("--no-day", action="store_true", help="skip (d), the day's pass")
    parser.add_argument(
        "--skip-fresh", action="store_true", help=f"skip (b): start from HOME/{AFTER_FULL}"
    )
    parser.add_argument("--no-again", action="store_true", help="skip (c), the second full pass")
    args = parser.parse_args()
    home = prepare(args)
    print(f"home {home}")
    first = in_child(bare_scan, home)  # also warms the page cache for (b)
    fresh = None
    if not args.skip_fresh:
        fresh = in_child(full_pass, home)
        shutil.copyfile(home / "lifesign.db", home / AFTER_FULL)
    again = None if args.no_again else in_child(full_pass, home)
    day = None if args.no_day else in_child(day_pass, home, args.day_records)
    second = in_child(bare_scan, home)
    floor = min(first["seconds"], second["seconds"])
    floor_cpu = min(first["cpu"], second["cpu"])
    print(f"\nlake: {first['records']:,} records of {first['persons']:,} persons")
    print(
        f"(a) bare DuckDB group-by person:   {first['seconds']:.2f} s, {second['seconds']:.2f} s"
        f"  (floor {floor:.2f} s, CPU {floor_cpu:.2f} s, "
        f"peak RSS {max(first['rss'], second['rss']):.2f} GiB)"
    )
    runs = [("(b) full pass, fresh state", fresh), ("(c) full pass again", again)]
    for label, passed in runs:
        if passed is None:
            continue
        print(
            f"{label} as of {AS_OF}: {passed['seconds']:.2f} s (CPU {passed['cpu']:.2f} s), "
            f"peak RSS {passed['rss']:.2f} GiB (target < 4)"
        )
        print(
            f"    ratio to (a) = {passed['seconds'] / floor:.2f} wall, "
            f"{passed['cpu'] / floor_cpu:.2f} CPU (target ≤ 1.5)"
        )
        print_pass(passed)
    if day is not None:
        print(
            f"(d) incremental pass of one day ({day['appended']:,} records): "
            f"{day['seconds']:.2f} s (CPU {day['cpu']:.2f} s), peak RSS {day['rss']:.2f} GiB"
        )
        print_pass(day)


def print_pass(passed: dict[str, Any]) -> None:
    writes = sum(passed["writes"].values())
    if writes:
        print(
            f"    writing to the state database: {writes:.2f} s "
            f"({100 * writes / passed['seconds']:.0f} % of the pass)"
        )
    for table, seconds in sorted(passed["writes"].items(), key=lambda item: -item[1]):
        print(
            f"      {table:<20} {seconds:7.2f} s  {passed['rows_written'].get(table, 0):>10,} rows"
        )
    if passed["phases"]:
        print(
            "    phases of the pass (its report): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in passed["phases"].items())
        )
    if passed.get("phases_cpu"):
        print(
            "    CPU of each phase: "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in passed["phases_cpu"].items())
        )
    print(
        "    pass report: "
        + ", ".join(f"{k} {v:,}" for k, v in passed["report"].items() if isinstance(v, int))
    )


if __name__ == "__main__":
    main()
