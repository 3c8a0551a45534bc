"""Crash safety: an ingest killed (SIGKILL) at any point leaves the whole batch or none of it,
and running it again completes it: every record in the lake exactly once, every batch
committed exactly once.

The ingest runs in a subprocess. `LIFESIGN_FAULT_POINT` makes it kill itself at a chosen
point (half-written staging files, staged but not committed, committed but not renamed into
place); the last test kills it from outside at a random moment of a longer ingest.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from lifesign.catalog import Catalog
from lifesign.ingest.lake import STAGING_DIR, open_lake
from lifesign.ingest.pipeline import batches_t
from lifesign.store import make_engine
from tests.ingest.test_pipeline_helpers import RECIPIENTS, World, good_row, make_world

AS_OF = "2026-10-31"


@pytest.fixture
def world(tmp_path: Path, catalog: Catalog) -> World:
    return make_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", catalog)


def _run(world: World, args: list[str], fault: str | None = None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LIFESIGN_DATABASE_URL": world.settings.database_url,
        "LIFESIGN_LAKE_FSYNC": "0",  # a killed process keeps the page cache; only speed
    }
    env.pop("LIFESIGN_FAULT_POINT", None)
    if fault:
        env["LIFESIGN_FAULT_POINT"] = fault
    command = [
        sys.executable,
        "-c",
        "from lifesign.cli import main; main()",
        "--home",
        str(world.settings.home),
        "ingest",
        *args,
        "--as-of",
        AS_OF,
        "--sources",
        str(world.sources_dir),
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out + err


def _lake_ids(world: World) -> list[str]:
    connection = open_lake(world.settings)
    rows = connection.sql("SELECT record_id FROM evidence ORDER BY record_id").fetchall()
    return [row[0] for row in rows]


def _committed(world: World) -> list[tuple[str | None, str]]:
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(batches_t.c.sha256, batches_t.c.status).where(batches_t.c.kind == "file")
        ).all()
    engine.dispose()
    return [(sha, status) for sha, status in rows]


def _three_months(world: World, name: str, prefix: str) -> tuple[Path, list[str]]:
    rows = [
        good_row(f"{prefix}{i:04d}", RECIPIENTS[i % 3], f"2026-0{3 + i % 3}-1{i % 9} 08:00:00")
        for i in range(300)
    ]
    return world.write_csv(name, rows), sorted(r[0] for r in rows)


@pytest.mark.parametrize("fault", ["mid_write", "after_staging", "after_commit"])
def test_killed_at_a_fault_point_then_rerun_holds_each_record_once(
    world: World, fault: str
) -> None:
    path, expected = _three_months(world, "canon_crash.csv", "C")
    code, output = _finish(_run(world, ["files", "test_canon", str(path)], fault))
    assert code == -signal.SIGKILL, output
    staging = world.settings.lake_dir / STAGING_DIR
    if fault == "after_commit":
        assert any(staging.glob("batch-*/*.parquet"))  # committed, not yet in place
        assert [s for _, s in _committed(world)] == ["committed"]
    else:
        assert _lake_ids(world) == []  # nothing visible of an uncommitted batch
    code, output = _finish(_run(world, ["files", "test_canon", str(path)]))
    assert code == 0, output
    if fault == "after_commit":
        assert "already ingested" in output  # recover() renamed the files into place
    assert _lake_ids(world) == expected
    statuses = _committed(world)
    assert [s for _, s in statuses].count("committed") == 1
    assert set(s for _, s in statuses) <= {"committed", "failed"}
    assert not any(staging.glob("batch-*"))  # nothing left staged


def test_killed_at_a_random_moment_of_a_long_ingest(world: World) -> None:
    feeds = world.root / "feeds"
    feeds.mkdir()
    expected: set[str] = set()
    with (feeds / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        manifest = csv.writer(handle)
        manifest.writerow(["source", "file"])
        for day in range(1, 41):
            rows = [
                good_row(
                    f"D{day:02d}-{i:04d}",
                    RECIPIENTS[i % 3],
                    f"2026-{1 + day // 29:02d}-{1 + day % 28:02d} 09:00:00",
                )
                for i in range(1500)
            ]
            rows.append(good_row(f"D{day - 1:02d}-0000", when="2026-02-01 09:00:00"))  # re-sent
            path = feeds / f"canon_{day:02d}.csv"
            with path.open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["record_id", "id_number", "evidence_type", "event_time", "name"])
                writer.writerows(row[:5] for row in rows)
            manifest.writerow(["test_canon", path.name])
            expected |= {row[0] for row in rows}
    rng = random.Random(int(os.environ.get("LIFESIGN_CRASH_SEED", "11")))
    process = _run(world, ["all", str(feeds)])
    evidence = world.settings.lake_dir / "evidence"
    deadline = time.monotonic() + 60
    while not any(evidence.glob("*/*/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.02)  # wait for the first committed batch, then kill at a random moment
    time.sleep(rng.uniform(0.0, 1.0))
    process.send_signal(signal.SIGKILL)
    code, _ = _finish(process)
    assert code == -signal.SIGKILL  # killed before the end
    killed_with_lake = _lake_ids(world)
    assert 0 < len(killed_with_lake) < len(expected)
    assert len(killed_with_lake) == len(set(killed_with_lake))
    code, output = _finish(_run(world, ["all", str(feeds)]))
    assert code == 0, output
    ids = _lake_ids(world)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    statuses = _committed(world)
    committed = [sha for sha, s in statuses if s == "committed"]
    assert len(committed) == len(set(committed)) == 40
