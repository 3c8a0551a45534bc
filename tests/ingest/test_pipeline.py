"""The pipeline on a tiny world, on SQLite and PostgreSQL: every rejection reason with file, row
and field; duplicates; re-ingest; non-recipients; minimal lake; lineage; on_commit."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, select, text

from lifesign.catalog import Catalog
from lifesign.cli import cli
from lifesign.ingest.lake import LAKE_COLUMNS, lake_files, open_lake
from lifesign.ingest.pipeline import Ingestor, batches_t, quarantine_t
from lifesign.ingest.readers import read_records
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store import make_engine, open_database
from tests.ingest.test_pipeline_helpers import (
    AS_OF,
    HEADER,
    RECIPIENTS,
    STRANGER,
    X_RECIPIENT,
    World,
    good_row,
    make_id,
    make_world,
)


@pytest.fixture
def world(tmp_path: Path, database_url: str, catalog: Catalog) -> World:
    return make_world(tmp_path, database_url, catalog)


def _lake(world: World) -> pa.Table:
    connection = open_lake(world.settings)
    return connection.sql("SELECT * FROM evidence ORDER BY source, record_id").to_arrow_table()


def _quarantine(world: World) -> list[tuple[str, int, str | None, str]]:
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                quarantine_t.c.file, quarantine_t.c.row, quarantine_t.c.field, quarantine_t.c.reason
            ).order_by(quarantine_t.c.row)
        ).all()
    engine.dispose()
    return [(Path(f).name, int(r), field, reason) for f, r, field, reason in rows]


def test_every_rejection_reason_is_quarantined_with_file_row_and_field(world: World) -> None:
    good = RECIPIENTS[0]
    rows: list[list[str]] = [
        good_row("OK1"),  # line 2
        ["", good, "mi_inpatient", "2026-05-01 08:00:00", "张三", ""],  # 3 record_id
        ["R4", good[:-1], "mi_inpatient", "2026-05-01 08:00:00", "张三", ""],  # 4 bad_length
        ["R5", good[:5] + "O" + good[6:], "mi_inpatient", "2026-05-01", "张三", ""],  # 5
        ["R6", make_id("041602", "19500101", 1), "mi_inpatient", "2026-05-01", "张三", ""],
        ["R7", make_id("341602", "19501332", 1), "mi_inpatient", "2026-05-01", "张三", ""],
        ["R8", make_id("341602", "20300101", 1), "mi_inpatient", "2026-05-01", "张三", ""],
        [
            "R9",
            good[:-1] + ("1" if good[-1] != "1" else "2"),
            "mi_inpatient",
            "2026-05-01",
            "张三",
            "",
        ],
        ["R10", "", "mi_inpatient", "2026-05-01", "张三", ""],  # 10 empty ID
        ["R11", good, "mi_inpatient", "2026-13-45", "张三", ""],  # 11 bad_event_time
        ["R12", good, "mi_inpatient", "2026-11-01 00:00:00", "张三", ""],  # 12 future
        ["R13", good, "mi_inpatient", "1990-01-01", "张三", ""],  # 13 too old
        ["R14", good, "mi_inpatient", "", "张三", ""],  # 14 missing event_time
        ["R15", good, "nonsense_type", "2026-05-01", "张三", ""],  # 15 unknown type
        ["R16", good, "rail_boarding", "2026-05-01", "张三", ""],  # 16 not this department's
        ["R17", good, "mi_inpatient", "2026-05-01", "", ""],  # 17 missing name
        ["R18", good, "mi_inpatient", "2026-05-01", "张三", "", "extra"],  # 18 wrong columns
        good_row("OK19", when="2026-10-31 23:59:59"),  # 19 last second of the as-of day
    ]
    path = world.write_csv("canon_20260501.csv", rows)
    report = world.ingestor().ingest_file(world.sources["test_canon"], path)
    expected = [
        ("canon_20260501.csv", 3, "record_id", "missing_field"),
        ("canon_20260501.csv", 4, "id_number", "bad_length"),
        ("canon_20260501.csv", 5, "id_number", "bad_character"),
        ("canon_20260501.csv", 6, "id_number", "bad_region"),
        ("canon_20260501.csv", 7, "id_number", "bad_birth_date"),
        ("canon_20260501.csv", 8, "id_number", "future_birth_date"),
        ("canon_20260501.csv", 9, "id_number", "bad_check_character"),
        ("canon_20260501.csv", 10, "id_number", "missing_field"),
        ("canon_20260501.csv", 11, "event_time", "bad_event_time"),
        ("canon_20260501.csv", 12, "event_time", "future_event_time"),
        ("canon_20260501.csv", 13, "event_time", "event_time_too_old"),
        ("canon_20260501.csv", 14, "event_time", "missing_field"),
        ("canon_20260501.csv", 15, "evidence_type", "unknown_evidence_type"),
        ("canon_20260501.csv", 16, "evidence_type", "evidence_type_not_allowed"),
        ("canon_20260501.csv", 17, "name", "missing_field"),
    ]
    found = _quarantine(world)
    assert [q for q in found if q[1] != 18] == expected
    assert [q[1] for q in found if q[1] == 18] == [18]  # the unreadable row, by the reader
    assert report.read == 18 and report.accepted == 2 and report.rejected == 16
    lake = _lake(world)
    assert lake.column("record_id").to_pylist() == ["OK1", "OK19"]
    assert lake.column("row").to_pylist() == [2, 19]
    # Masked values only, never a full ID number.
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        shown = connection.execute(select(quarantine_t.c.value_masked, quarantine_t.c.message))
        for value, message in shown:
            assert good not in (value or "") and good not in (message or "")
    engine.dispose()


def test_duplicates_within_and_across_batches_and_reingest_is_a_noop(world: World) -> None:
    source = world.sources["test_canon"]
    first = world.write_csv("canon_1.csv", [good_row("R1"), good_row("R2"), good_row("R1")])
    ingestor = world.ingestor()
    one = ingestor.ingest_file(source, first)
    assert (one.accepted, one.duplicate) == (2, 1)
    again = ingestor.ingest_file(source, first)
    assert again.already_ingested and again.batch_id == one.batch_id
    assert "already ingested in batch" in again.message
    second = world.write_csv("canon_2.csv", [good_row("R2"), good_row("R3")])
    two = ingestor.ingest_file(source, second)
    assert (two.accepted, two.duplicate) == (1, 1)
    # A new process (fresh memory) reads the keys from the lake.
    third = world.write_csv("canon_3.csv", [good_row("R3"), good_row("R4")])
    three = world.ingestor().ingest_file(source, third)
    assert (three.accepted, three.duplicate) == (1, 1)
    ids = _lake(world).column("record_id").to_pylist()
    assert sorted(ids) == ["R1", "R2", "R3", "R4"]
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        statuses = connection.execute(
            select(batches_t.c.status, batches_t.c.counts).where(batches_t.c.kind == "file")
        ).all()
    engine.dispose()
    assert [s for s, _ in statuses] == ["committed"] * 3
    assert statuses[0][1]["duplicate"] == 1


def test_non_recipients_are_dropped_or_kept_and_id_forms_are_normalised(world: World) -> None:
    fifteen = RECIPIENTS[1][:6] + RECIPIENTS[1][8:17]
    rows = [
        good_row("A1", STRANGER),
        good_row("A2", X_RECIPIENT[:-1] + "x"),
        good_row("A3", fifteen),
        good_row("A4", " " + RECIPIENTS[2][:9] + "\u3000" + RECIPIENTS[2][9:]),
    ]
    dropped = world.ingestor().ingest_file(
        world.sources["test_canon"], world.write_csv("canon_x.csv", rows)
    )
    assert (dropped.accepted, dropped.not_recipient) == (3, 1)
    kept_rows = [[*good_row("K1", STRANGER)[:2], "rail_boarding", *good_row("K1")[3:]]]
    kept = world.ingestor().ingest_file(
        world.sources["test_keep"], world.write_csv("keep_1.csv", kept_rows)
    )
    assert (kept.accepted, kept.kept_non_recipient, kept.not_recipient) == (1, 1, 0)
    lake = {r["record_id"]: r for r in _lake(world).to_pylist()}
    assert set(lake) == {"A2", "A3", "A4", "K1"}
    assert lake["K1"]["person_id"] is None
    pseudonymizer = Pseudonymizer.for_home(world.settings.secrets_dir)
    assert lake["K1"]["pseudonym"] == pseudonymizer.pseudonym(STRANGER)
    assert lake["A2"]["pseudonym"] == pseudonymizer.pseudonym(X_RECIPIENT)
    assert lake["A3"]["pseudonym"] == pseudonymizer.pseudonym(RECIPIENTS[1])
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        people = connection.execute(text("SELECT id_number, person_id FROM people")).all()
        person: dict[str, int] = {str(i): int(p) for i, p in people}
    engine.dispose()
    assert lake["A4"]["person_id"] == person[RECIPIENTS[2]]


def test_the_lake_holds_only_minimal_columns_and_no_personal_values(world: World) -> None:
    rows = [good_row(f"M{i}", RECIPIENTS[i % 3]) for i in range(9)]
    world.ingestor().ingest_file(world.sources["test_canon"], world.write_csv("canon_m.csv", rows))
    files = list(lake_files(world.settings.lake_dir))
    assert files and all("month=2026-05/source=test_canon" in str(f) for f in files)
    forbidden = [*RECIPIENTS, "张三", "13812345678"]
    for path in files:
        table = pq.read_table(path)
        assert tuple(table.schema.names) == LAKE_COLUMNS
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
        values = [str(v) for column in table.columns for v in column.to_pylist()]
        assert not any(bad in value for bad in forbidden for value in values)
        assert not any(bad.encode() in path.read_bytes() for bad in forbidden)


def test_lineage_trace_shows_batch_file_and_row(world: World) -> None:
    path = world.write_csv("canon_t.csv", [good_row("T1"), good_row("T2")])
    report = world.ingestor().ingest_file(world.sources["test_canon"], path)
    result = CliRunner().invoke(
        cli,
        ["--home", str(world.settings.home), "lake", "trace", "T2", "--source", "test_canon"],
        env={"LIFESIGN_DATABASE_URL": world.settings.database_url},
    )
    assert result.exit_code == 0, result.output
    assert "canon_t.csv" in result.output and str(report.batch_id) in result.output
    assert "│ row " in result.output and "│ 3 " in result.output
    missing = CliRunner().invoke(
        cli,
        ["--home", str(world.settings.home), "lake", "trace", "NOPE"],
        env={"LIFESIGN_DATABASE_URL": world.settings.database_url},
    )
    assert missing.exit_code == 2 and "no record 'NOPE'" in missing.output


def test_on_commit_runs_in_the_batch_transaction(world: World) -> None:
    source = world.sources["test_canon"]
    path = world.write_csv("canon_w.csv", [good_row("W1")])

    def advance(connection: Connection) -> None:
        connection.execute(
            text("INSERT INTO source_watermarks (source, watermark) VALUES ('test_canon', '5')")
        )

    def broken(connection: Connection) -> None:
        advance(connection)
        raise RuntimeError("the department's watermark is unreadable")

    ingestor = world.ingestor()
    with pytest.raises(RuntimeError):
        ingestor.ingest_chunks(
            source, read_records(source, path), kind="pull", origin="db", content_hash=None,
            on_commit=broken,
        )  # fmt: skip
    engine = make_engine(world.settings.database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM source_watermarks")).scalar() == 0
        failed = (
            connection.execute(select(batches_t.c.status).where(batches_t.c.kind == "pull"))
            .scalars()
            .all()
        )
    assert failed == ["failed"]
    assert _lake(world).num_rows == 0
    report = ingestor.ingest_chunks(
        source, read_records(source, path), kind="pull", origin="db", content_hash=None,
        on_commit=advance,
    )  # fmt: skip
    assert report.accepted == 1 and _lake(world).num_rows == 1
    with engine.connect() as connection:
        assert connection.execute(text("SELECT watermark FROM source_watermarks")).scalar() == "5"
    engine.dispose()


def test_gbk_file_of_a_packaged_source(world: World, catalog: Catalog) -> None:
    from lifesign.ingest.sources import load_sources

    yibao = load_sources(None, catalog)["yibao_settle"]
    path = world.root / "yibao_settle_20260501.csv"
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "结算流水号",
                "公民身份号码",
                "姓名",
                "结算类型",
                "结算时间",
                "定点机构",
                "统筹支付金额",
            ]
        )
        writer.writerow(
            ["YB1", RECIPIENTS[0], "张三", "住院", "2026-05-01 10:00:00", "亳州市人民医院", "9.5"]
        )
        writer.writerow(
            ["YB2", RECIPIENTS[1], "李四", "理发", "2026-05-01 10:00:00", "亳州市人民医院", "1"]
        )
    report = world.ingestor().ingest_file(yibao, path)
    assert report.accepted == 1 and dict(report.rejected_by_reason) == {"unknown_evidence_type": 1}
    assert _lake(world).column("evidence_type").to_pylist() == ["mi_inpatient"]
    assert HEADER[0] == "record_id"


def test_ingestors_of_one_process_share_the_keys_and_see_other_processes_batches(
    world: World,
) -> None:
    """A new Ingestor on the same engine (the daily run makes one a day) starts from the keys
    earlier ones added, without reading the lake; a batch committed through another engine
    (another process) is still read, so each record is in the lake once."""
    source = world.sources["test_canon"]
    engine = open_database(world.settings)
    day_one = Ingestor(world.settings, world.catalog, world.sources, AS_OF, engine=engine)
    one = day_one.ingest_file(source, world.write_csv("canon_1.csv", [good_row("R1")]))
    day_two = Ingestor(world.settings, world.catalog, world.sources, AS_OF, engine=engine)
    assert day_two._keys is day_one._keys  # shared, not read again from the lake
    assert day_two._keys["test_canon"].batches == {one.batch_id}
    other_process = world.ingestor()  # its own engine: its own memory
    other = other_process.ingest_file(
        source, world.write_csv("canon_2.csv", [good_row("R1"), good_row("R2")])
    )
    assert (other.accepted, other.duplicate) == (1, 1)
    two = day_two.ingest_file(
        source, world.write_csv("canon_3.csv", [good_row("R2"), good_row("R3")])
    )
    assert (two.accepted, two.duplicate) == (1, 1)  # R2 came from the other process
    assert day_two._keys["test_canon"].batches == {one.batch_id, other.batch_id, two.batch_id}
    assert sorted(_lake(world).column("record_id").to_pylist()) == ["R1", "R2", "R3"]
    engine.dispose()
