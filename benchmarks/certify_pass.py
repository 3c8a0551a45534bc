"""Benchmark: the full certification pass at Bozhou scale against a bare DuckDB scan.

    python benchmarks/certify_pass.py [--home DIR] [--lake DIR] [--recipients 1360000]
                                      [--records 35e6]

Builds (or reuses, with --home) a Bozhou-scale home — the evidence lake written directly in
the lake's layout and a registry bulk-loaded into SQLite (benchmarks/bozhou_lake.py) — then
measures, each in its own child process so that its peak RSS is its own:

  (a) the floor: `SELECT person_id, max(event_time), count(*) FROM evidence GROUP BY person_id`
      over the same lake view (`lifesign.ingest.lake.open_lake`), run before and after (b);
  (b) `run_pass(settings, engine, catalog, as_of, 'full')` on a fresh copy of the state
      database, with the time spent writing to the state database (INSERT/UPDATE/DELETE
      statements, by table) measured through SQLAlchemy's cursor events.

Prints both, the ratio (target ≤ 1.5) and the peak RSS of (b) (target < 4 GiB). `--lake DIR`
uses a lake kept elsewhere (HOME/lake becomes a link to it).
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
WRITE = re.compile(r"^\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def settings_for(home: Path) -> Any:
    from lifesign.config import load_settings

    return load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")


def bare_scan(home: str, queue: Any) -> None:
    from lifesign.ingest.lake import open_lake

    connection = open_lake(settings_for(Path(home)))
    connection.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    table = connection.sql(
        "SELECT person_id, max(event_time), count(*) FROM evidence GROUP BY person_id"
    ).to_arrow_table()
    seconds = time.perf_counter() - started
    rows = connection.execute("SELECT count(*) FROM evidence").fetchone()
    queue.put(
        {
            "seconds": seconds,
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

    started = time.perf_counter()
    report = run_pass(settings, engine, catalog, dt.date.fromisoformat(AS_OF), "full")
    seconds = time.perf_counter() - started
    queue.put(
        {
            "seconds": seconds,
            "rss": peak_rss_gib(),
            "writes": dict(writes),
            "rows_written": dict(rows_written),
            "report": {k: v for k, v in vars(report).items() if isinstance(v, (int, float))},
            "phases": dict(getattr(report, "phases", {}) or {}),
        }
    )


def in_child(target: Any, home: Path) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(str(home), queue))
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
    if (home / PRISTINE).exists():
        shutil.copyfile(home / PRISTINE, database)  # every run starts from no decisions
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
    args = parser.parse_args()
    home = prepare(args)
    print(f"home {home}")
    first = in_child(bare_scan, home)  # also warms the page cache for (b)
    passed = in_child(full_pass, home)
    second = in_child(bare_scan, home)
    floor = min(first["seconds"], second["seconds"])
    ratio = passed["seconds"] / floor
    writes = sum(passed["writes"].values())
    print(f"\nlake: {first['records']:,} records of {first['persons']:,} persons")
    print(
        f"(a) bare DuckDB group-by person:   {first['seconds']:.2f} s, {second['seconds']:.2f} s"
        f"  (floor {floor:.2f} s, peak RSS {max(first['rss'], second['rss']):.2f} GiB)"
    )
    print(
        f"(b) full run_pass as of {AS_OF}:  {passed['seconds']:.2f} s, "
        f"peak RSS {passed['rss']:.2f} GiB (target < 4)"
    )
    print(f"    ratio (b)/(a) = {ratio:.2f} (target ≤ 1.5)")
    print(
        f"    writing to the state database: {writes:.2f} s "
        f"({100 * writes / passed['seconds']:.0f} % of (b))"
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
    print(
        "    pass report: "
        + ", ".join(f"{k} {v:,}" for k, v in passed["report"].items() if isinstance(v, int))
    )


if __name__ == "__main__":
    main()
