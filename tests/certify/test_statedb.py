"""The state database's bulk reads into Arrow (statedb.read_arrow, read_by_ids), on SQLite and
PostgreSQL: every value comes back as stored — text with quotes, commas, new lines, the word
NULL or nothing at all; NULLs; dates; timestamps; integers; booleans."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
)

from lifesign.certify import statedb
from lifesign.store import make_engine
from lifesign.store.database import is_sqlite

metadata = MetaData()
probe_t = Table(
    "statedb_probe",
    metadata,
    Column("probe_id", Integer, primary_key=True, autoincrement=False),
    Column("label", Text),
    Column("code", String(16)),
    Column("day", Date),
    Column("moment", DateTime),
    Column("flag", Boolean),
    Column("small", Integer),
)
SCHEMA = pa.schema(
    [
        ("probe_id", pa.int64()),
        ("label", pa.string()),
        ("code", pa.string()),
        ("day", pa.date32()),
        ("moment", pa.timestamp("us")),
        ("flag", pa.bool_()),
        ("small", pa.int32()),
    ]
)
SELECT = "SELECT probe_id, label, code, day, moment, flag, small FROM statedb_probe"
ROWS: list[dict[str, Any]] = [
    {
        "probe_id": 1,
        "label": "2026-07-25 07:29:43|yibao_settle|mi_chronic_outpatient|YIBA30616337",
        "code": "auto",
        "day": dt.date(2026, 7, 25),
        "moment": dt.datetime(2026, 7, 25, 7, 29, 43, 120000),
        "flag": True,
        "small": 2026,
    },
    {
        "probe_id": 2,
        "label": "it's, \"quoted\"\nover two lines\r\nand 'more'",
        "code": "",
        "day": None,
        "moment": dt.datetime(2026, 1, 1),
        "flag": False,
        "small": None,
    },
    {
        "probe_id": 3,
        "label": "NULL",
        "code": None,
        "day": dt.date(1, 1, 1),
        "moment": None,
        "flag": None,
        "small": -7,
    },
    {
        "probe_id": 4,
        "label": "亳州市谯城区 — 认证",
        "code": "''",
        "day": dt.date(9999, 12, 31),
        "moment": dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
        "flag": True,
        "small": 0,
    },
    {
        "probe_id": 5,
        "label": "",
        "code": ",",
        "day": dt.date(2024, 2, 29),
        "moment": dt.datetime(2024, 2, 29, 0, 0, 0, 1),
        "flag": False,
        "small": 2147483647,
    },
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An empty database with the probe table only (no migrations: nothing else is read)."""
    made = make_engine(database_url)
    metadata.create_all(made)
    try:
        yield made
    finally:
        made.dispose()


def _filled(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(probe_t), ROWS)


def test_read_arrow_gives_back_every_value_as_stored(engine: Engine) -> None:
    _filled(engine)
    with engine.connect() as connection:
        table = statedb.read_arrow(connection, SELECT, SCHEMA)
        assert table.schema == SCHEMA
        assert table.to_pylist() == ROWS
        # and both SQLite paths (printed lines, row tuples) agree, byte for byte
        if is_sqlite(connection):
            lines = statedb._read_sqlite_lines(connection, SELECT, SCHEMA, ())
            rows = statedb._read_rows(connection, SELECT, SCHEMA, ())
            assert lines.equals(rows)
            assert lines.to_pylist() == ROWS


def test_read_arrow_with_parameters_and_no_rows(engine: Engine) -> None:
    _filled(engine)
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    with engine.connect() as connection:
        found = statedb.read_arrow(
            connection, f"{SELECT} WHERE small > {marker} ORDER BY probe_id", SCHEMA, (0,)
        )
        assert found.column("probe_id").to_pylist() == [1, 5]
        empty = statedb.read_arrow(connection, f"{SELECT} WHERE probe_id < 0", SCHEMA)
        assert empty.num_rows == 0 and empty.schema == SCHEMA


def test_read_arrow_across_fetches(engine: Engine, monkeypatch: Any) -> None:
    """Rows fetched in several batches (each parsed apart) come back whole and in order."""
    _filled(engine)
    monkeypatch.setattr(statedb, "FETCH_ROWS", 2)
    with engine.connect() as connection:
        table = statedb.read_arrow(connection, f"{SELECT} ORDER BY probe_id", SCHEMA)
    assert table.to_pylist() == ROWS


def test_read_by_ids(engine: Engine, monkeypatch: Any) -> None:
    _filled(engine)
    monkeypatch.setattr(statedb, "IDS_PER_QUERY", 2)
    with engine.connect() as connection:
        some = statedb.read_by_ids(connection, SELECT, "probe_id", [2, 3, 5, 42], SCHEMA)
        assert sorted(some.to_pylist(), key=lambda row: row["probe_id"]) == [
            ROWS[1],
            ROWS[2],
            ROWS[4],
        ]
        assert statedb.read_by_ids(connection, SELECT, "probe_id", [], SCHEMA).num_rows == 0
        every = statedb.read_by_ids(connection, SELECT, "probe_id", None, SCHEMA)
        assert sorted(every.to_pylist(), key=lambda row: row["probe_id"]) == ROWS


def test_types_printf_would_cut_take_the_row_path(engine: Engine) -> None:
    """A REAL column (printf keeps 15 digits) is read through the row tuples, whole."""
    with engine.connect() as connection:
        table = statedb.read_arrow(
            connection, "SELECT 0.1 + 0.2 AS x", pa.schema([("x", pa.float64())])
        )
    assert table.column("x").to_pylist() == [0.1 + 0.2]
