"""Bulk writes through the driver's own executemany, in the caller's transaction.

SQLAlchemy's executemany runs every value of every row through its generic parameter
machinery (some 40 µs a row); the daily run writes tens of thousands of rows a day (messages,
notices, events). These functions hand the rows straight to the DBAPI cursor's `executemany`
(sqlite3; psycopg pipelines it), each value converted by its column type's own bind processor
— the conversion SQLAlchemy itself applies, so the rows read back exactly as if SQLAlchemy had
written them. The cursor is the connection's, so the writes are part of its transaction.

    insert_rows(connection, table, rows)                      # plain INSERT, many rows
    insert_new(connection, table, rows, unique=("a", "b"))    # skip rows already there
    update_rows(connection, table, "key_column", rows)        # UPDATE ... WHERE key = ...
    select(...).where(among(connection, column, ids))         # column IN (many values)

`among` is the read side: `column.in_(values)` renders one bound parameter per value, and
SQLAlchemy takes quadratic time to name thousands of them; `among` passes the whole list as
one parameter (a PostgreSQL array, a JSON array that SQLite's json_each unpacks).

SQLite and PostgreSQL only (what lifesign runs on).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)

from lifesign.errors import LifesignError, Location

__all__ = ["among", "insert_new", "insert_returning_ids", "insert_rows", "update_rows"]

# Keys per IN (...) list when reading what is already there (SQLite's bound-parameter limit
# is 32766; PostgreSQL's 65535).
_KEYS_PER_QUERY = 5000


def _placeholder(connection: Connection) -> str:
    dialect = connection.dialect
    if dialect.name == "sqlite":
        return "?"
    if dialect.name == "postgresql":
        return "%s"
    raise LifesignError(
        f"bulk writes do not support database {dialect.name!r}",
        "lifesign runs on SQLite or PostgreSQL",
        Location(key="database_url"),
    )


def among(
    connection: Connection, column: ColumnElement[Any], values: Iterable[int | str]
) -> ColumnElement[bool]:
    """`column IN (values)` with the values in one bound parameter (ints or strings)."""
    wanted = list(values)
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, wanted, type_=ARRAY(column.type)))
    _placeholder(connection)  # SQLite, or a clear error
    unpacked: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, json.dumps(wanted), type_=String()))
    )
    return column.in_(unpacked)


_CONVERTERS: dict[tuple[str, str, tuple[str, ...]], list[Callable[[Any], Any] | None]] = {}


def _converters(
    connection: Connection, table: Table, columns: Sequence[str]
) -> list[Callable[[Any], Any] | None]:
    """Each column's bind processor (made once per dialect, table and columns)."""
    dialect = connection.dialect
    key = (dialect.name, table.name, tuple(columns))
    if key not in _CONVERTERS:
        _CONVERTERS[key] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        ]
    return _CONVERTERS[key]


def _values(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    converters: Sequence[Callable[[Any], Any] | None],
) -> list[tuple[Any, ...]]:
    """The rows as parameter tuples, each value converted by its column's bind processor.

    Column by column; a value that is the very object of the row before (the day of a run,
    the moment of a batch of messages) is converted once.
    """
    converted: list[list[Any]] = []
    for name, convert in zip(columns, converters, strict=True):
        values = [row[name] for row in rows]
        if convert is not None:
            last: Any = object()
            out: Any = None
            for index, value in enumerate(values):
                if value is not last:
                    last, out = value, convert(value)
                values[index] = out
        converted.append(values)
    return list(zip(*converted, strict=True))


def _insert_sql(connection: Connection, table: Table, columns: Sequence[str]) -> str:
    quote = connection.dialect.identifier_preparer
    mark = _placeholder(connection)
    return (
        f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "
        f"VALUES ({', '.join(mark for _ in columns)})"
    )


def _cursor(connection: Connection) -> Any:
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """INSERT every row (mappings with the same keys); the rows written."""
    if not rows:
        return 0
    columns = list(rows[0])
    cursor = _cursor(connection)
    try:
        cursor.executemany(
            _insert_sql(connection, table, columns),
            _values(rows, columns, _converters(connection, table, columns)),
        )
    finally:
        cursor.close()
    return len(rows)


def insert_returning_ids(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """INSERT every row (mappings with the same keys, without the table's integer key) and
    return the keys the database gave them, in the order of `rows`.

    PostgreSQL answers each row's key (INSERT ... RETURNING, pipelined). SQLite gives a new
    row of a table whose key is its rowid the largest rowid so far plus one, and lets one
    writer at a time insert: the rows get the keys after the table's largest one before the
    insert, in order (read in this transaction, which the insert would fail to upgrade to a
    write if another writer had committed since).
    """
    if not rows:
        return []
    key = _rowid_alias(table)
    if key is None:
        raise LifesignError(
            f"table {table.name} has no single integer key",
            "insert_returning_ids returns the keys of a table keyed by one integer column",
            Location(key=table.name),
        )
    columns = list(rows[0])
    quote = connection.dialect.identifier_preparer
    values = _values(rows, columns, _converters(connection, table, columns))
    cursor = _cursor(connection)
    try:
        if connection.dialect.name == "postgresql":
            cursor.executemany(
                _insert_sql(connection, table, columns) + f" RETURNING {quote.quote(key)}",
                values,
                returning=True,
            )
            ids: list[int] = []
            while True:
                ids.extend(int(found[0]) for found in cursor.fetchall())
                if not cursor.nextset():
                    break
            return ids
        name = quote.format_table(table)
        last = int(cursor.execute(f"SELECT max(rowid) FROM {name}").fetchone()[0] or 0)
        cursor.executemany(_insert_sql(connection, table, columns), values)
        now = int(cursor.execute(f"SELECT max(rowid) FROM {name}").fetchone()[0] or 0)
        if now != last + len(rows):  # e.g. a trigger inserting into the same table
            raise LifesignError(
                f"the {len(rows)} rows inserted into {table.name} did not take the keys after "
                f"{last} (the largest is {now})",
                "insert_returning_ids relies on SQLite giving each new row the next rowid",
                Location(key=table.name),
            )
        return list(range(last + 1, last + 1 + len(rows)))
    finally:
        cursor.close()


def insert_new(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    unique: Sequence[str],
) -> set[tuple[Any, ...]]:
    """INSERT the rows whose `unique` columns (a unique constraint of the table) are not in
    the table yet, and none twice; the keys (values of `unique`, as given) of the rows written.

    Exact under concurrency on both databases: PostgreSQL answers, row by row, what its
    INSERT ... ON CONFLICT DO NOTHING RETURNING wrote; SQLite lets one writer at a time
    commit, so the rows of the table after its last rowid before the insert are this
    transaction's (when the rows' count says some were skipped; when none was, there is
    nothing to read). A table whose rowid the rows give (an INTEGER PRIMARY KEY among the
    columns) is read first instead: the keys missing are what this transaction writes.
    """
    if not rows:
        return set()
    columns = list(rows[0])
    first: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    key_of = _key_getter(unique)
    for row in rows:
        first.setdefault(key_of(row), row)
    quote = connection.dialect.identifier_preparer
    conflict = f" ON CONFLICT ({', '.join(quote.quote(c) for c in unique)}) DO NOTHING"
    converters = _converters(connection, table, columns)
    cursor = _cursor(connection)
    try:
        if connection.dialect.name == "postgresql":
            cursor.executemany(
                _insert_sql(connection, table, columns)
                + conflict
                + f" RETURNING {', '.join(quote.quote(c) for c in unique)}",
                _values(list(first.values()), columns, converters),
                returning=True,
            )
            written: set[tuple[Any, ...]] = set()
            while True:
                written.update(tuple(found) for found in cursor.fetchall())
                if not cursor.nextset():
                    break
            return {key for key in first if key in written}
        if _rowid_alias(table) in columns:  # ids given: the new rows are not the last ones
            present = _present(connection, table, unique, list(first))
            new = {key: row for key, row in first.items() if key not in present}
            if new:
                cursor.executemany(
                    _insert_sql(connection, table, columns) + conflict,
                    _values(list(new.values()), columns, converters),
                )
            return set(new)
        # Written first, asked after: usually every row is new (the rows counted say so); else
        # the rows written are those after the table's last rowid before the insert.
        name = quote.format_table(table)
        last = cursor.execute(f"SELECT max(rowid) FROM {name}").fetchone()[0] or 0
        cursor.executemany(
            _insert_sql(connection, table, columns) + conflict,
            _values(list(first.values()), columns, converters),
        )
        if cursor.rowcount == len(first):
            return set(first)
        written = {
            tuple(found)
            for found in connection.execute(
                select(*(table.c[n] for n in unique)).where(literal_column("rowid") > last)
            )
        }
        return {key for key in first if key in written}
    finally:
        cursor.close()


def _key_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values of `names`, as a tuple (itemgetter gives a bare value for one name)."""
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],)
    return cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], itemgetter(*names))


def _rowid_alias(table: Table) -> str | None:
    """The column SQLite keeps as the rowid (a single INTEGER PRIMARY KEY), if any."""
    keys = list(table.primary_key.columns)
    if len(keys) == 1 and isinstance(keys[0].type, Integer):
        return keys[0].name
    return None


def _present(
    connection: Connection, table: Table, unique: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> set[tuple[Any, ...]]:
    """Which of these keys the table already holds (read by the first key column's values)."""
    present: set[tuple[Any, ...]] = set()
    wanted = set(keys)
    leading = sorted({key[0] for key in keys})
    columns = [table.c[name] for name in unique]
    for start in range(0, len(leading), _KEYS_PER_QUERY):
        chunk = leading[start : start + _KEYS_PER_QUERY]
        for found in connection.execute(
            select(*columns).where(among(connection, columns[0], chunk))
        ):
            key = tuple(found)
            if key in wanted:
                present.add(key)
    return present


def update_rows(
    connection: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> int:
    """UPDATE table SET <the rows' other columns> WHERE key = <the row's key>, for every row
    (mappings with the same keys); the rows given."""
    if not rows:
        return 0
    columns = [name for name in rows[0] if name != key]
    quote = connection.dialect.identifier_preparer
    mark = _placeholder(connection)
    order = [*columns, key]
    cursor = _cursor(connection)
    try:
        cursor.executemany(
            f"UPDATE {quote.format_table(table)} SET "
            + ", ".join(f"{quote.quote(c)} = {mark}" for c in columns)
            + f" WHERE {quote.quote(key)} = {mark}",
            _values(rows, order, _converters(connection, table, order)),
        )
    finally:
        cursor.close()
    return len(rows)
