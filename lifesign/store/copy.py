"""`lifesign db copy`: the state database moved from the embedded SQLite into PostgreSQL.

A city that outgrows the embedded default copies its home's SQLite file into an empty
PostgreSQL database, then points `LIFESIGN_DATABASE_URL` at it. The copy:

1. refuses a source that is not at this lifesign's newest migration (the two schemas must be
   the same to copy column by column) and a target that already holds rows, unless `replace`;
2. upgrades the target to the newest migration (what `open_database` does);
3. in ONE PostgreSQL transaction (a failed copy leaves the target empty, as the migrations
   made it): disables the target's user triggers (the tables they maintain are copied as the
   source's own triggers left them; firing them again per row would count things twice),
   truncates every table, drops the secondary indexes, unique and foreign-key constraints
   (as pg_restore does, they are built once over the loaded rows — a sort per index and a
   join per foreign key instead of a B-tree insert and a lookup per row: the copy of a
   Bozhou-scale home takes about half the time), streams each table of the schema's metadata
   in foreign-key order from one SQLite read transaction (a consistent snapshot) through
   `COPY ... FROM STDIN (FREEZE)` in chunks, builds the indexes and constraints again from
   their own definitions, sets every sequence past the copied ids, checks the row counts of
   every table against the source's, re-enables the triggers and analyzes the tables (the
   planner's statistics: a fresh copy has none until autovacuum comes by).

Values go as SQLite holds them (text dates and times, 0/1 booleans, JSON text, REAL numerics)
through PostgreSQL's text input, which reads each of them as its column's type; stored times
are UTC (the platform writes aware UTC times and SQLite keeps them without an offset), so the
copy's session runs in UTC. COPY FREEZE writes the rows already frozen and visible (no
vacuum needed before index-only scans), which PostgreSQL allows because the tables are
truncated in the same transaction.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml
from sqlalchemy import URL, Connection, Table, make_url, text
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from lifesign.errors import LifesignError, Location
from lifesign.store.database import head_revision, make_engine, migrate, redacted_url
from lifesign.store.schema import metadata

# Rows fetched from SQLite and written to the COPY stream at a time: bounds the memory a table
# takes whatever its size (Bozhou: 1.4-1.8 M rows in each of the biggest tables).
CHUNK_ROWS = 10_000
# Tables named in the refusal of a target that holds data (the rest are counted).
NAMED_TABLES = 5
PARAMETERS_FILE = Path(__file__).parent / "data" / "copy.yaml"


class DatabaseCopyError(LifesignError):
    """The copy cannot start (source, target) or its result does not match the source."""


@dataclass(frozen=True)
class TableCopied:
    """One table copied: its name, the rows written and the seconds it took."""

    table: str
    rows: int
    seconds: float


@dataclass(frozen=True)
class CopyResult:
    """What `copy_database` did."""

    revision: str
    tables: tuple[TableCopied, ...]
    sequences: int  # sequences set past the copied ids
    triggers: tuple[str, ...]  # "table.trigger" disabled during the copy, enabled again
    seconds: float

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


Progress = Callable[[str], None]


def copy_database(
    source_url: str,
    target_url: str,
    *,
    replace: bool = False,
    progress: Progress | None = None,
    on_table: Callable[[TableCopied], None] | None = None,
    lock_wait: float | None = None,
) -> CopyResult:
    """Copy every table of the SQLite database at `source_url` into the PostgreSQL database
    at `target_url` (upgraded to the newest migration first). `replace`: empty a target that
    holds rows instead of refusing it. `progress` receives a line per step, `on_table` each
    table once copied; `lock_wait`: seconds to wait for the target's tables (default:
    data/copy.yaml)."""
    say = progress or (lambda _line: None)
    started = time.perf_counter()
    wait = lock_wait_seconds() if lock_wait is None else lock_wait
    source_path = _sqlite_file(source_url)
    _require_postgresql(target_url)
    head = head_revision()
    assert head is not None, "the package ships its migrations"
    source_revision = _sqlite_revision(source_path)
    if source_revision != head:
        raise DatabaseCopyError(
            "the source database is not at this lifesign's newest migration",
            f"it is at {source_revision or '(no migration)'}, the newest is {head}; the copy "
            "goes column by column into a schema at the newest migration, so upgrade the "
            "source first (`lifesign db upgrade`) or copy with the lifesign that made it",
            Location(key=redacted_url(source_url)),
        )
    target = make_engine(target_url)
    try:
        say(f"upgrading the target to migration {head}")
        migrate(target)
        with closing(sqlite3.connect(source_path, isolation_level=None)) as source:
            source.execute("PRAGMA query_only = ON")
            source.execute("BEGIN")  # one snapshot of every table (WAL: writers may go on)
            with target.connect() as connection, connection.begin():
                copied, sequences, triggers = _copy_tables(
                    source, connection, target_url, replace, wait, say, on_table
                )
            source.execute("COMMIT")
    finally:
        target.dispose()
    return CopyResult(
        revision=head,
        tables=tuple(copied),
        sequences=sequences,
        triggers=tuple(f"{table}.{trigger}" for table, trigger in triggers),
        seconds=time.perf_counter() - started,
    )


def _copy_tables(
    source: sqlite3.Connection,
    connection: Connection,
    target_url: str,
    replace: bool,
    lock_wait: float,
    say: Progress,
    on_table: Callable[[TableCopied], None] | None,
) -> tuple[list[TableCopied], int, list[tuple[str, str]]]:
    """The copy proper, inside the target's transaction: the tables copied, the sequences
    set, the triggers switched off and on again."""
    tables = metadata.sorted_tables
    connection.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    names = ", ".join(_quoted(table.name) for table in tables)
    _lock_tables(connection, names, lock_wait, target_url)
    _refuse_held_data(connection, tables, target_url, replace)
    triggers = _user_triggers(connection, tables)
    _switch_triggers(connection, triggers, "DISABLE")
    if triggers:
        say(f"{len(triggers)} trigger(s) disabled during the copy")
    connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
    deferred = _defer_indexes(connection, tables)
    copied: list[TableCopied] = []
    for table in tables:
        done = _copy_table(source, connection, table)
        copied.append(done)
        if on_table is not None:
            on_table(done)
    built = time.perf_counter()
    _restore_indexes(connection, deferred, target_url)
    say(
        f"{len(deferred)} indexes and constraints built over the copied rows in "
        f"{time.perf_counter() - built:.1f} s"
    )
    sequences = _set_sequences(connection, tables)
    say(f"{sequences} sequences set past the copied ids")
    _check_counts(source, connection, copied, target_url)
    say(f"row counts match the source's in all {len(copied)} tables")
    _switch_triggers(connection, triggers, "ENABLE")
    for table in tables:
        connection.exec_driver_sql(f"ANALYZE {_quoted(table.name)}")
    say("tables analyzed (the planner's statistics)")
    return copied, sequences, triggers


# ------------------------------------------------------------------------ source and target


def _parsed_url(url: str, side: str, key: str) -> URL:
    """`url` parsed; an unparsable one is the copy's error on its `side` (source, target)."""
    try:
        return make_url(url)
    except ArgumentError as error:
        raise DatabaseCopyError(
            f"the {side} database URL is not valid", str(error), Location(key=key)
        ) from None


def _sqlite_file(url: str) -> Path:
    """The SQLite file of `url`, which must exist (the copy never creates a source)."""
    parsed = _parsed_url(url, "source", "database URL")
    if parsed.get_backend_name() != "sqlite":
        raise DatabaseCopyError(
            "the source database is not SQLite",
            "`lifesign db copy` moves the embedded default to PostgreSQL; between two "
            "PostgreSQL databases use pg_dump and pg_restore",
            Location(key=redacted_url(url)),
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or not Path(database).is_file():
        raise DatabaseCopyError(
            "there is no SQLite database to copy",
            f"no file at {database or '(no path)'}; give the home that holds it (--home)",
            Location(file=database or None, key=None if database else redacted_url(url)),
        )
    return Path(database)


def _require_postgresql(url: str) -> None:
    backend = _parsed_url(url, "target", "--to").get_backend_name()
    if backend != "postgresql":
        raise DatabaseCopyError(
            "the target database is not PostgreSQL",
            f"it is {backend}; give postgresql+psycopg://user:password@host:5432/dbname",
            Location(key=redacted_url(url)),
        )


def _sqlite_revision(path: Path) -> str | None:
    """The migration the SQLite file is at, read without changing it."""
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:  # no alembic_version: never migrated
            return None
    return str(row[0]) if row else None


def _quoted(name: str) -> str:
    """An identifier quoted for both SQLite and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def lock_wait_seconds(path: Path = PARAMETERS_FILE) -> float:
    """How long the copy waits for the target's locks (data/copy.yaml says why)."""
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DatabaseCopyError(
            "cannot read the copy's parameters", str(error), Location(file=str(path))
        ) from None
    value = document.get("lock_wait_seconds") if isinstance(document, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise DatabaseCopyError(
            "lock_wait_seconds must be a positive number of seconds",
            f"found {value!r}",
            Location(file=str(path), key="lock_wait_seconds"),
        )
    return float(value)


def _lock_tables(connection: Connection, names: str, wait: float, target_url: str) -> None:
    """Every table of the target to this copy alone, or a refusal after a short wait: a
    server or a daily run still using the target would otherwise make the copy wait for it
    forever (or read a half-copied state)."""
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(wait * 1000))}")
    try:
        connection.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
    except OperationalError as error:
        raise DatabaseCopyError(
            "the target database is in use",
            f"another connection held a lock on its tables for {wait:g} s ("
            + (str(error.orig).strip().splitlines()[0] if error.orig else "lock not available")
            + "); stop what uses it (`lifesign serve`, the daily run, a psql session in a "
            "transaction) and copy again",
            Location(key=redacted_url(target_url)),
        ) from None
    connection.exec_driver_sql("SET LOCAL lock_timeout = 0")  # all held: no more waits


def _refuse_held_data(
    connection: Connection, tables: Sequence[Table], target_url: str, replace: bool
) -> None:
    held = [
        table.name
        for table in tables
        if connection.exec_driver_sql(
            f"SELECT EXISTS (SELECT 1 FROM {_quoted(table.name)})"
        ).scalar_one()
    ]
    if not held or replace:
        return
    named = ", ".join(held[:NAMED_TABLES])
    more = f" and {len(held) - NAMED_TABLES} more" if len(held) > NAMED_TABLES else ""
    raise DatabaseCopyError(
        "the target database already holds data",
        f"{len(held)} table(s) have rows ({named}{more}); copying into them would mix two "
        "states. Give an empty database, or --replace to empty every table first",
        Location(key=redacted_url(target_url)),
    )


# The target schema's enabled user triggers (not the internal ones that check foreign keys).
_TRIGGERS = text(
    "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    " WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'"
    " AND c.relnamespace = current_schema()::regnamespace ORDER BY 1, 2"
)


def _user_triggers(connection: Connection, tables: Sequence[Table]) -> list[tuple[str, str]]:
    names = {table.name for table in tables}
    return [(row[0], row[1]) for row in connection.execute(_TRIGGERS) if row[0] in names]


def _switch_triggers(connection: Connection, triggers: Sequence[tuple[str, str]], how: str) -> None:
    """`how` (DISABLE or ENABLE) each (table, trigger), by name: only those the copy found
    enabled are enabled again."""
    for table, trigger in triggers:
        connection.exec_driver_sql(f"ALTER TABLE {_quoted(table)} {how} TRIGGER {_quoted(trigger)}")


# ----------------------------------------------------------------------------------- copying


@dataclass(frozen=True)
class Deferred:
    """An index or constraint dropped for the load and made again after it."""

    table: str
    name: str
    kind: str  # "index", "unique", "foreign key"
    definition: str  # CREATE INDEX ... or the constraint's definition


# The target schema's indexes that back no primary-key, unique or exclusion constraint.
_INDEXES = text(
    "SELECT c.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
    " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid"
    " WHERE c.relnamespace = current_schema()::regnamespace AND NOT EXISTS ("
    "   SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = c.oid"
    "   AND k.contype IN ('p', 'u', 'x'))"
    " ORDER BY 1, 2"
)
# Its foreign-key ('f', first: they may depend on a unique one) and unique ('u') constraints.
_CONSTRAINTS = text(
    "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) FROM pg_constraint k"
    " JOIN pg_class c ON c.oid = k.conrelid"
    " WHERE c.relnamespace = current_schema()::regnamespace AND k.contype IN ('f', 'u')"
    " ORDER BY k.contype, 1, 2"
)
_CONSTRAINT_KINDS = {"f": "foreign key", "u": "unique"}


def _defer_indexes(connection: Connection, tables: Sequence[Table]) -> list[Deferred]:
    """Drop the tables' secondary indexes and unique and foreign-key constraints (primary
    keys stay: rows come in key order, so theirs is appended to); what was dropped, in the
    order to make it again."""
    names = {table.name for table in tables}
    dropped: list[Deferred] = []
    for table, name, kind, definition in connection.execute(_CONSTRAINTS):
        if table in names:
            connection.exec_driver_sql(
                f"ALTER TABLE {_quoted(table)} DROP CONSTRAINT {_quoted(name)}"
            )
            dropped.append(Deferred(table, name, _CONSTRAINT_KINDS[kind], definition))
    for table, name, definition in connection.execute(_INDEXES):
        if table in names:
            connection.exec_driver_sql(f"DROP INDEX {_quoted(name)}")
            dropped.append(Deferred(table, name, "index", definition))
    return dropped[::-1]  # indexes, then unique constraints, then the foreign keys


def _restore_indexes(connection: Connection, deferred: Sequence[Deferred], target_url: str) -> None:
    for item in deferred:
        statement = (
            item.definition
            if item.kind == "index"
            else f"ALTER TABLE {_quoted(item.table)} ADD CONSTRAINT {_quoted(item.name)}"
            f" {item.definition}"
        )
        try:
            connection.exec_driver_sql(statement)
        except IntegrityError as error:  # the transaction is rolled back: the target stays empty
            raise DatabaseCopyError(
                f"the source's rows break the {item.kind} {item.name} of table {item.table}",
                str(error.orig).strip().splitlines()[0] if error.orig else str(error),
                Location(key=redacted_url(target_url)),
            ) from None


def _copy_table(source: sqlite3.Connection, connection: Connection, table: Table) -> TableCopied:
    """Stream one table from SQLite into PostgreSQL's COPY, CHUNK_ROWS at a time."""
    started = time.perf_counter()
    columns = ", ".join(_quoted(column.name) for column in table.columns)
    key = ", ".join(_quoted(column.name) for column in table.primary_key.columns)
    # in key order: PostgreSQL's heap then follows the key, as SQLite's rowid tables do
    order = f" ORDER BY {key}" if key else ""
    rows = source.execute(f"SELECT {columns} FROM {_quoted(table.name)}{order}")
    raw: Any = connection.connection.driver_connection
    written = 0
    try:
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {_quoted(table.name)} ({columns}) FROM STDIN (FREEZE)") as stream,
        ):
            while chunk := rows.fetchmany(CHUNK_ROWS):
                for row in chunk:
                    stream.write_row(row)
                written += len(chunk)
    except (psycopg.DataError, psycopg.IntegrityError) as error:
        raise _unfit_row(table.name, error) from None
    return TableCopied(table.name, written, time.perf_counter() - started)


# "COPY people, line 7, column phone: "13800..."": where the row is, without its value
_COPY_CONTEXT = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?")


def _unfit_row(table: str, error: psycopg.Error) -> DatabaseCopyError:
    """What PostgreSQL refused (SQLite does not enforce a text's length, for one): the table,
    the row's place in key order and the column — never the value, which may be an ID
    number or a phone."""
    found = _COPY_CONTEXT.search(error.diag.context or "")
    return DatabaseCopyError(
        f"a row of table {table} does not fit the target's schema (nothing was kept)",
        error.diag.message_primary or type(error).__name__,
        Location(
            key=table,
            line=int(found.group(1)) if found else None,
            field=found.group(2) if found and found.group(2) else None,
        ),
    )


# Every sequence that feeds a column of the target schema (serial and identity columns alike).
_SEQUENCES = text(
    "SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(c.relname), a.attname)"
    " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
    " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
    " AND a.attnum > 0 AND NOT a.attisdropped"
    " AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL"
)


def _set_sequences(connection: Connection, tables: Sequence[Table]) -> int:
    """Each sequence's next value set to one past its column's copied maximum (1 if empty)."""
    names = {table.name for table in tables}
    owned = [(r[0], r[1], r[2]) for r in connection.execute(_SEQUENCES) if r[0] in names]
    for table_name, column, sequence in owned:
        connection.execute(
            text(
                f"SELECT setval(:sequence, COALESCE(MAX({_quoted(column)}), 0) + 1, false)"
                f" FROM {_quoted(table_name)}"
            ),
            {"sequence": sequence},
        )
    return len(owned)


def _check_counts(
    source: sqlite3.Connection,
    connection: Connection,
    copied: Sequence[TableCopied],
    target_url: str,
) -> None:
    """Every table holds as many rows in the target as in the source's snapshot."""
    wrong: list[str] = []
    for done in copied:
        table = _quoted(done.table)
        in_source = int(source.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        in_target = int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
        if not in_source == in_target == done.rows:
            wrong.append(f"{done.table}: {in_source} in the source, {in_target} copied")
    if wrong:
        raise DatabaseCopyError(
            "the copy's row counts do not match the source's (nothing was kept)",
            "; ".join(wrong),
            Location(key=redacted_url(target_url)),
        )
