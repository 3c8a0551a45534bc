"""The pass's large inserts into the state database: narrow rows, and a table's secondary
indexes rebuilt after a load that is large against the table.

Moving a value from DuckDB into SQLite through Python costs far more than SQLite's own work
on it (measured 2026-11-29 on the 100 k city: 100 k person_state rows, 0.12 s CPU as one
`INSERT ... SELECT` inside SQLite, ~1.3 s fetched from DuckDB and bound by sqlite3's
`executemany`; a NULL costs sqlite3 more to bind than a string). So the caller hands over
only the values that vary and are not NULL — one insert per set of non-NULL columns — and
`insert` writes the rest in the statement itself: `fixed` columns (the same value on every
row: the run, the as-of day, the rule...) as literals, `times_of` columns (evidence_summary's
`*_time`, the first 19 characters of a ref plus '.000000', as the pass always wrote them)
computed by SQLite from the ref bound once. On PostgreSQL the rows go by COPY (psycopg
writes them in C), constants and times appended to each row.

`indexes_rebuilt`: inserting many rows into an indexed table updates each secondary index
row by row, at random places of the B-tree; dropping the indexes and creating them again
after the load (one sort each) is cheaper once the load is a large share of the table (a
first full pass writes into empty tables). Inside the caller's transaction: a crash before
the commit leaves the table and its indexes as they were. The index definitions are the
SQLAlchemy models' (the migrations create the same ones: tests/store/test_migrations.py).
On PostgreSQL, DROP INDEX locks the table until the commit (readers of it wait for the pass).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Index, Table
from sqlalchemy.schema import CreateIndex, DropIndex

from lifesign.certify import statedb
from lifesign.store.database import is_sqlite

__all__ = ["indexes_rebuilt", "insert", "rebuild_worthwhile", "secondary_indexes", "time_of_ref"]


def time_of_ref(ref: str | None) -> str | None:
    """The `*_time` value stored beside a ref (a ref starts 'YYYY-MM-DD HH:MM:SS')."""
    return None if ref is None else ref[:19] + ".000000"


def _literal(value: Any) -> str:
    """A constant as an SQLite literal, stored as SQLAlchemy stores it (dates: ISO text)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def insert(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    fixed: Mapping[str, Any] | None = None,
    times_of: Mapping[str, str] | None = None,
) -> int:
    """INSERT the rows (tuples in `columns` order) into `table`, every row with the `fixed`
    values too, and each `times_of` column (time column → one of `columns`, a ref) set to
    the time of that ref (`time_of_ref`). Columns not named stay NULL (or their server
    default). The number of rows written."""
    fixed = dict(fixed or {})
    times_of = dict(times_of or {})
    position = {name: index for index, name in enumerate(columns)}
    names = [*columns, *fixed, *times_of]
    cursor = statedb.cursor_of(connection)
    count = 0
    try:
        if is_sqlite(connection):
            values = [
                *(f"?{index + 1}" for index in range(len(columns))),
                *(_literal(value) for value in fixed.values()),
                *(f"substr(?{position[ref] + 1}, 1, 19) || '.000000'" for ref in times_of.values()),
            ]
            sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(values)})"
            count = statedb.executemany_in_batches(cursor, sql, rows)
        else:
            constants = tuple(fixed.values())
            refs = [position[ref] for ref in times_of.values()]
            with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, *constants, *(time_of_ref(row[i]) for i in refs)))
                    count += 1
    finally:
        cursor.close()
    return count


def secondary_indexes(table: Table) -> list[Index]:
    """The table's indexes as the models declare them (the primary key is not one)."""
    return sorted(table.indexes, key=lambda index: [c.name for c in index.columns])


def rebuild_worthwhile(rows: int, table_rows: int, share_percent: int) -> bool:
    """Whether loading `rows` into a table of `table_rows` should rebuild its indexes: the
    load is at least `share_percent` % of the table as it is (0 %: always; an empty table:
    always)."""
    return rows > 0 and rows * 100 >= table_rows * share_percent


@contextmanager
def indexes_rebuilt(connection: Connection, table: Table, rebuild: bool) -> Iterator[None]:
    """Without `rebuild`, nothing; with it, the table's secondary indexes are dropped for the
    duration and created again after it (in the caller's transaction)."""
    indexes = secondary_indexes(table) if rebuild else []
    if indexes and is_sqlite(connection):
        # sqlite3 opens a transaction only before a data change: a DROP INDEX first in it
        # would commit at once (the pass has written before, this is for any other caller)
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")
    for index in indexes:
        connection.execute(DropIndex(index, if_exists=True))
    yield
    for index in indexes:
        connection.execute(CreateIndex(index))
