"""The whole small synthetic city through `lifesign ingest all`: every planted dirty record of
truth/dirt.csv is quarantined with the right reason, or dropped as a duplicate or a
non-recipient; nothing else is rejected; the lake holds each record once. (SQLite only: the
state-layer behaviour on PostgreSQL is covered by the smaller pipeline tests.)"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from lifesign.cli import cli
from lifesign.config import Settings, load_settings
from lifesign.ingest.lake import lake_files, open_lake
from lifesign.ingest.pipeline import batches_t, quarantine_t
from lifesign.store import make_engine
from tests.ingest.conftest import IngestCity

# Planted dirt kind -> the quarantine reason it must get (None: must not be quarantined).
EXPECTED_REASON: dict[str, str | None] = {
    "bad_check_character": "bad_check_character",
    "wrong_length": "bad_length",
    "letters_in_id": "bad_character",
    "missing_field": "missing_field",
    "future_date": "future_event_time",
    "old_15_digit": None,  # normalised: in the lake (or dropped as a non-recipient)
    "lowercase_x": None,
    "duplicate": None,  # dropped as a duplicate
    "unknown_person": None,  # dropped as a non-recipient
}


@pytest.fixture(scope="module")
def ingested(
    ingest_city: IngestCity, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, str]:
    home = tmp_path_factory.mktemp("city-home")
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'state.db'}")
    env = {"LIFESIGN_DATABASE_URL": settings.database_url, "LIFESIGN_LAKE_FSYNC": "0"}
    runner = CliRunner()
    imported = runner.invoke(
        cli, ["--home", str(home), "registry", "import", str(ingest_city.registry)], env=env
    )
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(
        cli,
        ["--home", str(home), "ingest", "all", str(ingest_city.root), "--as-of",
         ingest_city.config.window_end.isoformat(), "--workers", "2"],
        env={**env, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return settings, result.output


def _relative(ingest_city: IngestCity, name: str) -> str:
    return Path(name).relative_to(ingest_city.feeds).as_posix()


def test_every_planted_dirty_record_is_handled_and_nothing_else_rejected(
    ingest_city: IngestCity, ingested: tuple[Settings, str]
) -> None:
    settings, output = ingested
    with (ingest_city.truth / "dirt.csv").open(encoding="utf-8", newline="") as handle:
        dirt = list(csv.DictReader(handle))
    assert {d["kind"] for d in dirt} <= set(EXPECTED_REASON)
    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        quarantined = {
            (_relative(ingest_city, f), int(r)): reason
            for f, r, reason in connection.execute(
                select(quarantine_t.c.file, quarantine_t.c.row, quarantine_t.c.reason)
            )
        }
        files = {
            int(b): _relative(ingest_city, f)
            for b, f in connection.execute(
                select(batches_t.c.batch_id, batches_t.c.file_name).where(
                    batches_t.c.kind == "file"
                )
            )
        }
        counts = [
            c
            for (c,) in connection.execute(
                select(batches_t.c.counts).where(batches_t.c.kind == "file")
            )
        ]
    engine.dispose()
    lake = open_lake(settings)
    in_lake = {
        (files[b], int(r)) for b, r in lake.sql("SELECT batch_id, row FROM evidence").fetchall()
    }
    expected_quarantine = {
        (d["file"], int(d["line"])): EXPECTED_REASON[d["kind"]]
        for d in dirt
        if EXPECTED_REASON[d["kind"]] is not None
    }
    assert quarantined == expected_quarantine  # right reasons, and no good record rejected
    for d in dirt:
        where = (d["file"], int(d["line"]))
        if d["kind"] in ("duplicate", "unknown_person"):
            assert where not in in_lake, d
    normalisable = [d for d in dirt if d["kind"] in ("old_15_digit", "lowercase_x")]
    assert sum((d["file"], int(d["line"])) in in_lake for d in normalisable) > 0
    totals: Counter[str] = Counter()
    for count in counts:
        totals.update(
            {k: count[k] for k in ("read", "accepted", "rejected", "duplicate", "not_recipient")}
        )
    assert totals["read"] == (
        totals["accepted"] + totals["rejected"] + totals["duplicate"] + totals["not_recipient"]
    )
    planted_duplicates = sum(d["kind"] == "duplicate" for d in dirt)
    assert 0 < totals["duplicate"] <= planted_duplicates
    assert totals["accepted"] == len(in_lake)
    assert "total" in output and "not recipients" in output


def test_the_city_lake_is_exactly_once_minimal_and_partitioned(
    ingested: tuple[Settings, str],
) -> None:
    settings, _ = ingested
    lake = open_lake(settings)
    total, distinct = lake.execute(
        "SELECT count(*), count(DISTINCT (source, record_id)) FROM evidence"
    ).fetchone() or (0, 0)
    assert total == distinct > 0
    assert lake.execute("SELECT count(*) FROM evidence WHERE person_id IS NULL").fetchone() == (0,)
    files = list(lake_files(settings.lake_dir))
    assert files
    glob = str(settings.lake_dir / "evidence" / "*" / "*" / "*.parquet")
    misplaced = lake.execute(
        "SELECT count(*) FROM read_parquet(?, filename = true, hive_partitioning = false) "
        "WHERE strftime(event_time, '%Y-%m') <> regexp_extract(filename, 'month=([0-9-]+)', 1) "
        "OR source <> regexp_extract(filename, 'source=([a-z_0-9]+)', 1)",
        [glob],
    ).fetchone()
    assert misplaced == (0,)
    # Each file is sorted by person, then event time (row-group statistics find a person).
    unsorted = lake.execute(
        "SELECT count(*) FROM (SELECT (person_id, event_time) < lag((person_id, event_time)) "
        "OVER (PARTITION BY filename ORDER BY file_row_number) AS back FROM read_parquet(?, "
        "filename = true, file_row_number = true, hive_partitioning = false)) WHERE back",
        [glob],
    ).fetchone()
    assert unsorted == (0,)
