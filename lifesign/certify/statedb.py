"""Bulk reads and writes of the state database for the pass, through the DBAPI cursor of the
caller's SQLAlchemy connection (so inside its transaction, with the watermark).

SQLAlchemy's per-row parameter processing cost more than the database itself at Bozhou
scale (1.36 M persons): reads go straight from the cursor into Arrow columns, writes are
sqlite3 `executemany` of tuples, or COPY on PostgreSQL (psycopg 3). Values are written as
SQLAlchemy would store them: dates as ISO text on SQLite ('YYYY-MM-DD'), timestamps as
'YYYY-MM-DD HH:MM:SS.ffffff', JSON as text.

On SQLite, a read of rows with dates makes no Python object per value: SQLite prints each
row as one line of CSV (`printf('%Q,%Q,...')`: text quoted with '' doubled, NULL bare) and
Arrow's CSV reader parses the lines into the schema's columns (see `LINES_FROM_DATES`).

Not done, on purpose: reading through another SQLite library in this process. The ADBC
SQLite driver (its own SQLite, straight into Arrow) read a Bozhou day's persons in ~1.1 s of
CPU instead of ~1.7-2.3, but closing its connection drops the POSIX locks this process holds
on the same file (two SQLite copies in one process, sqlite.org/howtocorrupt.html 2.2.1):
another process could then write while the pass holds the write lock, and the pass's commit
failed with 'locking protocol' / 'disk I/O error'.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection

from lifesign.store.database import is_sqlite

# Rows per fetch / per executemany: bounded memory, few round trips.
FETCH_ROWS = 100_000
# Person ids per IN list (integer literals: no bound-parameter limit applies).
IDS_PER_QUERY = 20_000
# SQLite rows are read as printed CSV lines when they hold at least this many date or
# timestamp columns: those are what the row path pays most for (a Python str per value, an
# Arrow string array, a cast). Measured on Bozhou's state with the pass's garbage collector
# off, CPU seconds, row path → lines: person_state whole (8 dates) 6.9-8.7 → 4.0-5.0, a day's
# joined read of 96 k persons (9 dates) 1.7-2.3 → 1.3-1.8; but people whole (1 date, 3
# columns) 1.5-2.4 → 1.9-2.9, evidence_summary's refs (no date) 5.3-5.4 → 4.8-5.7.
LINES_FROM_DATES = 2


def cursor_of(connection: Connection) -> Any:
    """A DBAPI cursor of the connection's own driver connection (inside its transaction)."""
    return connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def executemany_in_batches(cursor: Any, sql: str, rows: Iterable[Sequence[Any]]) -> int:
    """`cursor.executemany(sql, ...)` over the rows, FETCH_ROWS at a time (bounded memory);
    the number of rows given."""
    count = 0
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= FETCH_ROWS:
            cursor.executemany(sql, batch)
            count += len(batch)
            batch = []
    if batch:
        cursor.executemany(sql, batch)
        count += len(batch)
    return count


def read_arrow(
    connection: Connection, sql: str, schema: pa.Schema, params: Sequence[Any] = ()
) -> pa.Table:
    """The rows of `sql` as an Arrow table of `schema` (text dates of SQLite are parsed)."""
    if (
        is_sqlite(connection)
        and all(_printable(column.type) for column in schema)
        and sum(_as_text_first(column.type) for column in schema) >= LINES_FROM_DATES
    ):
        return _read_sqlite_lines(connection, sql, schema, params)
    return _read_rows(connection, sql, schema, params)


def _printable(kind: pa.DataType) -> bool:
    """Whether SQLite's `printf('%Q')` of a value keeps all of it for this Arrow type (not a
    REAL: printed to 15 significant digits; not a BLOB)."""
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date(kind)
        or pa.types.is_timestamp(kind)
    )


def _as_text_first(kind: pa.DataType) -> bool:
    """Dates and timestamps are read as text, then cast as the tuple path casts them (one
    parser for both paths)."""
    return bool(pa.types.is_date(kind) or pa.types.is_timestamp(kind))


# The CSV that SQLite's printf('%Q') writes: text in single quotes ('' inside), NULL bare.
_PARSE = pa_csv.ParseOptions(
    quote_char="'", double_quote=True, escape_char=False, newlines_in_values=True
)


def _read_sqlite_lines(
    connection: Connection, sql: str, schema: pa.Schema, params: Sequence[Any]
) -> pa.Table:
    """`read_arrow` on SQLite: each row printed by SQLite as one CSV line, parsed by Arrow."""
    names = [f"c{i}" for i in range(len(schema))]
    line = "printf('" + ",".join("%Q" for _ in names) + "', " + ", ".join(names) + ")"
    wrapped = f"WITH rows_read({', '.join(names)}) AS ({sql}) SELECT {line} FROM rows_read"
    # one thread: the parse of a fetch is small, and the threads cost more CPU than they save
    read = pa_csv.ReadOptions(column_names=names, block_size=1 << 26, use_threads=False)
    convert = pa_csv.ConvertOptions(
        column_types={
            name: pa.string() if _as_text_first(column.type) else column.type
            for name, column in zip(names, schema, strict=True)
        },
        null_values=["NULL"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    cursor = cursor_of(connection)
    batches: list[pa.RecordBatch] = []
    try:
        cursor.execute(wrapped, tuple(params))
        while rows := cursor.fetchmany(FETCH_ROWS):
            text = "\n".join([row[0] for row in rows]).encode()
            table = pa_csv.read_csv(
                io.BytesIO(text), read_options=read, parse_options=_PARSE, convert_options=convert
            )
            arrays = [
                array if array.type == column.type else array.cast(column.type)
                for array, column in zip(table.columns, schema, strict=True)
            ]
            batches.extend(pa.Table.from_arrays(arrays, schema=schema).to_batches())
    finally:
        cursor.close()
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches, schema=schema)


def _read_rows(
    connection: Connection, sql: str, schema: pa.Schema, params: Sequence[Any]
) -> pa.Table:
    """`read_arrow` through the driver's row tuples (PostgreSQL, and types `printf` would
    not keep whole)."""
    cursor = cursor_of(connection)
    try:
        cursor.execute(sql, tuple(params))
        batches = []
        while rows := cursor.fetchmany(FETCH_ROWS):
            columns = list(zip(*rows, strict=True))
            arrays = []
            for values, column in zip(columns, schema, strict=True):
                array = pa.array(values)
                arrays.append(array if array.type == column.type else array.cast(column.type))
            batches.append(pa.record_batch(arrays, schema=schema))
    finally:
        cursor.close()
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches, schema=schema)


def read_by_ids(
    connection: Connection,
    select: str,
    key: str,
    ids: Sequence[int] | None,
    schema: pa.Schema,
) -> pa.Table:
    """`select` (a SELECT ... FROM ... without WHERE) for every row (ids None) or the rows
    whose `key` is in `ids`, as Arrow."""
    if ids is None:
        return read_arrow(connection, select, schema)
    parts = []
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start : start + IDS_PER_QUERY]
        literal = ",".join(str(int(i)) for i in chunk)
        parts.append(read_arrow(connection, f"{select} WHERE {key} IN ({literal})", schema))
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts)


def _placeholder(connection: Connection) -> str:
    return "?" if is_sqlite(connection) else "%s"


def insert_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """INSERT the rows (tuples in `columns` order); the number written."""
    names = ", ".join(columns)
    cursor = cursor_of(connection)
    count = 0
    try:
        if is_sqlite(connection):
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
            count = executemany_in_batches(cursor, sql, rows)
        else:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
    finally:
        cursor.close()
    return count


def update_rows(
    connection: Connection,
    table: str,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    upsert: bool = False,
) -> int:
    """UPDATE `columns` of the rows whose `key` is the tuple's first value (tuples: key, then
    `columns`); with `upsert`, rows not there are inserted. The number of rows given."""
    if not rows:
        return 0
    cursor = cursor_of(connection)
    try:
        if is_sqlite(connection):
            if upsert:
                names = ", ".join((key, *columns))
                marks = ", ".join("?" for _ in range(len(columns) + 1))
                sets = ", ".join(f"{c} = excluded.{c}" for c in columns)
                sql = (
                    f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                    f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
                )
                cursor.executemany(sql, rows)
            else:
                sets = ", ".join(f"{c} = ?" for c in columns)
                sql = f"UPDATE {table} SET {sets} WHERE {key} = ?"
                cursor.executemany(sql, [(*row[1:], row[0]) for row in rows])
        else:
            # COPY into a temporary table shaped like the target, then one UPDATE ... FROM
            temp = f"_pass_{uuid.uuid4().hex[:12]}"
            names = ", ".join((key, *columns))
            cursor.execute(
                f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS "
                f"SELECT {names} FROM {table} WITH NO DATA"
            )
            with cursor.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if upsert:
                sets = ", ".join(f"{c} = excluded.{c}" for c in columns)
                cursor.execute(
                    f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} "
                    f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
                )
            else:
                sets = ", ".join(f"{c} = t.{c}" for c in columns)
                cursor.execute(
                    f"UPDATE {table} AS s SET {sets} FROM {temp} AS t WHERE s.{key} = t.{key}"
                )
            cursor.execute(f"DROP TABLE {temp}")
    finally:
        cursor.close()
    return len(rows)


@contextmanager
def sqlite_cache(connection: Connection, mib: int) -> Iterator[None]:
    """A larger SQLite page cache for the duration (the default 2 MiB makes a big
    transaction write its dirty index pages to the WAL over and over); no-op elsewhere."""
    if not is_sqlite(connection) or mib <= 0:
        yield
        return
    cursor = cursor_of(connection)
    try:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = {-1024 * int(mib)}")
        try:
            yield
        finally:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")
    finally:
        cursor.close()


def execute(connection: Connection, sql: str) -> None:
    cursor = cursor_of(connection)
    try:
        cursor.execute(sql)
    finally:
        cursor.close()
