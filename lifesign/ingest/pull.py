"""`lifesign ingest pull SOURCE`: the new rows of a department's database, incrementally.

A source with a `pull:` section names a database (an SQLAlchemy URL, or `env:VARNAME` so that
the password stays out of files), a table or a query, and a watermark column: a value that
grows as rows are added or changed (an `updated_at` time, an increasing id). Each pull reads

    SELECT * FROM <table or (query)> WHERE <watermark> >= :last ORDER BY <watermark>

in chunks through a server-side cursor, skips the rows at exactly `:last` that an earlier pull
already took, and hands the rest to the ingestion pipeline as one batch. The new watermark is
written to `source_watermarks` by the pipeline's `on_commit` hook, inside the transaction that
commits the batch: a crash before that commit leaves the old watermark and no batch (the next
pull reads the same rows again); after it, both. Rows are never skipped nor counted twice.

Why `>=` and not `>`: rows sharing the watermark value of the last row taken may be committed
in the department's database after the pull read (two updates in the same second), and a
`--limit` may stop in the middle of such a group. So the watermark keeps, with the value, the
keys (record ids) of the rows taken at exactly that value; the next pull re-reads that value
and skips those keys. The set is as large as the number of rows sharing the last value: one
row for an increasing id, a handful for a timestamp.

The watermark is stored as JSON text keeping the value's type (`int`, `decimal`, `float`,
`str`, `date`, `datetime`) so that it is bound back as the very value the database returned:
a SQLite text timestamp is compared as the same text, a PostgreSQL timestamp as a timestamp.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, create_engine, insert, make_url, select, text, update
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from lifesign.errors import LifesignError, Location

if TYPE_CHECKING:
    import click

    from lifesign.ingest.pipeline import BatchReport, Ingestor
    from lifesign.ingest.readers import RawChunk
    from lifesign.ingest.sources import PullSpec, SourceDefinition

PULL_CHUNK_ROWS = 20_000
PULL_KIND = "pull"
PULL_ALIAS = "lifesign_pull"

WatermarkValue = int | Decimal | float | str | dt.date | dt.datetime


class PullError(LifesignError):
    """A pull could not be made: the database, the table or a column is not as defined."""


# ----------------------------------------------------------------------------- watermarks


def _type_name(value: WatermarkValue) -> str:
    # bool is an int and datetime a date: test the narrower types first.
    if isinstance(value, bool):
        raise TypeError("a true/false column cannot be a watermark")
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, int):
        return "int"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    raise TypeError(f"a value of type {type(value).__name__} cannot be a watermark")


_DECODERS: dict[str, Callable[[str], WatermarkValue]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "int": int,
    "decimal": Decimal,
    "float": float,
    "str": str,
}


def _encode_value(value: WatermarkValue) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Watermark:
    """How far a source's pull got: the last watermark value taken, and the keys of the rows
    taken at exactly that value (so that the next pull, reading `>=`, skips only those)."""

    value: WatermarkValue
    seen: frozenset[str] = frozenset()

    def encode(self) -> str:
        return json.dumps(
            {
                "type": _type_name(self.value),
                "value": _encode_value(self.value),
                "seen": sorted(self.seen),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, stored: str, source: str) -> Watermark:
        try:
            document = json.loads(stored)
            value = _DECODERS[document["type"]](document["value"])
            seen = frozenset(str(key) for key in document.get("seen", ()))
        except (ValueError, KeyError, TypeError) as error:
            raise PullError(
                "the stored watermark of this source is not readable",
                f"{type(error).__name__}: {error}; deleting the source's row in source_watermarks "
                "makes the next pull read every row again (re-sent records count as duplicates)",
                Location(key=f"source_watermarks[{source}]"),
            ) from None
        return cls(value, seen)

    def __str__(self) -> str:
        return _encode_value(self.value)


def read_watermark(connection: Connection, source: str) -> Watermark | None:
    """The source's watermark in the state database, or None before its first pull."""
    from lifesign.store.models import SourceWatermark

    stored = connection.execute(
        select(SourceWatermark.watermark).where(SourceWatermark.source == source)
    ).scalar_one_or_none()
    return None if stored is None else Watermark.decode(stored, source)


def save_watermark(
    connection: Connection,
    source: str,
    watermark: Watermark,
    batch_id: int | None,
    *,
    expected: Watermark | None,
) -> None:
    """Advance the source's watermark, in the caller's transaction.

    `expected` is the watermark the pull started from; if another pull of the same source
    committed meanwhile, the stored one differs and this raises, rolling the batch back.
    """
    from lifesign.store.models import SourceWatermark

    stored = connection.execute(
        select(SourceWatermark.watermark).where(SourceWatermark.source == source).with_for_update()
    ).scalar_one_or_none()
    current = None if stored is None else Watermark.decode(stored, source)
    if current != expected:
        raise PullError(
            "another pull of this source committed while this one ran",
            f"it started from {expected or 'the beginning'}, the database now says {current}; "
            "this pull is rolled back, run it again",
            Location(key=f"source_watermarks[{source}]"),
        )
    values = {
        "watermark": watermark.encode(),
        "batch_id": batch_id,
        "updated_at": dt.datetime.now(dt.UTC),
    }
    if stored is None:
        connection.execute(insert(SourceWatermark).values(source=source, **values))
    else:
        connection.execute(
            update(SourceWatermark).where(SourceWatermark.source == source).values(**values)
        )


# ----------------------------------------------------------------------------- the department


def resolve_url(spec: PullSpec, source: str) -> str:
    """The URL itself, or the value of the environment variable `env:VARNAME` names."""
    try:
        return spec.resolved_url()
    except LifesignError as error:
        raise PullError(error.what, error.why, Location(key=f"sources.{source}.pull.url")) from None


def redact(url: str) -> str:
    """The URL without its password: what batches, logs and reports show as the origin."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def department_engine(url: str, source: str) -> Engine:
    """An engine on the department's database (no settings changed there: it is theirs)."""
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as error:
        raise PullError(
            "the department database's URL is not valid",
            str(error),
            Location(key=f"sources.{source}.pull.url"),
        ) from None


def _quote_name(engine: Engine, dotted: str) -> str:
    """`schema.table` or `table`, each part quoted for the dialect (Chinese names allowed)."""
    preparer = engine.dialect.identifier_preparer
    return ".".join(preparer.quote_identifier(part) for part in dotted.split("."))


@dataclass(frozen=True)
class PullQuery:
    """The statement a pull runs against the department's database."""

    sql: str
    parameters: dict[str, Any]


def pull_query(engine: Engine, spec: PullSpec, since: Watermark | None) -> PullQuery:
    """`SELECT * FROM <table or (query)> WHERE wm >= :last ORDER BY wm[, order…]`."""
    preparer = engine.dialect.identifier_preparer
    if spec.table:
        relation = _quote_name(engine, spec.table)
    else:
        assert spec.query, "a pull has a table or a query (checked when sources are loaded)"
        relation = f"({spec.query.strip().rstrip(';')})"
    alias = preparer.quote_identifier(PULL_ALIAS)
    watermark = f"{alias}.{preparer.quote_identifier(spec.watermark_column)}"
    # The watermark first (the `>=` resumption relies on it), then any tie-breaking columns.
    tie_breakers = [c for c in spec.order_columns if c != spec.watermark_column]
    order = [watermark, *(f"{alias}.{preparer.quote_identifier(c)}" for c in tie_breakers)]
    sql = f"SELECT * FROM {relation} AS {alias} "
    parameters: dict[str, Any] = {}
    if since is None:
        sql += f"WHERE {watermark} IS NOT NULL "
    else:
        sql += f"WHERE {watermark} >= :last "
        parameters["last"] = since.value
    return PullQuery(sql + "ORDER BY " + ", ".join(order), parameters)


def count_without_watermark(engine: Engine, spec: PullSpec) -> int:
    """Rows whose watermark column is empty: a pull never takes them (reported, not hidden)."""
    preparer = engine.dialect.identifier_preparer
    relation = (
        _quote_name(engine, spec.table)
        if spec.table
        else f"({(spec.query or '').strip().rstrip(';')})"
    )
    alias = preparer.quote_identifier(PULL_ALIAS)
    column = preparer.quote_identifier(spec.watermark_column)
    with engine.connect() as connection:
        count = connection.execute(
            text(f"SELECT COUNT(*) FROM {relation} AS {alias} WHERE {alias}.{column} IS NULL")
        ).scalar_one()
    return int(count)


# ----------------------------------------------------------------------------- rows → chunks


def _text_of(value: Any) -> str | None:
    """A department value as the text the pipeline parses, like the file readers give it:
    trimmed, empty as null, times as ISO 8601 to the second (`iso8601` parses them)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        # The wall-clock time as the database session gives it: departments record local time.
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # a record id stored as a float
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def raw_json(row: Mapping[Any, Any]) -> str:
    """The department's record as compact JSON of its own column names (for quarantine)."""
    return json.dumps(dict(row), ensure_ascii=False, separators=(",", ":"), default=_json_default)


def row_key(row: Mapping[Any, Any], record_id_column: str, raw: str) -> str:
    """What identifies a row among those sharing a watermark value: its record id, else a
    hash of the whole record (a row without a record id is quarantined, but only once)."""
    record_id = _text_of(row.get(record_id_column))
    if record_id:
        return record_id
    return "sha1:" + hashlib.sha1(raw.encode("utf-8")).hexdigest()


def check_columns(source: SourceDefinition, columns: Sequence[str]) -> None:
    """Every column the definition maps, and the watermark column, is in the result."""
    assert source.pull is not None
    wanted = {**source.columns, "(watermark)": source.pull.watermark_column}
    missing = sorted(
        f"{column} (for {canonical})"
        for canonical, column in wanted.items()
        if column not in columns
    )
    if missing:
        raise PullError(
            "the department's table has no column of that name",
            f"missing: {', '.join(missing)}; it has: {', '.join(columns)}",
            Location(key=f"sources.{source.code}.columns"),
        )


def rows_to_chunk(
    source: SourceDefinition,
    rows: Sequence[Mapping[Any, Any]],
    raws: Sequence[str],
    first_position: int,
) -> RawChunk:
    """Rows of the department's database as a RawChunk: canonical columns as text, `row` the
    position in the pull (1 = the first row taken), `raw` the record as JSON."""
    from lifesign.ingest.readers import RawChunk, chunk_schema

    schema = chunk_schema(source)
    arrays: list[pa.Array] = []
    for name in schema.names:
        if name == "row":
            positions = range(first_position, first_position + len(rows))
            arrays.append(pa.array(positions, type=pa.int64()))
        elif name == "raw":
            arrays.append(pa.array(raws, type=pa.string()))
        elif name in source.columns:
            column = source.columns[name]
            arrays.append(pa.array([_text_of(row[column]) for row in rows], type=pa.string()))
        else:  # evidence_type of a source with a fixed type
            arrays.append(pa.array([source.fixed_type] * len(rows), type=pa.string()))
    return RawChunk(table=pa.Table.from_arrays(arrays, schema=schema), problems=[])


# ----------------------------------------------------------------------------- the pull


@dataclass
class PullProgress:
    """What the chunk generator learnt, read by `on_commit` once every row is consumed."""

    since: Watermark | None
    taken: int = 0
    skipped_seen: int = 0
    last: Watermark | None = None
    keys_at_last: set[str] = field(default_factory=set)

    def take(self, value: WatermarkValue, key: str) -> None:
        self.taken += 1
        if self.last is None or value != self.last.value:
            self.keys_at_last = set()
            if self.since is not None and value == self.since.value:
                # Still at the old value: the old keys stay seen.
                self.keys_at_last = set(self.since.seen)
        self.keys_at_last.add(key)
        self.last = Watermark(value)

    def new_watermark(self) -> Watermark | None:
        if self.last is None:
            return self.since
        return Watermark(self.last.value, frozenset(self.keys_at_last))


def _watermark_value(row: Mapping[Any, Any], column: str, source: str) -> WatermarkValue:
    value = row[column]
    try:
        _type_name(value)
    except TypeError as error:
        raise PullError(
            "the watermark column's values cannot be compared",
            f"{error}; use a number, date, time or text column",
            Location(key=f"sources.{source}.pull.watermark_column", field=column),
        ) from None
    assert isinstance(value, int | Decimal | float | str | dt.date)
    return value


def pulled_chunks(
    engine: Engine,
    source: SourceDefinition,
    progress: PullProgress,
    *,
    limit: int | None = None,
    chunk_rows: int = PULL_CHUNK_ROWS,
) -> Iterator[RawChunk]:
    """The rows new since `progress.since`, in watermark order, as RawChunks.

    One read-only transaction with a server-side cursor (PostgreSQL) so memory stays bounded
    and the rows are one consistent snapshot. `progress` records the watermark as rows go.
    """
    spec = source.pull
    assert spec is not None
    query = pull_query(engine, spec, progress.since)
    record_id_column = source.columns.get("record_id", "")
    since = progress.since
    try:
        with engine.connect() as connection:
            result = connection.execution_options(
                stream_results=True, yield_per=chunk_rows
            ).execute(text(query.sql), query.parameters)
            check_columns(source, list(result.keys()))
            for partition in result.mappings().partitions(chunk_rows):
                rows: list[Mapping[Any, Any]] = []
                raws: list[str] = []
                for row in partition:
                    if limit is not None and progress.taken >= limit:
                        break
                    value = _watermark_value(row, spec.watermark_column, source.code)
                    raw = raw_json(row)
                    key = row_key(row, record_id_column, raw)
                    if since is not None and value == since.value and key in since.seen:
                        progress.skipped_seen += 1
                        continue
                    progress.take(value, key)
                    rows.append(row)
                    raws.append(raw)
                if rows:
                    yield rows_to_chunk(source, rows, raws, progress.taken - len(rows) + 1)
                if limit is not None and progress.taken >= limit:
                    break
    except DBAPIError as error:
        raise PullError(
            "the department database refused the pull",
            str(error.orig).strip().splitlines()[0] if error.orig else str(error),
            Location(key=f"sources.{source.code}.pull"),
        ) from None


def _peek(chunks: Iterator[RawChunk]) -> tuple[RawChunk | None, Iterator[RawChunk]]:
    first = next(chunks, None)
    if first is None:
        return None, chunks

    def chained() -> Iterator[RawChunk]:
        yield first
        yield from chunks

    return first, chained()


@dataclass(frozen=True)
class PullResult:
    """What one pull did: from which watermark to which, and the batch's report if any."""

    source: str
    origin: str
    since: Watermark | None
    until: Watermark | None
    rows_taken: int
    rows_without_watermark: int
    report: BatchReport | None

    @property
    def nothing_new(self) -> bool:
        return self.report is None

    def summary(self) -> str:
        if self.report is None:
            since = f"since {self.since}" if self.since is not None else "(the table is empty)"
            return f"{self.source}: nothing new {since}"
        return (
            f"{self.source}: {self.rows_taken:,} row(s) pulled from {self.origin} "
            f"into batch {self.report.batch_id}; watermark {self.since or '(start)'} → "
            f"{self.until}"
        )


def pull_source(
    ingestor: Ingestor,
    source: SourceDefinition,
    *,
    limit: int | None = None,
    chunk_rows: int = PULL_CHUNK_ROWS,
) -> PullResult:
    """Pull what is new in `source`'s database, ingest it as one batch, advance the watermark.

    The state database is the ingestor's; the watermark moves in the batch's transaction.
    """
    if source.pull is None:
        raise PullError(
            "this source is not pulled from a database",
            "its definition has no pull: section (url, table or query, watermark_column)",
            Location(key=f"sources.{source.code}"),
        )
    url = resolve_url(source.pull, source.code)
    origin = redact(url)
    # A crash after an earlier pull's commit leaves its files staged: publish them before
    # concluding that there is nothing new.
    ingestor.recover()
    department = department_engine(url, source.code)
    try:
        with ingestor.engine.connect() as connection:
            since = read_watermark(connection, source.code)
        progress = PullProgress(since=since)
        first, chunks = _peek(
            pulled_chunks(department, source, progress, limit=limit, chunk_rows=chunk_rows)
        )
        without_watermark = count_without_watermark(department, source.pull)
        if first is None:
            return PullResult(source.code, origin, since, since, 0, without_watermark, None)

        def advance_watermark(connection: Connection) -> None:
            new = progress.new_watermark()
            assert new is not None
            batch_id = committing_pull_batch(connection, source.code)
            save_watermark(connection, source.code, new, batch_id, expected=since)

        report = ingestor.ingest_chunks(
            source,
            chunks,
            kind=PULL_KIND,
            origin=origin,
            content_hash=None,
            on_commit=advance_watermark,
        )
        return PullResult(
            source.code,
            origin,
            since,
            progress.new_watermark(),
            progress.taken,
            without_watermark,
            report,
        )
    finally:
        department.dispose()


def committing_pull_batch(connection: Connection, source: str) -> int | None:
    """The batch being committed in `connection`'s transaction: the newest committed pull
    batch of the source (the pipeline lets one writer per source at a time, and `on_commit`
    runs after the batch row is marked committed in the same transaction)."""
    from lifesign.store.models import Batch

    found = connection.execute(
        select(Batch.batch_id)
        .where(Batch.source == source, Batch.kind == PULL_KIND, Batch.status == "committed")
        .order_by(Batch.batch_id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def run_pull_command(
    ctx: click.Context, source_code: str, *, as_of: dt.date | None, limit: int | None
) -> None:
    """The body of `lifesign ingest pull`."""
    import click

    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.sources import load_sources

    settings = settings_of(ctx)
    catalog = load_catalog(settings.catalog_dir)
    sources = load_sources(None, catalog)
    source = sources.get(source_code)
    if source is None:
        pulled = sorted(code for code, s in sources.items() if s.pull is not None)
        raise PullError(
            f"no source is called {source_code!r}",
            "sources with a pull: section: " + (", ".join(pulled) or "none"),
            Location(key="SOURCE"),
        )
    ingestor = Ingestor(settings, catalog, sources, as_of)
    result = pull_source(ingestor, source, limit=limit)
    click.echo(result.summary())
    if result.rows_without_watermark:
        click.echo(
            f"note: {result.rows_without_watermark:,} row(s) have no "
            f"{source.pull.watermark_column if source.pull else 'watermark'} value and are "
            "never pulled"
        )


__all__ = [
    "PullError",
    "PullResult",
    "Watermark",
    "pull_source",
    "read_watermark",
    "save_watermark",
]
