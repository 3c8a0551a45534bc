"""The tables a fraud rule reads, in one DuckDB connection beside the evidence lake.

`build_context(settings, engine, catalog, as_of)` opens the lake (view `evidence`, see
lifesign.ingest.lake) and registers, as Arrow tables read column by column from the state
database, everything dated on or before the as-of date:

- `people`: person_id, birth_date, registry_certified_on (people.last_certified_on, when the
  registry has that column)
- `enrollments`: enrollment_id, external_ref, person_id, program, start_date, end_date,
  monthly_cents, status
- `payments`: enrollment_id, period ('YYYY-MM'), period_start (date), amount_cents, paid_on —
  paid on or before the as-of date
- `person_state`: person_id, status, death_date, last_certified_on, valid_until,
  last_strong_event, last_weak_event (empty before the first certification pass)
- `decisions`: person_id, enrollment_id, kind, effective_date, decided_on, rule — decided on or
  before the as-of date
- `cases`: case_id, kind, rule, person_id, enrollment_id, status, amount_cents
- `evidence_types` (code, strength, establishes), `programs` (code,
  certification_period_months), `program_amounts` (program, effective_from, effective_until,
  min_age, amount_cents: the age tiers), `program_exclusions` (program, excluded; both
  directions of each `excludes`) — from the catalog

The lake is not read whole (it was, every month: the largest cost of a replayed year). The
rules look at it through:

- `evidence_facts` (person_id, last_strong, first_death, last_weak): per person, the latest
  strong *alive* record, the earliest strong death record and the latest weak record dated by
  the end of the as-of day. Taken from the certification pass's per-person summary (table
  `evidence_summary`, kept batch by batch by lifesign.certify) and merged with the records of
  the batches the pass has not applied yet — the only lake files read. When the pass has run
  as of a later date than the scan (a scan of the past), the summary says too much and the
  facts are computed from the whole lake instead.
- `weak_records` (person_id, evidence_type, event_time, source, record_id): the weak records
  of a few flagged persons, each from its own lower bound, loaded by a rule that needs them
  (`ScanContext.load_weak_records`) from the scan's weak store (lifesign.integrity.weak_store:
  the lake's weak records in a few person-sorted files, brought up to date batch by batch), so
  only the row groups whose `person_id` statistics can hold a flagged person are read.
- `evidence`: a view over the whole lake, for a plugin's rule that needs more; reading it
  reads the lake (the built-in rules do not).

Amounts are integer fen (`*_cents`) so that every comparison is exact.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, inspect, text

from lifesign.catalog import Catalog
from lifesign.config import Settings
from lifesign.ingest.lake import parquet_list
from lifesign.integrity.rules import ScanContext
from lifesign.integrity.thresholds import load_scan_parameters, load_thresholds, thresholds_path

FETCH_ROWS = 50_000  # rows per fetch: bounded memory, few round trips

PEOPLE = pa.schema(
    [
        ("person_id", pa.int64()),
        ("birth_date", pa.date32()),
        ("registry_certified_on", pa.date32()),
    ]
)
ENROLLMENTS = pa.schema(
    [
        ("enrollment_id", pa.int64()),
        ("external_ref", pa.string()),
        ("person_id", pa.int64()),
        ("program", pa.string()),
        ("start_date", pa.date32()),
        ("end_date", pa.date32()),
        ("monthly_cents", pa.int64()),
        ("status", pa.string()),
    ]
)
PAYMENTS = pa.schema(
    [
        ("enrollment_id", pa.int64()),
        ("period", pa.string()),
        ("amount_cents", pa.int64()),
        ("paid_on", pa.date32()),
    ]
)
PERSON_STATE = pa.schema(
    [
        ("person_id", pa.int64()),
        ("status", pa.string()),
        ("death_date", pa.date32()),
        ("last_certified_on", pa.date32()),
        ("valid_until", pa.date32()),
        ("last_strong_event", pa.date32()),
        ("last_weak_event", pa.date32()),
    ]
)
CASES = pa.schema(
    [
        ("case_id", pa.int64()),
        ("kind", pa.string()),
        ("rule", pa.string()),
        ("person_id", pa.int64()),
        ("enrollment_id", pa.int64()),
        ("status", pa.string()),
        ("amount_cents", pa.int64()),
    ]
)
DECISIONS = pa.schema(
    [
        ("person_id", pa.int64()),
        ("enrollment_id", pa.int64()),
        ("kind", pa.string()),
        ("effective_date", pa.date32()),
        ("decided_on", pa.date32()),
        ("rule", pa.string()),
    ]
)


def _column(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """One column from DB-API values: SQLite gives dates as ISO text, PostgreSQL as dates."""
    if pa.types.is_date32(kind):
        array = pa.array(values)  # text, dates, or nothing but NULLs
        if pa.types.is_null(array.type):
            return pa.nulls(len(values), kind)
        if pa.types.is_string(array.type):
            array = pc.utf8_slice_codeunits(array, 0, 10)
        return array.cast(kind)
    return pa.array(values, kind)


def read_arrow(connection: Connection, sql: str, schema: pa.Schema, **params: Any) -> pa.Table:
    """The rows of `sql` as an Arrow table of `schema`, fetched in chunks from the driver's
    cursor (plain tuples, no row objects) and built column by column."""
    cursor = connection.execute(text(sql), params).cursor
    batches: list[pa.RecordBatch] = []
    while rows := cursor.fetchmany(FETCH_ROWS):
        columns = list(zip(*rows, strict=True))
        batches.append(
            pa.record_batch(
                [_column(columns[i], f.type) for i, f in enumerate(schema)], schema=schema
            )
        )
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches, schema=schema)


# Money as integer fen, computed by the database (exact on PostgreSQL's numeric; SQLite keeps
# two-decimal amounts well inside a double's precision, and ROUND removes its binary noise).
def _cents(column: str) -> str:
    return f"CAST(ROUND({column} * 100) AS BIGINT)"


def state_tables(connection: Connection, as_of: dt.date) -> dict[str, pa.Table]:
    """The registry and certification state as of `as_of`, as Arrow tables."""
    tables = set(inspect(connection).get_table_names())
    people_columns = {c["name"] for c in inspect(connection).get_columns("people")}
    certified = "last_certified_on" if "last_certified_on" in people_columns else "NULL"
    out = {
        "people": read_arrow(
            connection,
            f"SELECT person_id, birth_date, {certified} FROM people ORDER BY person_id",
            PEOPLE,
        ),
        "enrollments": read_arrow(
            connection,
            "SELECT enrollment_id, external_ref, person_id, program, start_date, end_date, "
            f"{_cents('monthly_amount')}, status FROM enrollments ORDER BY enrollment_id",
            ENROLLMENTS,
        ),
        "payments": read_arrow(
            connection,
            f"SELECT enrollment_id, period, {_cents('amount')}, paid_on FROM payments "
            "WHERE paid_on <= :as_of ORDER BY enrollment_id, period",
            PAYMENTS,
            as_of=as_of,
        ),
    }
    out["person_state"] = (
        read_arrow(
            connection,
            "SELECT person_id, status, death_date, last_certified_on, valid_until, "
            "last_strong_event, last_weak_event FROM person_state",
            PERSON_STATE,
        )
        if "person_state" in tables
        else PERSON_STATE.empty_table()
    )
    out["decisions"] = (
        read_arrow(
            connection,
            "SELECT person_id, enrollment_id, kind, effective_date, decided_on, rule "
            "FROM decisions WHERE decided_on <= :as_of",
            DECISIONS,
            as_of=as_of,
        )
        if "decisions" in tables
        else DECISIONS.empty_table()
    )
    out["cases"] = read_arrow(
        connection,
        "SELECT case_id, kind, rule, person_id, enrollment_id, status, "
        f"{_cents('amount')} FROM cases",
        CASES,
    )
    return out


def catalog_tables(catalog: Catalog) -> dict[str, pa.Table]:
    """The parts of the catalog the rules join on, as small Arrow tables."""
    types = list(catalog.evidence_types.values())
    programs = list(catalog.programs.values())
    amounts = [(p.code, rule) for p in programs for rule in p.amounts]
    exclusions = sorted(
        {(p.code, other) for p in programs for other in p.excludes}
        | {(other, p.code) for p in programs for other in p.excludes}
    )
    return {
        "evidence_types": pa.table(
            {
                "code": [t.code for t in types],
                "strength": [t.strength for t in types],
                "establishes": [t.establishes for t in types],
            }
        ),
        "programs": pa.table(
            {
                "code": [p.code for p in programs],
                "certification_period_months": pa.array(
                    [p.certification_period_months for p in programs], pa.int32()
                ),
            }
        ),
        "program_amounts": pa.table(
            {
                "program": pa.array([code for code, _ in amounts], pa.string()),
                "effective_from": pa.array([r.effective_from for _, r in amounts], pa.date32()),
                "effective_until": pa.array([r.effective_until for _, r in amounts], pa.date32()),
                "min_age": pa.array([r.min_age for _, r in amounts], pa.int32()),
                "amount_cents": pa.array(
                    [int((r.amount * 100).to_integral_value()) for _, r in amounts], pa.int64()
                ),
            }
        ),
        "program_exclusions": pa.table(
            {
                "program": pa.array([a for a, _ in exclusions], pa.string()),
                "excluded": pa.array([b for _, b in exclusions], pa.string()),
            }
        ),
    }


# Spark's ADD_MONTHS (same end-of-month rule: 31 January + 1 month = 28/29 February), which
# DuckDB lacks; the rules' SQL then transpiles to Spark unchanged. DATE_ADD(date, days) exists
# in both.
ADD_MONTHS_MACRO = (
    "CREATE OR REPLACE MACRO add_months(d, n) AS CAST(d + to_months(CAST(n AS INTEGER)) AS DATE)"
)


def register_tables(duck: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Each Arrow table as a DuckDB view of the same name (payments gain `period_start`), and
    the date functions the rules use."""
    duck.execute(ADD_MONTHS_MACRO)
    for name, table in tables.items():
        duck.register(f"_arrow_{name}", table)
        if name == "payments":
            duck.execute(
                "CREATE OR REPLACE VIEW payments AS SELECT *, "
                "CAST(period || '-01' AS DATE) AS period_start FROM _arrow_payments"
            )
        else:
            duck.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM _arrow_{name}")


def context_over(
    duck: duckdb.DuckDBPyConnection,
    engine: Engine,
    catalog: Catalog,
    as_of: dt.date,
    thresholds: dict[str, dict[str, Any]] | None = None,
    *,
    facts: bool = True,
) -> ScanContext:
    """A context on a DuckDB connection that already has an `evidence` view (the lake, or a
    test's own records); `facts`: compute `evidence_facts` from that view."""
    with engine.connect() as connection:
        tables = state_tables(connection, as_of)
    tables.update(catalog_tables(catalog))
    register_tables(duck, tables)
    if facts:
        facts_from(duck, "evidence", as_of)
    if thresholds is None:
        thresholds = load_thresholds(thresholds_path(catalog.directory))
    return ScanContext(as_of=as_of, catalog=catalog, duck=duck, thresholds=thresholds)


# Per-person facts of a set of evidence records (the relation is formatted in). Portable SQL:
# CASE inside MIN/MAX, a literal time bound.
FACTS_SQL = """
SELECT e.person_id,
       MAX(CASE WHEN t.strength = 'strong' AND t.establishes = 'alive'
                THEN e.event_time END) AS last_strong,
       MIN(CASE WHEN t.strength = 'strong' AND t.establishes = 'deceased'
                THEN e.event_time END) AS first_death,
       MAX(CASE WHEN t.strength = 'weak' THEN e.event_time END) AS last_weak
FROM {records} e
JOIN evidence_types t ON t.code = e.evidence_type
WHERE e.person_id IS NOT NULL AND e.event_time < {end}
GROUP BY e.person_id
"""

FACTS = pa.schema(
    [
        ("person_id", pa.int64()),
        ("last_strong", pa.timestamp("s")),
        ("first_death", pa.timestamp("s")),
        ("last_weak", pa.timestamp("s")),
    ]
)


def end_literal(as_of: dt.date) -> str:
    """The first instant after the as-of day, as a SQL timestamp literal (a literal bound lets
    Parquet skip row groups; a bound from a subquery is not pushed down)."""
    return f"TIMESTAMP '{as_of + dt.timedelta(days=1):%Y-%m-%d} 00:00:00'"


def facts_from(duck: duckdb.DuckDBPyConnection, records: str, as_of: dt.date) -> None:
    """Table `evidence_facts` computed from every record of the relation `records`."""
    sql = FACTS_SQL.format(records=records, end=end_literal(as_of))
    duck.execute(f"CREATE OR REPLACE TABLE evidence_facts AS {sql}")


@dataclass(frozen=True)
class SummaryState:
    """What the certification pass has folded into `evidence_summary`."""

    usable: bool  # no pass ran as of a date after the scan's
    unapplied: tuple[int, ...]  # committed evidence batches not (completely) applied


def summary_state(connection: Connection, as_of: dt.date) -> SummaryState:
    tables = set(inspect(connection).get_table_names())
    if not {"evidence_summary", "applied_batches"} <= tables:
        return SummaryState(False, ())
    latest = connection.execute(
        text(
            "SELECT MAX(d) FROM (SELECT MAX(applied_on) AS d FROM applied_batches "
            "UNION ALL SELECT MAX(as_of) AS d FROM evidence_summary) x"
        )
    ).scalar()
    if latest is not None and _as_date(latest) > as_of:
        return SummaryState(False, ())
    unapplied = connection.execute(
        text(
            "SELECT b.batch_id FROM batches b WHERE b.status = 'committed' "
            "AND b.kind IN ('file', 'pull', 'push', 'retry') AND NOT EXISTS ("
            "SELECT 1 FROM applied_batches a WHERE a.batch_id = b.batch_id AND a.complete = :yes)"
        ),
        {"yes": True},
    ).scalars()
    return SummaryState(True, tuple(sorted(int(b) for b in unapplied)))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def summary_facts(connection: Connection) -> pa.Table:
    """`evidence_facts` as the certification pass's summary holds them."""
    return read_arrow_times(
        connection,
        "SELECT person_id, strong_time, death_first_time, weak_time FROM evidence_summary "
        "WHERE strong_time IS NOT NULL OR death_first_time IS NOT NULL OR weak_time IS NOT NULL",
        FACTS,
    )


def read_arrow_times(connection: Connection, sql: str, schema: pa.Schema) -> pa.Table:
    """Like `read_arrow`, for timestamp columns (SQLite gives them as ISO text)."""
    result = connection.execute(text(sql))
    batches: list[pa.RecordBatch] = []
    while rows := result.fetchmany(FETCH_ROWS):
        columns = list(zip(*rows, strict=True))
        arrays = []
        for values, f in zip(columns, schema, strict=True):
            if pa.types.is_timestamp(f.type):
                values = tuple(
                    dt.datetime.fromisoformat(v) if isinstance(v, str) else v for v in values
                )
            arrays.append(pa.array(values, f.type))
        batches.append(pa.record_batch(arrays, schema=schema))
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches, schema=schema)


def incremental_facts(
    duck: duckdb.DuckDBPyConnection,
    connection: Connection,
    lake_dir: Path,
    state: SummaryState,
    as_of: dt.date,
) -> int:
    """`evidence_facts` from the pass's summary and the batches it has not applied yet; the
    number of lake files read."""
    from lifesign.ingest.lake import batch_files, parquet_list

    duck.register("_summary_facts", summary_facts(connection))
    parts = ["SELECT * FROM _summary_facts"]
    files = batch_files(lake_dir, state.unapplied) if state.unapplied else []
    if files:
        records = f"read_parquet({parquet_list(files)}, hive_partitioning = false)"
        parts.append(FACTS_SQL.format(records=records, end=end_literal(as_of)))
    duck.execute(
        "CREATE OR REPLACE TABLE evidence_facts AS SELECT person_id, MAX(last_strong) AS "
        "last_strong, MIN(first_death) AS first_death, MAX(last_weak) AS last_weak FROM ("
        + " UNION ALL ".join(parts)
        + ") x GROUP BY person_id"
    )
    duck.unregister("_summary_facts")
    return len(files)


def load_weak_records(context: ScanContext, since: Mapping[int, dt.datetime]) -> None:
    """(Re)create table `weak_records` (person_id, evidence_type, event_time, source,
    record_id): the weak records of these persons dated from their bound (inclusive) to the end
    of the as-of day. From the weak store when the context was built from the lake, else from
    the `evidence` view (a test's own records)."""
    duck = context.duck
    ids = sorted(since)
    duck.register(
        "_since",
        pa.table(
            {
                "person_id": pa.array(ids, pa.int64()),
                "after": pa.array([since[i] for i in ids], pa.timestamp("s")),
            }
        ),
    )
    if context.weak_files is None:
        relation = (
            "(SELECT e.* FROM evidence e JOIN evidence_types t ON t.code = e.evidence_type "
            "AND t.strength = 'weak')"
        )
    elif context.weak_files and ids:
        relation = f"read_parquet({parquet_list(context.weak_files)})"
    else:
        relation = "(SELECT * FROM evidence WHERE 1 = 0)"
    low = min(since.values(), default=dt.datetime.combine(context.as_of, dt.time()))
    # Literal bounds (persons, time) are pushed into the Parquet reader and prune row groups.
    people = (
        f"e.person_id IN ({', '.join(str(i) for i in ids)})"
        if 0 < len(ids) <= INLINE_PERSONS
        else (f"e.person_id BETWEEN {ids[0]} AND {ids[-1]}" if ids else "1 = 0")
    )
    duck.execute(
        "CREATE OR REPLACE TABLE weak_records AS "
        "SELECT e.person_id, e.evidence_type, e.event_time, e.source, e.record_id "
        f"FROM {relation} e JOIN _since s ON s.person_id = e.person_id "
        f"WHERE {people} AND e.event_time >= TIMESTAMP '{low:%Y-%m-%d %H:%M:%S}' "
        f"AND e.event_time < {end_literal(context.as_of)} AND e.event_time >= s.after"
    )
    duck.unregister("_since")


# Flagged persons named in the SQL itself (up to this many): the Parquet reader then skips the
# row groups whose person_id range holds none of them.
INLINE_PERSONS = 2000
EVIDENCE_BATCH_KINDS = ("file", "pull", "push", "retry")


def committed_batches(connection: Connection) -> dict[int, bool]:
    """Committed evidence batches → whether they put records in the lake."""
    rows = connection.execute(
        text(
            "SELECT batch_id, counts FROM batches WHERE status = 'committed' AND kind IN "
            "('file', 'pull', 'push', 'retry')"
        )
    ).all()
    found: dict[int, bool] = {}
    for batch_id, counts in rows:
        if isinstance(counts, str):
            counts = json.loads(counts)
        counts = counts or {}
        found[int(batch_id)] = (
            int(counts.get("accepted", 0)) + int(counts.get("kept_non_recipient", 0)) > 0
        )
    return found


def build_context(
    settings: Settings, engine: Engine, catalog: Catalog, as_of: dt.date
) -> ScanContext:
    """The context of a scan as of `as_of`: the state tables, the per-person evidence facts
    (from the pass's summary and the batches it has not applied; from the whole lake when the
    summary is ahead of the scan) and the weak store brought up to date."""
    from lifesign.ingest.lake import LakeListing, evidence_view
    from lifesign.integrity.weak_store import WeakStore

    duck = duckdb.connect()
    spill = str(settings.home / "tmp" / "duckdb").replace("'", "''")
    duck.execute(f"SET temp_directory = '{spill}'")
    files = tuple(LakeListing.of(settings.lake_dir).files())
    # All files have the lake's schema: no union by name, so the view reads no file until used.
    evidence_view(duck, files, union_by_name=False)
    context = context_over(duck, engine, catalog, as_of, facts=False)
    weak_types = [c for c, t in catalog.evidence_types.items() if t.strength == "weak"]
    store = WeakStore(settings.lake_dir, load_scan_parameters().weak_store_max_parts)
    with engine.connect() as connection:
        state = summary_state(connection, as_of)
        if state.usable:
            read = incremental_facts(duck, connection, settings.lake_dir, state, as_of)
        else:
            facts_from(duck, "evidence", as_of)
            read = len(files)
        update = store.update(duck, committed_batches(connection), weak_types)
    context.lake_files_read = read + update.lake_files
    context.weak_files = tuple(store.files())
    return context
