"""The quarantine workflow through the CLI, on SQLite and PostgreSQL: a file with good and bad
records, list, show, export, correct, retry, dismiss."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from lifesign.catalog import Catalog
from lifesign.cli import cli
from lifesign.ingest.lake import open_lake
from lifesign.ingest.pipeline import batches_t, quarantine_t
from lifesign.store import make_engine
from tests.ingest.test_pipeline_helpers import RECIPIENTS, World, good_row, make_world

AS_OF = "2026-10-31"


@pytest.fixture
def world(tmp_path: Path, database_url: str, catalog: Catalog) -> World:
    return make_world(tmp_path, database_url, catalog)


def _cli(world: World, *args: str) -> Result:
    result = CliRunner().invoke(
        cli,
        ["--home", str(world.settings.home), *args],
        env={"LIFESIGN_DATABASE_URL": world.settings.database_url, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    return result


def _lake_ids(world: World) -> list[str]:
    rows = open_lake(world.settings).sql("SELECT record_id FROM evidence ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def _entries(world: World) -> dict[int, tuple[str, str, int | None]]:
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                quarantine_t.c.quarantine_id,
                quarantine_t.c.reason,
                quarantine_t.c.status,
                quarantine_t.c.resolved_batch_id,
            )
        ).all()
    engine.dispose()
    return {int(q): (reason, status, resolved) for q, reason, status, resolved in rows}


def test_quarantine_list_show_export_retry_dismiss(world: World) -> None:
    good = RECIPIENTS[0]
    bad_check = good[:-1] + ("1" if good[-1] != "1" else "2")
    rows = [
        good_row("G1"),
        ["B1", bad_check, "mi_inpatient", "2026-05-01 08:00:00", "张三", "13812345678"],
        good_row("G2", RECIPIENTS[1]),
        ["B2", RECIPIENTS[1], "mi_inpatient", "2026-05-02 08:00:00", "", "13812345678"],
        ["B3", RECIPIENTS[2], "mi_inpatient", "2027-05-02 08:00:00", "王五", ""],
    ]
    path = world.write_csv("canon_q.csv", rows)
    # The short form of the issue: lifesign ingest SOURCE FILE...
    ingested = _cli(
        world,
        "ingest",
        "test_canon",
        str(path),
        "--as-of",
        AS_OF,
        "--sources",
        str(world.sources_dir),
    )
    assert "canon_q.csv" in ingested.output and "bad_check_character" in ingested.output
    assert _lake_ids(world) == ["G1", "G2"]  # the good records of a file with bad ones

    listed = _cli(world, "quarantine", "list", "--source", "test_canon")
    for reason in ("bad_check_character", "missing_field", "future_event_time"):
        assert reason in listed.output
    assert bad_check not in listed.output and good not in listed.output
    only = _cli(world, "quarantine", "list", "--reason", "missing_field")
    assert "missing_field" in only.output and "bad_check_character" not in only.output

    entries = _entries(world)
    assert len(entries) == 3
    first = min(entries)
    shown = _cli(world, "quarantine", "show", str(first), "--sources", str(world.sources_dir))
    assert "canon_q.csv" in shown.output and "bad_check_character" in shown.output
    assert bad_check not in shown.output and "13812345678" not in shown.output
    assert bad_check[:4] + "*" in shown.output and "138****5678" in shown.output

    export = world.root / "fix.csv"
    _cli(world, "quarantine", "export", "--source", "test_canon", "--out", str(export))
    with export.open(encoding="utf-8-sig", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [r["record_id"] for r in exported] == ["B1", "B2", "B3"]
    assert exported[0]["id_number"] == bad_check  # the full value, to be corrected
    assert list(exported[0]) == [
        "record_id", "id_number", "evidence_type", "event_time", "name", "phone", "quarantine_id"
    ]  # fmt: skip

    # The data manager fixes two records and leaves the third still wrong.
    exported[0]["id_number"] = good
    exported[1]["name"] = "李四"
    with export.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(exported[0]))
        writer.writeheader()
        writer.writerows(exported)
    retried = _cli(
        world, "quarantine", "retry", str(export), "--as-of", AS_OF, "--sources",
        str(world.sources_dir),
    )  # fmt: skip
    assert "2 entr(y/ies) resolved, 1 still open" in retried.output
    assert _lake_ids(world) == ["B1", "B2", "G1", "G2"]
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        retry_batch = connection.execute(
            select(batches_t.c.batch_id).where(batches_t.c.kind == "retry")
        ).scalar_one()
    engine.dispose()
    after = _entries(world)
    assert len(after) == 3  # updated in place, no new entries
    by_status = sorted(after.values())
    assert by_status == [
        ("bad_check_character", "resolved", retry_batch),
        ("future_event_time", "open", None),
        ("missing_field", "resolved", retry_batch),
    ]
    resolved = _cli(world, "quarantine", "list", "--status", "resolved")
    assert "resolved" in resolved.output

    still_open = next(q for q, (_, status, _) in after.items() if status == "open")
    _cli(
        world,
        "quarantine",
        "dismiss",
        str(still_open),
        "--reason",
        "the department confirms a typo",
    )
    assert _entries(world)[still_open][1] == "dismissed"
    shown = _cli(world, "quarantine", "show", str(still_open))
    assert "the department confirms a typo" in shown.output
    # The same corrected file again is a no-op.
    again = _cli(
        world, "quarantine", "retry", str(export), "--as-of", AS_OF, "--sources",
        str(world.sources_dir),
    )  # fmt: skip
    assert "already ingested" in again.output
    assert _lake_ids(world) == ["B1", "B2", "G1", "G2"]


def test_dismissing_twice_and_unknown_entries_are_clear_errors(world: World) -> None:
    result = CliRunner().invoke(
        cli,
        ["--home", str(world.settings.home), "quarantine", "show", "999"],
        env={"LIFESIGN_DATABASE_URL": world.settings.database_url},
    )
    assert result.exit_code == 2 and "no quarantine entry 999" in result.output
