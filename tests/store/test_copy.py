"""`lifesign db copy`: a small synthetic city's SQLite home copied into a real PostgreSQL
schema — every table's rows, ids that go on after the copy, the refusals (a target holding
data, a source at another migration, not SQLite into PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.engine import make_url

from lifesign.catalog import load_catalog
from lifesign.cli import cli
from lifesign.config import Settings
from lifesign.store import make_engine, migrate
from lifesign.store.copy import DatabaseCopyError, copy_database, lock_wait_seconds
from lifesign.store.models import Batch, Person
from lifesign.store.schema import metadata
from tests.cities import department_principal, replayed_home

CITY_RECIPIENTS = 300
CITY_SEED = 29
HISTORY_DAYS = 90  # days of the city's window loaded as history before the replayed days
REPLAY_DAYS = 2
SAMPLE_ROWS = 25  # rows compared from each end of each table
# Tables a replayed city must have filled, or the copy test proves little.
FILLED = {
    "people",
    "enrollments",
    "batches",
    "applied_batches",
    "person_state",
    "evidence_summary",
    "decisions",
    "runs",
    "users",
    "api_tokens",
}

# Only the PostgreSQL variant of conftest's `database_url`: the copy's target. Not migrated:
# the copy upgrades it itself.
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture(scope="module")
def city_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A replayed city's home on SQLite (registry, evidence, passes and daily runs), with the
    demo accounts and one API token: the source of the copies (read-only)."""
    from lifesign.store import open_database
    from lifesign.web.api.tokens import create_token

    settings = replayed_home(
        tmp_path_factory.mktemp("copy-city"),
        recipients=CITY_RECIPIENTS,
        seed=CITY_SEED,
        history_days=HISTORY_DAYS,
        replay_days=REPLAY_DAYS,
    )
    engine = open_database(settings)
    try:
        create_token(engine, load_catalog(None), department="hrss", name="copy-test")
    finally:
        engine.dispose()
    yield settings


def _source(settings: Settings) -> Engine:
    return make_engine(settings.database_url)


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _comparable(value: Any) -> Any:
    """A value as both backends can agree on it: times in naive UTC (SQLite keeps UTC times
    without their offset), Decimals as Decimals, the rest as read."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    return value


def _sample(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    """The first and last SAMPLE_ROWS rows of `table` by its key, comparable."""
    key = list(table.primary_key.columns)
    with engine.connect() as connection:
        first = connection.execute(select(table).order_by(*key).limit(SAMPLE_ROWS)).all()
        last = connection.execute(
            select(table).order_by(*(column.desc() for column in key)).limit(SAMPLE_ROWS)
        ).all()
    return [tuple(_comparable(value) for value in row) for row in [*first, *last]]


@on_postgresql
def test_the_copy_holds_every_row_of_the_source(city_home: Settings, database_url: str) -> None:
    # a server whose sessions run in another time zone than UTC (SQLite's stored times are
    # UTC without an offset: the copy must not read them as Shanghai's)
    assert "options=" in database_url
    database_url += quote(" -cTimeZone=Asia/Shanghai")
    answer = CliRunner().invoke(
        cli, ["--home", str(city_home.home), "db", "copy", "--to", database_url]
    )
    assert answer.exit_code == 0, answer.output
    password = make_url(database_url).password
    assert password and f":{password}@" not in answer.output  # the password is never shown
    assert "***" in answer.output
    assert "row counts match the source's" in answer.output

    source, target = _source(city_home), make_engine(database_url)
    try:
        filled = set()
        for table in metadata.sorted_tables:
            rows = _count(source, table)
            assert _count(target, table) == rows, table.name
            assert f"{rows:,} rows" in answer.output
            if rows:
                filled.add(table.name)
                assert _sample(target, table) == _sample(source, table), table.name
        assert filled >= FILLED
        with target.connect() as connection:
            assert connection.exec_driver_sql("SHOW TimeZone").scalar_one() == "Asia/Shanghai"
            # every trigger the copy switched off is on again
            disabled = connection.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgenabled = 'D'")
            ).scalar_one()
            assert disabled == 0
            # the planner has statistics for the copied tables
            analyzed = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'people'"
                    " AND schemaname = current_schema() AND last_analyze IS NOT NULL"
                )
            ).scalar_one()
            assert analyzed == 1
    finally:
        source.dispose()
        target.dispose()


@on_postgresql
def test_new_rows_take_ids_after_the_copied_ones(city_home: Settings, database_url: str) -> None:
    result = copy_database(city_home.database_url, database_url)
    assert result.sequences > 0
    people, batches = Person.__table__, Batch.__table__
    assert isinstance(people, Table) and isinstance(batches, Table)
    target = make_engine(database_url)
    try:
        with target.begin() as connection:
            top_person = connection.execute(select(func.max(people.c.person_id))).scalar_one()
            top_batch = connection.execute(select(func.max(batches.c.batch_id))).scalar_one()
            batch_id = connection.execute(
                insert(batches)
                .values(kind="registry", source="people")
                .returning(batches.c.batch_id)
            ).scalar_one()
            person_id = connection.execute(
                insert(people)
                .values(pseudonym="f" * 32, name="测试新人", batch_id=batch_id)
                .returning(people.c.person_id)
            ).scalar_one()
        assert batch_id == top_batch + 1
        assert person_id == top_person + 1
    finally:
        target.dispose()


@on_postgresql
def test_a_target_holding_data_is_refused_unless_replaced(
    city_home: Settings, database_url: str
) -> None:
    first = copy_database(city_home.database_url, database_url)
    people = Person.__table__
    assert isinstance(people, Table)
    target = make_engine(database_url)
    try:
        with pytest.raises(DatabaseCopyError) as refused:
            copy_database(city_home.database_url, database_url)
        message = str(refused.value)
        assert "already holds data" in message and "--replace" in message
        assert "batches" in message  # the tables holding rows are named
        password = make_url(database_url).password
        assert password and f":{password}@" not in message
        assert _count(target, people) == CITY_RECIPIENTS  # untouched

        again = copy_database(city_home.database_url, database_url, replace=True)
        assert [(t.table, t.rows) for t in again.tables] == [
            (t.table, t.rows) for t in first.tables
        ]
        assert _count(target, people) == CITY_RECIPIENTS

        # the same through the command: refused (exit 2, one line), then --replace
        command = ["--home", str(city_home.home), "db", "copy", "--to", database_url]
        answer = CliRunner().invoke(cli, command)
        assert answer.exit_code == 2 and "already holds data" in answer.output
        assert "Traceback" not in answer.output
        answer = CliRunner().invoke(cli, [*command, "--replace"])
        assert answer.exit_code == 0, answer.output
        assert f"{CITY_RECIPIENTS:,} rows" in answer.output
        assert _count(target, people) == CITY_RECIPIENTS
    finally:
        target.dispose()


@on_postgresql
def test_a_source_at_another_migration_is_refused(tmp_path: Path, database_url: str) -> None:
    from lifesign.store import head_revision

    home = tmp_path / "old-home"
    home.mkdir()
    old = make_engine(f"sqlite:///{home / 'lifesign.db'}")
    try:
        migrate(old, "0009")
    finally:
        old.dispose()
    answer = CliRunner().invoke(cli, ["--home", str(home), "db", "copy", "--to", database_url])
    assert answer.exit_code == 2, answer.output
    assert "not at this lifesign's newest migration" in answer.output
    assert "0009" in answer.output and str(head_revision()) in answer.output
    target = make_engine(database_url)
    try:  # refused before the target was touched: not even migrated
        with target.connect() as connection:
            tables = connection.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            ).scalar_one()
        assert tables == 0
    finally:
        target.dispose()


@on_postgresql
def test_only_an_existing_sqlite_file_goes_into_postgresql(
    city_home: Settings, tmp_path: Path, database_url: str
) -> None:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(city_home.home / "lifesign.db") as source, sqlite3.connect(copy) as kept:
        source.backup(kept)
    with pytest.raises(DatabaseCopyError, match="not PostgreSQL"):
        copy_database(f"sqlite:///{copy}", f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(DatabaseCopyError, match="not SQLite"):
        copy_database(database_url, database_url)
    with pytest.raises(DatabaseCopyError, match="no SQLite database to copy"):
        copy_database(f"sqlite:///{tmp_path / 'missing.db'}", database_url)
    assert not (tmp_path / "missing.db").exists()  # a missing source is not created
    shutil.rmtree(tmp_path / "missing.db", ignore_errors=True)


@on_postgresql
def test_rows_that_break_a_constraint_leave_the_target_empty(
    city_home: Settings, tmp_path: Path, database_url: str
) -> None:
    """A home written without foreign keys enforced (raw SQLite) holds an enrollment of nobody:
    the copy says which constraint it breaks, and keeps nothing."""
    broken = tmp_path / "broken.db"
    with sqlite3.connect(city_home.home / "lifesign.db") as source, sqlite3.connect(broken) as kept:
        source.backup(kept)
    with closing(sqlite3.connect(broken)) as connection:  # foreign keys off: SQLite's default
        connection.execute(
            "INSERT INTO enrollments (external_ref, person_id, program, start_date, status,"
            " monthly_amount) SELECT 'orphan-1', 99999999, program, start_date, status,"
            " monthly_amount FROM enrollments LIMIT 1"
        )
        connection.commit()
    with pytest.raises(DatabaseCopyError) as refused:
        copy_database(f"sqlite:///{broken}", database_url)
    assert "foreign key fk_enrollments_person_id_people of table enrollments" in str(refused.value)
    people = Person.__table__
    assert isinstance(people, Table)
    target = make_engine(database_url)
    try:
        assert _count(target, people) == 0  # migrated, and empty as the migrations left it
    finally:
        target.dispose()


@on_postgresql
def test_the_copied_read_model_answers_as_the_join_does(
    city_home: Settings, database_url: str
) -> None:
    """The batch status's read model (status_documents, kept by triggers) is copied with its
    triggers off, as the source's triggers left it: on PostgreSQL every answer it gives equals
    the reference join's (as JSON: SQLite's JSON functions space their text differently), and
    the triggers, on again, keep it in step with a write made after the copy."""
    from lifesign.web.api.batchjson import compact_statuses
    from lifesign.web.api.statusdocs import stored_statuses

    department = department_principal("copy-test")
    copy_database(city_home.database_url, database_url)
    people = Person.__table__
    assert isinstance(people, Table)
    day = dt.date.today()
    target = make_engine(database_url)
    try:
        with target.begin() as connection:
            numbers = list(
                connection.execute(
                    select(people.c.id_number).where(people.c.id_number.is_not(None))
                ).scalars()
            )
            stored = stored_statuses(connection, numbers, day)
            joined = compact_statuses(connection, department, numbers, day)
            assert stored.keys() == joined.keys() == set(numbers)
            assert all(json.loads(stored[n][1]) == json.loads(joined[n][1]) for n in numbers)
            # a write after the copy: the person's answer follows it
            person_id, number = stored[numbers[0]][0], numbers[0]
            connection.execute(
                text("UPDATE person_state SET status = 'deceased' WHERE person_id = :p"),
                {"p": person_id},
            )
            after = stored_statuses(connection, [number], day)[number][1]
            assert json.loads(after)["status"] == "deceased"
            reference = compact_statuses(connection, department, [number], day)[number][1]
            assert json.loads(after) == json.loads(reference)
    finally:
        target.dispose()


@on_postgresql
def test_a_value_postgresql_refuses_is_named_without_its_value(
    city_home: Settings, tmp_path: Path, database_url: str
) -> None:
    """SQLite keeps a phone longer than its column's 20 characters; PostgreSQL does not. The
    copy names the table, the row (in key order) and the column — not the phone."""
    broken = tmp_path / "long-phone.db"
    with sqlite3.connect(city_home.home / "lifesign.db") as source, sqlite3.connect(broken) as kept:
        source.backup(kept)
    phone = "13800138000123456789012"
    with closing(sqlite3.connect(broken)) as connection:
        connection.execute(
            "UPDATE people SET phone = ? WHERE person_id = (SELECT min(person_id) FROM people)",
            (phone,),
        )
        connection.commit()
    with pytest.raises(DatabaseCopyError) as refused:
        copy_database(f"sqlite:///{broken}", database_url)
    message = str(refused.value)
    assert "a row of table people does not fit" in message
    assert "value too long" in message and "line 1" in message and "field phone" in message
    assert phone not in message


@on_postgresql
def test_a_target_in_use_is_refused_at_once(city_home: Settings, database_url: str) -> None:
    """Another connection reading the target in an open transaction (a server mid-request,
    a psql session): the copy says so instead of waiting for it."""
    copy_database(city_home.database_url, database_url)
    people = Person.__table__
    assert isinstance(people, Table)
    target = make_engine(database_url)
    try:
        with target.connect() as reader, reader.begin():
            assert _count_in(reader, people) == CITY_RECIPIENTS  # holds its lock on people
            with pytest.raises(DatabaseCopyError, match="the target database is in use"):
                copy_database(city_home.database_url, database_url, replace=True, lock_wait=0.5)
        assert _count(target, people) == CITY_RECIPIENTS  # the first copy is untouched
    finally:
        target.dispose()


def _count_in(connection: Any, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_lock_wait_comes_from_the_parameter_file(tmp_path: Path) -> None:
    assert lock_wait_seconds() > 1.0  # longer than PostgreSQL's default deadlock_timeout
    wrong = tmp_path / "copy.yaml"
    wrong.write_text("lock_wait_seconds: -1\n", encoding="utf-8")
    with pytest.raises(DatabaseCopyError, match="lock_wait_seconds must be a positive"):
        lock_wait_seconds(wrong)
