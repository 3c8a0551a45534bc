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

The lake's `evidence` view is read once into a table of the recipients' records known by the
as-of date (person_id, evidence_type, event_time, source, record_id).

Amounts are integer fen (`*_cents`) so that every comparison is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, inspect

from lifesign.catalog import Catalog
from lifesign.config import Settings
from lifesign.integrity.rules import ScanContext
from lifesign.integrity.thresholds import load_thresholds, thresholds_path

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
        cleaned = [
            None if v is None else (v[:10] if isinstance(v, str) else v.isoformat()[:10])
            for v in values
        ]
        return pa.array(cleaned, pa.string()).cast(pa.date32())
    return pa.array(values, kind)


def read_arrow(connection: Connection, sql: str, schema: pa.Schema, **params: Any) -> pa.Table:
    """The rows of `sql` as an Arrow table of `schema`, fetched in chunks and built column by
    column (no Python object per row survives a chunk)."""
    from sqlalchemy import text

    result = connection.execute(text(sql), params)
    batches: list[pa.RecordBatch] = []
    while rows := result.fetchmany(FETCH_ROWS):
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


def register_tables(duck: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Each Arrow table as a DuckDB view of the same name (payments gain `period_start`)."""
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
) -> ScanContext:
    """A context on a DuckDB connection that already has an `evidence` view (the lake, or a
    test's own records)."""
    with engine.connect() as connection:
        tables = state_tables(connection, as_of)
    tables.update(catalog_tables(catalog))
    register_tables(duck, tables)
    if thresholds is None:
        thresholds = load_thresholds(thresholds_path(catalog.directory))
    return ScanContext(as_of=as_of, catalog=catalog, duck=duck, thresholds=thresholds)


def materialize_evidence(duck: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    """Replace the `evidence` view by a table of the recipients' records known by `as_of`.

    The rules scan the evidence several times; reading the lake's Parquet files once (a
    daily-fed lake has thousands of small files, whose metadata dominates each read) makes
    every later scan an in-memory one. The bound is a literal, so Parquet skips nothing it
    needs and DuckDB can prune by row-group statistics.
    """
    end = (as_of + dt.timedelta(days=1)).isoformat()
    duck.execute(
        "CREATE TABLE evidence_known AS SELECT person_id, evidence_type, event_time, source, "
        f"record_id FROM evidence WHERE person_id IS NOT NULL AND event_time < TIMESTAMP '{end}'"
    )
    duck.execute("DROP VIEW evidence")
    duck.execute("ALTER TABLE evidence_known RENAME TO evidence")


def build_context(
    settings: Settings, engine: Engine, catalog: Catalog, as_of: dt.date
) -> ScanContext:
    """The context of a scan: the committed lake (read once) plus the state tables, as of
    `as_of`."""
    from lifesign.ingest.lake import open_lake

    duck = open_lake(settings)
    spill = str(settings.home / "tmp" / "duckdb").replace("'", "''")
    duck.execute(f"SET temp_directory = '{spill}'")
    materialize_evidence(duck, as_of)
    return context_over(duck, engine, catalog, as_of)
