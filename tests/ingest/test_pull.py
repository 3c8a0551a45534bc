"""`lifesign ingest pull`: a department database, pulled incrementally on a watermark column.

The department stands in twice: a real SQLite file and a real PostgreSQL schema (the
`database_url` fixture gives both). Its tables have the department's own Chinese column names:
a funeral home's cremation register (殡仪馆火化登记, watermark = an update time, with ties) and
a civil-affairs nursing-home check table (民政养老机构核查, watermark = an increasing id, read
through a query). The state database is a SQLite file in the home, and once PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from lifesign.catalog import Catalog
from lifesign.config import Settings
from lifesign.ingest.pipeline import Ingestor
from lifesign.ingest.pull import (
    PullError,
    Watermark,
    pull_source,
    read_watermark,
)
from lifesign.ingest.sources import SourceDefinition, load_sources
from lifesign.registry.ids import check_character
from lifesign.registry.importer import RegistryImporter
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store.models import Batch, Quarantine

AS_OF = dt.date(2026, 11, 30)
PEOPLE = 30
DEPT_URL_VARIABLE = "LIFESIGN_TEST_DEPARTMENT_URL"

CREMATION_YAML = f"""
code: dept_cremation
department: funeral_home
name_zh: 殡仪馆火化登记（数据库）
format: database
columns:
  record_id: 火化证号
  id_number: 逝者身份证号
  name: 逝者姓名
  event_time: 火化时间
fixed_type: funeral_cremation
date_formats:
  event_time: iso8601
pull:
  url: env:{DEPT_URL_VARIABLE}
  table: 火化登记
  watermark_column: 更新时间
"""

NURSING_YAML = f"""
code: dept_nursing
department: civil_affairs
name_zh: 民政养老机构核查（数据库）
format: database
columns:
  record_id: 核查单号
  id_number: 身份证号码
  event_time: 核查时间
type_column: 核查类型
types:
  在院核查: ca_nursing_home_check
  居家签到: ca_home_care_checkin
date_formats:
  event_time: ["%Y-%m-%d %H:%M:%S", iso8601]
pull:
  url: env:{DEPT_URL_VARIABLE}
  query: >-
    SELECT 序号, 核查单号, 身份证号码, 核查时间, 核查类型
    FROM 养老机构核查 WHERE 核查结果 = '在院'
  watermark_column: 序号
"""


def id_number(index: int) -> str:
    """A valid resident ID number of Qiaocheng district, born in the 1940s."""
    born = dt.date(1940, 1, 1) + dt.timedelta(days=97 * index)
    first17 = f"341602{born:%Y%m%d}{index % 1000:03d}"
    return first17 + check_character(first17)


# ----------------------------------------------------------------------------- the state side


@dataclass
class State:
    """A home with a registry of PEOPLE recipients and the two test sources."""

    settings: Settings
    catalog: Catalog
    sources: dict[str, SourceDefinition]
    sources_dir: Path

    def ingestor(self) -> Ingestor:
        return Ingestor(self.settings, self.catalog, self.sources, AS_OF)

    def engine(self) -> Engine:
        from lifesign.store import make_engine

        return make_engine(self.settings.database_url)

    def lake_rows(self, source: str) -> list[dict[str, Any]]:
        files = sorted((self.settings.lake_dir / "evidence").glob(f"*/source={source}/*.parquet"))
        if not files:
            return []
        rows: list[dict[str, Any]] = pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()
        return rows

    def watermark(self, source: str) -> Watermark | None:
        engine = self.engine()
        try:
            with engine.connect() as connection:
                return read_watermark(connection, source)
        finally:
            engine.dispose()

    def batches(self, source: str) -> list[tuple[int, str, str]]:
        engine = self.engine()
        try:
            with engine.connect() as connection:
                return [
                    (row.batch_id, row.kind, row.status)
                    for row in connection.execute(
                        select(Batch.batch_id, Batch.kind, Batch.status)
                        .where(Batch.source == source)
                        .order_by(Batch.batch_id)
                    )
                ]
        finally:
            engine.dispose()


def make_state(tmp_path: Path, catalog: Catalog, database_url: str | None = None) -> State:
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'lifesign.db'}",
        catalog_dir=None,
    )
    people = tmp_path / "people.csv"
    people.write_text(
        "id_number,name,grid_code\n"
        + "".join(f"{id_number(i)},测试{i},341602001001001\n" for i in range(PEOPLE)),
        encoding="utf-8",
    )
    from lifesign.store import open_database

    engine = open_database(settings)
    try:
        report = RegistryImporter(engine, Pseudonymizer.for_home(settings.secrets_dir)).import_file(
            "people", people
        )
        assert report.accepted == PEOPLE
    finally:
        engine.dispose()
    sources_dir = tmp_path / "sources"
    sources_dir.mkdir()
    (sources_dir / "dept_cremation.yaml").write_text(CREMATION_YAML, encoding="utf-8")
    (sources_dir / "dept_nursing.yaml").write_text(NURSING_YAML, encoding="utf-8")
    return State(settings, catalog, load_sources(sources_dir, catalog), sources_dir)


# ----------------------------------------------------------------------------- the department


@dataclass
class Department:
    """A department's database: its URL and an engine to add rows as the department does."""

    url: str
    engine: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def create_tables(self) -> None:
        time_type = "TEXT" if self.is_sqlite else "TIMESTAMP"
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    f"""CREATE TABLE 火化登记 (
                        火化证号 VARCHAR(32) PRIMARY KEY,
                        逝者身份证号 VARCHAR(32),
                        逝者姓名 VARCHAR(32),
                        火化时间 {time_type},
                        更新时间 {time_type})"""
                )
            )
            connection.execute(
                text(
                    f"""CREATE TABLE 养老机构核查 (
                        序号 INTEGER PRIMARY KEY,
                        核查单号 VARCHAR(32),
                        身份证号码 VARCHAR(32),
                        核查时间 {time_type},
                        核查类型 VARCHAR(16),
                        核查结果 VARCHAR(16))"""
                )
            )

    def add_cremations(self, rows: Sequence[tuple[str, str | None, str | None, str]]) -> None:
        """(certificate number, ID number, cremation time, update time) rows."""
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO 火化登记 (火化证号, 逝者身份证号, 逝者姓名, 火化时间, 更新时间) "
                    "VALUES (:n, :id, '张三', :at, :updated)"
                ),
                [{"n": n, "id": i, "at": at, "updated": u} for n, i, at, u in rows],
            )

    def add_checks(self, rows: Sequence[tuple[int, str, str, str, str]]) -> None:
        """(sequence, ID number, check time, check type, result) rows."""
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO 养老机构核查 (序号, 核查单号, 身份证号码, 核查时间, 核查类型, "
                    "核查结果) VALUES (:seq, :n, :id, :at, :kind, :result)"
                ),
                [
                    {"seq": s, "n": f"HC{s:06d}", "id": i, "at": at, "kind": k, "result": r}
                    for s, i, at, k, r in rows
                ],
            )


@pytest.fixture
def department(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Department]:
    """The department's database on SQLite and on PostgreSQL, reached through env:VARNAME."""
    engine = create_engine(database_url)
    monkeypatch.setenv(DEPT_URL_VARIABLE, database_url)
    department = Department(database_url, engine)
    department.create_tables()
    try:
        yield department
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_department(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Department]:
    """The department's database on a SQLite file only (where the backend does not matter)."""
    url = f"sqlite:///{tmp_path / 'department.db'}"
    monkeypatch.setenv(DEPT_URL_VARIABLE, url)
    department = Department(url, create_engine(url))
    department.create_tables()
    try:
        yield department
    finally:
        department.engine.dispose()


@pytest.fixture
def state(tmp_path: Path, catalog: Catalog) -> State:
    return make_state(tmp_path, catalog)


def cremations(first: int, count: int, updated: str) -> list[tuple[str, str, str, str]]:
    return [
        (f"HH{n:06d}", id_number(n % PEOPLE), "2026-03-01 09:30:00", updated)
        for n in range(first, first + count)
    ]


# ----------------------------------------------------------------------------- the tests


def test_first_pull_takes_everything_then_nothing_then_the_new_rows(
    department: Department, state: State
) -> None:
    source = state.sources["dept_cremation"]
    department.add_cremations(
        cremations(0, 5, "2026-03-01 10:00:00") + cremations(5, 5, "2026-03-02 10:00:00")
    )

    first = pull_source(state.ingestor(), source)
    assert first.report is not None
    assert (first.report.read, first.report.accepted, first.report.rejected) == (10, 10, 0)
    assert first.since is None
    assert str(first.until) == "2026-03-02 10:00:00"
    assert "password" not in first.origin
    assert state.watermark(source.code) == first.until

    second = pull_source(state.ingestor(), source)
    assert second.nothing_new
    assert second.summary() == "dept_cremation: nothing new since 2026-03-02 10:00:00"

    department.add_cremations(cremations(10, 3, "2026-03-05 08:00:00"))
    third = pull_source(state.ingestor(), source)
    assert third.report is not None
    assert (third.report.read, third.report.accepted, third.report.duplicate) == (3, 3, 0)
    assert str(third.until) == "2026-03-05 08:00:00"

    lake = state.lake_rows(source.code)
    assert sorted(r["record_id"] for r in lake) == [f"HH{n:06d}" for n in range(13)]
    assert {r["evidence_type"] for r in lake} == {"funeral_cremation"}
    assert all(r["person_id"] is not None for r in lake)
    # The row of a lake record is its position in its pull.
    third_batch = third.report.batch_id
    assert sorted(r["row"] for r in lake if r["batch_id"] == third_batch) == [1, 2, 3]
    # Only batches that took rows: the pull with nothing new made none.
    assert [(kind, status) for _, kind, status in state.batches(source.code)] == [
        ("pull", "committed"),
        ("pull", "committed"),
    ]


def test_rows_sharing_the_watermark_value_are_neither_skipped_nor_taken_twice(
    department: Department, state: State
) -> None:
    source = state.sources["dept_cremation"]
    tie = "2026-04-01 12:00:00"
    department.add_cremations(cremations(0, 1, "2026-04-01 11:00:00") + cremations(1, 3, tie))

    # --limit stops in the middle of the three rows at `tie`.
    first = pull_source(state.ingestor(), source, limit=2)
    assert first.rows_taken == 2 and str(first.until) == tie
    assert first.until is not None and len(first.until.seen) == 1

    # The next pull re-reads `tie` and takes only the two rows not yet taken.
    second = pull_source(state.ingestor(), source)
    assert second.report is not None
    assert (second.report.accepted, second.report.duplicate) == (2, 0)
    assert second.until is not None and len(second.until.seen) == 3

    # A row at the same update time committed after the pull read: still taken.
    department.add_cremations(cremations(4, 1, tie))
    late = pull_source(state.ingestor(), source)
    assert late.report is not None
    assert (late.report.accepted, late.report.duplicate) == (1, 0)

    assert pull_source(state.ingestor(), source).nothing_new
    lake = state.lake_rows(source.code)
    assert sorted(r["record_id"] for r in lake) == [f"HH{n:06d}" for n in range(5)]


def test_a_query_with_an_increasing_id_and_a_type_column(
    department: Department, state: State
) -> None:
    source = state.sources["dept_nursing"]
    department.add_checks(
        [
            (1, id_number(1), "2026-05-01 09:00:00", "在院核查", "在院"),
            (2, id_number(2), "2026-05-01 09:10:00", "居家签到", "在院"),
            (3, id_number(3), "2026-05-01 09:20:00", "在院核查", "离院"),  # not selected
        ]
    )
    first = pull_source(state.ingestor(), source)
    assert first.report is not None and first.report.accepted == 2
    assert first.until == Watermark(2, frozenset({"HC000002"}))

    department.add_checks([(10, id_number(4), "2026-05-02 09:00:00", "在院核查", "在院")])
    second = pull_source(state.ingestor(), source)
    assert second.report is not None and second.report.accepted == 1
    assert str(second.until) == "10"
    types = {r["record_id"]: r["evidence_type"] for r in state.lake_rows(source.code)}
    assert types == {
        "HC000001": "ca_nursing_home_check",
        "HC000002": "ca_home_care_checkin",
        "HC000010": "ca_nursing_home_check",
    }


def test_a_row_with_bad_data_goes_to_quarantine_and_the_rest_is_ingested(
    department: Department, state: State
) -> None:
    source = state.sources["dept_cremation"]
    good = cremations(0, 4, "2026-06-01 10:00:00")
    bad_check = id_number(5)[:-1] + ("0" if id_number(5)[-1] != "0" else "1")
    department.add_cremations(
        [
            *good,
            ("HH900001", bad_check, "2026-06-01 08:00:00", "2026-06-01 10:00:00"),
            ("HH900002", id_number(6), None, "2026-06-01 10:00:01"),
        ]
    )
    result = pull_source(state.ingestor(), source)
    assert result.report is not None
    assert result.report.accepted == 4
    assert dict(result.report.rejected_by_reason) == {
        "bad_check_character": 1,
        "missing_field": 1,
    }
    engine = state.engine()
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Quarantine.row, Quarantine.reason, Quarantine.raw_record)
                .where(Quarantine.source == source.code)
                .order_by(Quarantine.row)
            ).all()
    finally:
        engine.dispose()
    assert [(row, reason) for row, reason, _ in rows] == [
        (5, "bad_check_character"),
        (6, "missing_field"),
    ]
    raw = json.loads(rows[0][2] or "{}")
    assert raw["火化证号"] == "HH900001" and "更新时间" in raw  # the department's own names
    # Quarantined rows are behind the watermark: fixed through quarantine retry, not re-pulled.
    assert str(result.until) == "2026-06-01 10:00:01"
    assert pull_source(state.ingestor(), source).nothing_new


def test_a_failure_inside_the_commit_keeps_watermark_and_lake_consistent(
    department: Department, state: State
) -> None:
    """A real error raised by the state database inside the committing transaction (a trigger
    refuses the watermark): the batch is rolled back with it, and the next pull takes all."""
    source = state.sources["dept_cremation"]
    department.add_cremations(cremations(0, 6, "2026-07-01 10:00:00"))
    engine = state.engine()
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER refuse_watermark BEFORE INSERT ON source_watermarks "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        )
    with pytest.raises(Exception, match="injected failure"):
        pull_source(state.ingestor(), source)
    assert state.watermark(source.code) is None
    assert state.lake_rows(source.code) == []
    assert [status for _, _, status in state.batches(source.code)] == ["failed"]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Quarantine)).scalar() == 0

    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER refuse_watermark"))
    engine.dispose()
    again = pull_source(state.ingestor(), source)
    assert again.report is not None and again.report.accepted == 6
    assert len(state.lake_rows(source.code)) == 6


PULL_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from lifesign.catalog import load_catalog
    from lifesign.config import Settings
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.pull import pull_source
    from lifesign.ingest.sources import load_sources

    home, url, sources_dir, as_of = sys.argv[1:5]
    catalog = load_catalog(None)
    sources = load_sources(Path(sources_dir), catalog)
    settings = Settings(home=Path(home), database_url=url, catalog_dir=None)
    import datetime as dt
    ingestor = Ingestor(settings, catalog, sources, dt.date.fromisoformat(as_of))
    print(pull_source(ingestor, sources["dept_cremation"], chunk_rows=3).summary())
    """
)


def run_pull_process(state: State, fault: str | None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("LIFESIGN_FAULT_POINT", None)
    if fault:
        environment["LIFESIGN_FAULT_POINT"] = fault
    return subprocess.run(
        [
            sys.executable,
            "-c",
            PULL_SCRIPT,
            str(state.settings.home),
            state.settings.database_url,
            str(state.sources_dir),
            AS_OF.isoformat(),
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("fault", ["mid_write", "after_staging", "after_commit"])
def test_a_pull_killed_at_any_point_is_completed_exactly_once(
    sqlite_department: Department, state: State, fault: str
) -> None:
    """SIGKILL (the pipeline's fault points) while reading, before and after the commit."""
    department = sqlite_department
    source = state.sources["dept_cremation"]
    department.add_cremations(
        cremations(0, 5, "2026-08-01 10:00:00") + cremations(5, 5, "2026-08-02 10:00:00")
    )
    killed = run_pull_process(state, fault)
    assert killed.returncode == -9, killed.stderr
    committed = fault == "after_commit"
    assert (state.watermark(source.code) is not None) is committed

    rerun = run_pull_process(state, None)
    assert rerun.returncode == 0, rerun.stderr
    if committed:  # recovery publishes the committed batch; nothing is left to pull
        assert "nothing new since 2026-08-02 10:00:00" in rerun.stdout
    else:
        assert "10 row(s) pulled" in rerun.stdout
    lake = state.lake_rows(source.code)
    assert sorted(r["record_id"] for r in lake) == [f"HH{n:06d}" for n in range(10)]
    statuses = [status for _, _, status in state.batches(source.code)]
    assert statuses.count("committed") == 1


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_state_database_on_postgresql(
    tmp_path: Path, catalog: Catalog, database_url: str, sqlite_department: Department
) -> None:
    """Department on a SQLite file, state (batches, watermark, quarantine) on PostgreSQL."""
    department = sqlite_department
    state = make_state(tmp_path, catalog, database_url)
    source = state.sources["dept_cremation"]
    department.add_cremations(cremations(0, 4, "2026-09-01 10:00:00"))
    first = pull_source(state.ingestor(), source)
    assert first.report is not None and first.report.accepted == 4
    assert pull_source(state.ingestor(), source).nothing_new
    department.add_cremations(cremations(4, 2, "2026-09-01 10:00:00"))  # a tie, late
    late = pull_source(state.ingestor(), source)
    assert late.report is not None and late.report.accepted == 2
    assert len(state.lake_rows(source.code)) == 6


def test_what_the_department_database_lacks_is_said_clearly(
    department: Department, state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = state.sources["dept_cremation"]
    with department.engine.begin() as connection:
        connection.execute(text("ALTER TABLE 火化登记 RENAME COLUMN 逝者身份证号 TO 身份证"))
    with pytest.raises(PullError) as missing:
        pull_source(state.ingestor(), source)
    assert "逝者身份证号 (for id_number)" in missing.value.why
    assert "身份证" in missing.value.why

    with department.engine.begin() as connection:
        connection.execute(text("DROP TABLE 火化登记"))
    with pytest.raises(PullError) as refused:
        pull_source(state.ingestor(), source)
    assert refused.value.what == "the department database refused the pull"
    assert "火化登记" in refused.value.why  # the database's own message names the table
    assert state.batches(source.code) == []

    monkeypatch.delenv(DEPT_URL_VARIABLE)
    with pytest.raises(PullError) as unset:
        pull_source(state.ingestor(), source)
    assert DEPT_URL_VARIABLE in str(unset.value)
    assert "dept_cremation" in str(unset.value.where)


@pytest.mark.parametrize(
    "value",
    [
        12345678901234,
        "2026-03-01 10:00:00",
        dt.date(2026, 3, 1),
        dt.datetime(2026, 3, 1, 10, 0, 0, 250000),
        dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        1.5,
    ],
)
def test_a_watermark_keeps_its_type_and_its_seen_keys(value: Any) -> None:
    from decimal import Decimal

    for v in (value, Decimal("42.10")) if isinstance(value, int) else (value,):
        mark = Watermark(v, frozenset({"甲1", "b2"}))
        back = Watermark.decode(mark.encode(), "s")
        assert back == mark and type(back.value) is type(v)


def test_an_unreadable_stored_watermark_is_an_error_naming_the_source() -> None:
    with pytest.raises(PullError) as error:
        Watermark.decode('{"type": "uuid", "value": "x"}', "dept_cremation")
    assert "source_watermarks[dept_cremation]" in str(error.value)


def test_the_pull_command(department: Department, state: State) -> None:
    from click.testing import CliRunner

    from lifesign.cli import cli

    department.add_cremations(cremations(0, 3, "2026-10-01 10:00:00"))
    arguments = ["--home", str(state.settings.home), "ingest", "pull", "dept_cremation"]
    arguments += ["--as-of", AS_OF.isoformat()]
    environment = {
        "LIFESIGN_SOURCES": str(state.sources_dir),
        DEPT_URL_VARIABLE: department.url,
        "LIFESIGN_DATABASE_URL": state.settings.database_url,
    }
    runner = CliRunner()
    first = runner.invoke(cli, arguments, env=environment, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "dept_cremation: 3 row(s) pulled from " in first.output
    assert "watermark (start) → 2026-10-01 10:00:00" in first.output
    assert ":lifesign@" not in first.output  # the department's password is never shown
    again = runner.invoke(cli, arguments, env=environment, catch_exceptions=False)
    assert again.output.strip() == "dept_cremation: nothing new since 2026-10-01 10:00:00"

    unknown = runner.invoke(cli, [*arguments[:4], "dept_nope"], env=environment)
    assert unknown.exit_code == 2
    assert "no source is called 'dept_nope'" in unknown.output
    assert "dept_cremation, dept_nursing" in unknown.output


def test_a_concurrent_pull_that_committed_first_rolls_the_other_back(state: State) -> None:
    """Two pulls of one source started from the same watermark: the second to commit sees
    that the stored watermark moved and refuses (the batch's transaction rolls back)."""
    from lifesign.ingest.pull import save_watermark

    engine = state.engine()
    try:
        with engine.begin() as connection:
            save_watermark(connection, "dept_cremation", Watermark(5), None, expected=None)
        with (
            pytest.raises(PullError, match="another pull of this source committed"),
            engine.begin() as connection,
        ):
            save_watermark(connection, "dept_cremation", Watermark(9), None, expected=None)
    finally:
        engine.dispose()
    assert state.watermark("dept_cremation") == Watermark(5)


def test_the_documented_example_is_a_valid_definition(catalog: Catalog) -> None:
    from lifesign.ingest.sources import load_source_text

    doc = Path(__file__).parents[2] / "docs" / "drop-folder-and-pull.md"
    text_of_doc = doc.read_text(encoding="utf-8")
    example = text_of_doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    source = load_source_text(example, catalog, "drop-folder-and-pull.md")
    assert source.pull is not None
    assert (source.pull.url, source.pull.watermark_column) == ("env:MINZHENG_DB_URL", "序号")
