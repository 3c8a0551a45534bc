"""`lifesign ingest` forms, `ingest all` with a manifest, `lifesign batches`, help texts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lifesign.catalog import Catalog
from lifesign.cli import cli
from tests.ingest.test_pipeline_helpers import RECIPIENTS, World, good_row, make_world

AS_OF = "2026-10-31"


@pytest.fixture
def world(tmp_path: Path, catalog: Catalog) -> World:
    return make_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", catalog)


def _cli(world: World, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(
        cli,
        ["--home", str(world.settings.home), *args],
        env={"LIFESIGN_DATABASE_URL": world.settings.database_url, "COLUMNS": "200"},
    )
    assert result.exit_code == code, result.output
    return result


def test_every_form_of_ingest_files_and_the_batches_listing(world: World) -> None:
    sources = ["--sources", str(world.sources_dir)]
    one = world.write_csv("canon_1.csv", [good_row("R1"), good_row("R2")])
    two = world.write_csv("canon_2.csv", [good_row("R2"), good_row("R3", STRANGER_FREE)])
    explicit = _cli(world, "ingest", "files", "test_canon", str(one), "--as-of", AS_OF, *sources)
    assert "canon_1.csv" in explicit.output
    leading = _cli(world, "ingest", "--as-of", AS_OF, *sources, "test_canon", str(two), str(one))
    assert "already ingested in batch" in leading.output
    row = next(
        line
        for line in leading.output.splitlines()
        if line.startswith("│ test_canon") and "canon_2.csv" in line
    )
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[4:8] == ["2", "1", "0", "1"]  # read, accepted, rejected, one duplicate (R2)
    listed = _cli(world, "batches", "--source", "test_canon")
    assert "canon_1.csv" in listed.output and "canon_2.csv" in listed.output
    assert listed.output.count("committed") == 2
    unknown = _cli(world, "ingest", "nope", str(one), *sources, code=2)
    assert "unknown source 'nope'" in unknown.output


STRANGER_FREE = RECIPIENTS[2]


def test_ingest_all_reads_the_manifest_and_is_idempotent(world: World) -> None:
    feeds = world.root / "feeds"
    feeds.mkdir()
    with (feeds / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["department", "source", "file"])
        for day in (1, 2):
            path = feeds / f"canon_{day}.csv"
            with path.open("w", encoding="utf-8", newline="") as out:
                rows = csv.writer(out)
                rows.writerow(["record_id", "id_number", "evidence_type", "event_time", "name"])
                rows.writerow([f"A{day}", RECIPIENTS[0], "mi_inpatient", f"2026-05-0{day}", "张"])
            writer.writerow(["medical_insurance", "test_canon", path.name])
    sources = ["--sources", str(world.sources_dir)]
    first = _cli(world, "ingest", "all", str(world.root), "--as-of", AS_OF, *sources)
    assert "test_canon" in first.output and "total" in first.output
    again = _cli(world, "ingest", "all", str(feeds), "--as-of", AS_OF, *sources)
    row = next(line for line in again.output.splitlines() if line.startswith("│ test_canon"))
    assert row.split("│")[2].strip() == "2" and row.split("│")[3].strip() == "2"  # both skipped
    missing = _cli(world, "ingest", "all", str(world.sources_dir), code=2)
    assert "no feeds manifest found" in missing.output


def test_export_help_says_it_holds_full_values(world: World) -> None:
    result = _cli(world, "quarantine", "export", "--help")
    assert "FULL values" in result.output
