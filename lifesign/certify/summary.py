"""The per-person evidence summary: computed from lake records by SQL (sql/*.sql, run by
DuckDB, portable to Spark), and merged with the stored summary (table `evidence_summary`).

A summary field is a *ref*, "event time|source|evidence type|record id": the latest strong
alive record, the latest weak one, the earliest and latest death records, the latest
imprisonment / emigration / moving-away record. Merging two summaries is max / min of refs,
so merging batch by batch gives exactly the summary of all the records at once.

The scan runs in two stages so that no string is built per record: `summary.sql` finds, per
person and year, the winning *times*; `wanted.sql` lists them; `refs.sql` re-reads the same
records through a semi-join on (person, moment) — two integers, no string — keeping the few at
the winning moments (`at_moments`); `named.sql` builds their refs; `found.sql` and
`candidates.sql` assemble the per-person refs and the candidate certifications (first strong
record of each year after the last certification). Everything stays in DuckDB tables
(`found`, `found_candidates`): nothing per person is built in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lifesign.catalog import Catalog
from lifesign.certify.ledger import EvidenceRef

SQL_DIR = Path(__file__).parent / "sql"


def _sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


SUMMARY_SQL = _sql("summary.sql")
WANTED_SQL = _sql("wanted.sql")
REFS_SQL = _sql("refs.sql")
NAMED_SQL = _sql("named.sql")
FOUND_SQL = _sql("found.sql")
CANDIDATES_SQL = _sql("candidates.sql")
MERGE_SQL = _sql("merge.sql")
FACTS_SQL = _sql("facts.sql")
CERTIFIED_SQL = _sql("certified.sql")
STATE_SQL = _sql("state.sql")
# every SQL file of the pass, by name (the portability test transpiles each)
PASS_SQL = {path.name: path.read_text(encoding="utf-8") for path in sorted(SQL_DIR.glob("*.sql"))}

# Summary fields: name → whether the merge keeps the latest (max) or the earliest (min) ref.
FIELDS: dict[str, str] = {
    "strong": "max",
    "weak": "max",
    "death_first": "min",
    "death_last": "max",
    "imprisoned": "max",
    "emigrated": "max",
    "moved_away": "max",
}
STATUS_FIELDS = ("imprisoned", "emigrated", "moved_away")


def ref_time(ref: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ref[:19])


def ref_date(ref: str) -> dt.date:
    return dt.date.fromisoformat(ref[:10])


def ref_record(ref: str) -> EvidenceRef:
    """The evidence record a ref names, as a decision stores it."""
    time, source, evidence_type, record_id = ref.split("|", 3)
    return EvidenceRef(
        source=source,
        record_id=record_id,
        evidence_type=evidence_type,
        event_time=time.replace(" ", "T"),
    )


@dataclass
class Summary:
    """One person's summary (refs or None)."""

    person_id: int
    refs: dict[str, str | None] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.refs.get(name)

    def merge(self, other: Mapping[str, str | None]) -> bool:
        """Fold another summary in; True when something changed."""
        changed = False
        for name, how in FIELDS.items():
            mine, theirs = self.refs.get(name), other.get(name)
            if theirs is None:
                continue
            if mine is None or (theirs > mine if how == "max" else theirs < mine):
                self.refs[name] = theirs
                changed = True
        return changed


def evidence_kinds(catalog: Catalog) -> pa.Table:
    """(evidence_type, kind) of every evidence type of the catalog."""
    types, kinds = [], []
    for code, evidence_type in catalog.evidence_types.items():
        if evidence_type.strength == "weak":
            kind = "weak"
        elif evidence_type.establishes == "alive":
            kind = "strong"
        else:
            kind = evidence_type.establishes
        types.append(code)
        kinds.append(kind)
    return pa.table({"evidence_type": types, "kind": kinds})


def run(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run a statement to its end (DuckDB refuses new work while a result is unread)."""
    connection.execute(sql).fetchall()


def _literal(moment: dt.datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def _bounds(as_of: dt.date, lower: dt.date | None) -> dict[str, str]:
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    bound = (
        "1 = 1"
        if lower is None
        else "e.event_time >= "
        + _literal(dt.datetime.combine(lower + dt.timedelta(days=1), dt.time()))
    )
    return {"as_of_end": _literal(end), "lower_bound": bound}


def summary_sql(records: str, as_of: dt.date, lower: dt.date | None = None) -> str:
    """Stage 1 over the relation `records`: records dated on or before `as_of` (and after
    `lower`, a previous as-of date, when given)."""
    return SUMMARY_SQL.format(records=records, **_bounds(as_of, lower))


def refs_sql(records: str, as_of: dt.date, lower: dt.date | None = None) -> str:
    """Stage 2 over the same records and bounds as `summary_sql`."""
    return REFS_SQL.format(records=records, **_bounds(as_of, lower))


def _quoted(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def parquet_relation(files: Sequence[Path]) -> str:
    return f"read_parquet({_quoted(files)}, hive_partitioning = false, union_by_name = true)"


def scan(
    connection: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    as_of: dt.date,
    parts: Iterable[tuple[Sequence[Path], dt.date | None]],
    step: Callable[[str], None] | None = None,
) -> int:
    """Summarise the records of `parts` — (Parquet files, lower as-of bound or None) — into
    the DuckDB tables `found` (person_id, strong_ref … moved_away_ref, records) and
    `found_candidates` (person_id, yr, ref). Needs the relation `anchors` (person_id,
    after_time). Returns the records read. `step(name)` is called at the end of each stage
    (the pass times its phases with it)."""

    def done(name: str) -> None:
        if step is not None:
            step(name)

    connection.register("evidence_kinds", evidence_kinds(catalog))
    relations = [(parquet_relation(files), lower) for files, lower in parts if files]
    if not relations:
        run(
            connection,
            "CREATE OR REPLACE TEMP TABLE found AS SELECT CAST(NULL AS BIGINT) AS person_id, "
            + ", ".join(f"CAST(NULL AS VARCHAR) AS {name}_ref" for name in FIELDS)
            + ", CAST(0 AS HUGEINT) AS records WHERE 1 = 0",
        )
        run(
            connection,
            "CREATE OR REPLACE TEMP TABLE found_candidates AS SELECT CAST(NULL AS BIGINT) AS "
            "person_id, CAST(NULL AS BIGINT) AS yr, CAST(NULL AS VARCHAR) AS ref WHERE 1 = 0",
        )
        done("scan: refs")
        return 0
    by_year = " UNION ALL ".join(f"({summary_sql(r, as_of, lower)})" for r, lower in relations)
    run(connection, f"CREATE OR REPLACE TEMP TABLE by_year AS {by_year}")
    done("scan: stage 1 (times)")
    run(connection, f"CREATE OR REPLACE TEMP TABLE wanted AS {WANTED_SQL}")
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE counted AS "
        "SELECT person_id, sum(records) AS records FROM by_year GROUP BY person_id",
    )
    run(connection, "DROP TABLE by_year")  # memory: stage 2 needs only what was wanted
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE wanted_moments AS "
        "SELECT DISTINCT person_id, event_time FROM wanted",
    )
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE at_moments AS "
        + " UNION ALL ".join(f"({refs_sql(r, as_of, lower)})" for r, lower in relations),
    )
    run(connection, "DROP TABLE wanted_moments")
    done("scan: stage 2 (records at those times)")
    run(connection, f"CREATE OR REPLACE TEMP TABLE named AS {NAMED_SQL}")
    run(connection, "DROP TABLE at_moments")
    run(connection, f"CREATE OR REPLACE TEMP TABLE found AS {FOUND_SQL}")
    run(connection, f"CREATE OR REPLACE TEMP TABLE found_candidates AS {CANDIDATES_SQL}")
    (row,) = connection.execute("SELECT sum(records) FROM found").fetchall()
    done("scan: refs")
    for table in ("counted", "wanted", "named"):
        run(connection, f"DROP TABLE {table}")
    return int(row[0] or 0) if row else 0


def summary_row(person_id: int, refs: Mapping[str, str | None], as_of: dt.date) -> dict[str, Any]:
    """The `evidence_summary` row of a person's refs."""
    row: dict[str, Any] = {"person_id": person_id, "as_of": as_of}
    for name in FIELDS:
        ref = refs.get(name)
        row[f"{name}_ref"] = ref
        row[f"{name}_time"] = None if ref is None else ref_time(ref)
    return row
