"""The per-person evidence summary: computed from lake records by SQL (sql/summary.sql, run by
DuckDB, portable to Spark), and merged with the stored summary (table `evidence_summary`).

A summary field is a *ref*, "event time|source|evidence type|record id": the latest strong
alive record, the latest weak one, the earliest and latest death records, the latest
imprisonment / emigration / moving-away record. Merging two summaries is max / min of refs,
so merging batch by batch gives exactly the summary of all the records at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lifesign.catalog import Catalog
from lifesign.certify.ledger import EvidenceRef

SQL_DIR = Path(__file__).parent / "sql"
SUMMARY_SQL = (SQL_DIR / "summary.sql").read_text(encoding="utf-8")

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


@dataclass
class Scan:
    """What the SQL found in a set of records."""

    summaries: dict[int, dict[str, str | None]]  # person → refs of these records
    candidates: dict[int, list[tuple[int, str]]]  # person → [(year, first strong ref after L)]
    records: int


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


def anchors_table(anchors: Mapping[int, dt.date]) -> pa.Table:
    """(person_id, after_time): strong records from the day after the last certification."""
    ids = list(anchors)
    after = [dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) for day in anchors.values()]
    return pa.table(
        {"person_id": pa.array(ids, pa.int64()), "after_time": pa.array(after, pa.timestamp("s"))}
    )


def _literal(moment: dt.datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def summary_sql(records: str, as_of: dt.date, lower: dt.date | None = None) -> str:
    """The summary query over the relation `records`: records dated on or before `as_of` (and
    after `lower`, a previous as-of date, when given)."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    bound = (
        "1 = 1"
        if lower is None
        else "e.event_time >= "
        + _literal(dt.datetime.combine(lower + dt.timedelta(days=1), dt.time()))
    )
    return SUMMARY_SQL.format(records=records, as_of_end=_literal(end), lower_bound=bound)


def _quoted(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def scan(
    connection: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    anchors: Mapping[int, dt.date],
    as_of: dt.date,
    parts: Iterable[tuple[Sequence[Path], dt.date | None]],
) -> Scan:
    """Summarise the records of `parts`: (Parquet files, lower as-of bound or None)."""
    connection.register("evidence_kinds", evidence_kinds(catalog))
    connection.register("anchors", anchors_table(anchors))
    selects = []
    for files, lower in parts:
        if not files:
            continue
        relation = (
            f"read_parquet({_quoted(files)}, hive_partitioning = false, union_by_name = true)"
        )
        selects.append(summary_sql(relation, as_of, lower))
    summaries: dict[int, dict[str, str | None]] = {}
    candidates: dict[int, list[tuple[int, str]]] = {}
    if not selects:
        return Scan(summaries, candidates, 0)
    by_year = " UNION ALL ".join(f"({select})" for select in selects)
    connection.execute(f"CREATE OR REPLACE TEMP TABLE by_year AS {by_year}")
    folded = connection.sql(
        """
        SELECT person_id,
               max(strong_ref) AS strong, max(weak_ref) AS weak,
               min(death_first_ref) AS death_first, max(death_last_ref) AS death_last,
               max(imprisoned_ref) AS imprisoned, max(emigrated_ref) AS emigrated,
               max(moved_away_ref) AS moved_away, sum(records) AS records
        FROM by_year GROUP BY person_id
        """
    ).to_arrow_table()
    records = 0
    columns = {name: folded.column(name).to_pylist() for name in folded.column_names}
    for index, person_id in enumerate(columns["person_id"]):
        summaries[int(person_id)] = {name: columns[name][index] for name in FIELDS}
        records += int(columns["records"][index])
    firsts = connection.execute(
        """
        SELECT person_id, yr, min(strong_first_after) AS ref
        FROM by_year WHERE strong_first_after IS NOT NULL
        GROUP BY person_id, yr ORDER BY person_id, yr
        """
    ).fetchall()
    for person_id, year, ref in firsts:
        candidates.setdefault(int(person_id), []).append((int(year), str(ref)))
    connection.execute("DROP TABLE by_year")
    return Scan(summaries, candidates, records)


def summary_row(person_id: int, refs: Mapping[str, str | None], as_of: dt.date) -> dict[str, Any]:
    """The `evidence_summary` row of a person's refs."""
    row: dict[str, Any] = {"person_id": person_id, "as_of": as_of}
    for name in FIELDS:
        ref = refs.get(name)
        row[f"{name}_ref"] = ref
        row[f"{name}_time"] = None if ref is None else ref_time(ref)
    return row
