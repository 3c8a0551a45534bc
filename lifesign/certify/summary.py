"""The per-person evidence summary: computed from lake records by SQL (sql/*.sql, run by
DuckDB, portable to Spark), and merged with the stored summary (table `evidence_summary`).

A summary field is a *ref*, "event time|source|evidence type|record id": the latest strong
alive record, the latest weak one, the earliest and latest death records, the latest
imprisonment / emigration / moving-away record. Merging two summaries is max / min of refs,
so merging batch by batch gives exactly the summary of all the records at once.

The scan runs in two stages so that no string is built per record. Stage 1 finds the winning
*times*: `summary.sql` one group per person (latest strong and weak times, each calendar
year's first strong time, the records counted), `rare.sql` the rare kinds apart, and
`anchored.sql` the first strong record after the registry's last certification in that
certification's own year (the only comparison with a per-person date, over the months that
can hold it); `wanted.sql` and `wanted_candidates.sql` fold them over the parts read. Stage 2,
`refs.sql`, re-reads the same records through a semi-join on (person, moment) — two integers
— and builds the refs of the few records at the winning moments only (`named`); `found.sql`
and `candidates.sql` assemble the per-person refs and the candidate certifications (first
strong record of each year after the last certification). Everything stays in DuckDB tables
(`found`, `found_candidates`): nothing per person is built in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lifesign.catalog import Catalog
from lifesign.certify.ledger import EvidenceRef
from lifesign.certify.rules import rule_parameters

SQL_DIR = Path(__file__).parent / "sql"


def _sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


SUMMARY_SQL = _sql("summary.sql")
RARE_SQL = _sql("rare.sql")
ANCHORED_SQL = _sql("anchored.sql")
WANTED_SQL = _sql("wanted.sql")
WANTED_CANDIDATES_SQL = _sql("wanted_candidates.sql")
MOMENTS_SQL = _sql("moments.sql")
REFS_SQL = _sql("refs.sql")
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


# The kinds of evidence, as summary.sql's small integer codes (a TINYINT compared per record
# and aggregate instead of a string).
KIND_CODES: dict[str, int] = {
    "strong": 1,
    "weak": 2,
    "deceased": 3,
    "imprisoned": 4,
    "emigrated": 5,
    "moved_away": 6,
}


def evidence_kinds(catalog: Catalog) -> pa.Table:
    """(evidence_type, kind, code) of every evidence type of the catalog (code 0: a kind no
    summary field keeps; its records are only counted)."""
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
    return pa.table(
        {
            "evidence_type": pa.array(types, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "code": pa.array([KIND_CODES.get(kind, 0) for kind in kinds], pa.int8()),
        }
    )


def run(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run a statement to its end (DuckDB refuses new work while a result is unread)."""
    connection.execute(sql).fetchall()


def _literal(moment: dt.datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def _year_start(year: int) -> str:
    return _literal(dt.datetime(year, 1, 1))


def _bounds(as_of: dt.date, lower: dt.date | None) -> dict[str, str]:
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    bound = (
        "1 = 1"
        if lower is None
        else "e.event_time >= "
        + _literal(dt.datetime.combine(lower + dt.timedelta(days=1), dt.time()))
    )
    return {"as_of_end": _literal(end), "lower_bound": bound}


# One column of summary.sql's {year_firsts}: the first strong record of a calendar year.
YEAR_FIRST = (
    "min(e.event_time) FILTER (WHERE k.code = 1 AND e.event_time >= {year_start} "
    "AND e.event_time < {year_end}) AS first_{year},"
)


def year_firsts(years: Iterable[int]) -> str:
    return "\n    ".join(
        YEAR_FIRST.format(year=y, year_start=_year_start(y), year_end=_year_start(y + 1))
        for y in years
    )


def summary_sql(
    records: str, as_of: dt.date, lower: dt.date | None = None, years: Sequence[int] = ()
) -> str:
    """Stage 1 over the relation `records`: records dated on or before `as_of` (and after
    `lower`, a previous as-of date, when given), with a first strong time for each of `years`
    (every calendar year the records can hold)."""
    return SUMMARY_SQL.format(
        records=records, year_firsts=year_firsts(years), **_bounds(as_of, lower)
    )


def rare_sql(records: str, as_of: dt.date, lower: dt.date | None = None) -> str:
    """Stage 1 of the rare kinds, over the same records and bounds as `summary_sql`."""
    return RARE_SQL.format(records=records, **_bounds(as_of, lower))


def anchored_sql(
    records: str, as_of: dt.date, lower: dt.date | None, window: tuple[dt.datetime, dt.datetime]
) -> str:
    """The first strong record after the last certification in its own year, over `records`
    (only the files of the months `window` covers need be given)."""
    start, end = window
    return ANCHORED_SQL.format(
        records=records,
        window_start=_literal(start),
        window_end=_literal(end),
        **_bounds(as_of, lower),
    )


def refs_sql(records: str, as_of: dt.date, lower: dt.date | None = None) -> str:
    """Stage 2 over the same records and bounds as `summary_sql`."""
    return REFS_SQL.format(records=records, **_bounds(as_of, lower))


def _quoted(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def parquet_relation(files: Sequence[Path]) -> str:
    return f"read_parquet({_quoted(files)}, hive_partitioning = false, union_by_name = true)"


def month_of(path: Path) -> tuple[int, int] | None:
    """(year, month) of a lake file's `month=YYYY-MM` partition: every record in it is dated in
    that month (ingest/lake.py writes one file per month); None for a file outside the layout."""
    for folder in path.parents:
        if folder.name.startswith("month="):
            try:
                day = dt.date.fromisoformat(folder.name[len("month=") :] + "-01")
            except ValueError:
                return None
            return day.year, day.month
    return None


@dataclass(frozen=True)
class _Part:
    """The records of some files between bounds: what one select of each stage reads."""

    files: Sequence[Path]
    lower: dt.date | None
    years: tuple[int, ...]  # the calendar years its records can hold

    @property
    def relation(self) -> str:
        return parquet_relation(self.files)


def _years(
    connection: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    as_of: dt.date,
    lower: dt.date | None,
) -> tuple[int, ...]:
    """The calendar years the records of `files` between the bounds can be dated in: from
    the files' month partitions (a file outside the layout: from its records)."""
    years = set()
    unknown = []
    for path in files:
        month = month_of(path)
        if month is None:
            unknown.append(path)
        else:
            years.add(month[0])
    if unknown:
        (first, last) = connection.execute(
            f"SELECT year(min(event_time)), year(max(event_time)) FROM {parquet_relation(unknown)}"
        ).fetchone() or (None, None)
        if first is not None and last is not None:
            years.update(range(int(first), int(last) + 1))
    since = None if lower is None else (lower + dt.timedelta(days=1)).year
    return tuple(sorted(y for y in years if y <= as_of.year and (since is None or y >= since)))


def _anchor_window(
    connection: duckdb.DuckDBPyConnection,
) -> tuple[dt.datetime, dt.datetime] | None:
    """From the earliest anchor to the end of the latest anchor's year: the only records
    anchored.sql compares with an anchor; None without anchors."""
    row = connection.execute(
        "SELECT min(after_time), max(year(after_time)) FROM anchors"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], dt.datetime(int(row[1]) + 1, 1, 1)


def _in_window(path: Path, window: tuple[dt.datetime, dt.datetime]) -> bool:
    month = month_of(path)
    if month is None:
        return True
    start = dt.datetime(*month, 1)
    end = dt.datetime(month[0] + month[1] // 12, month[1] % 12 + 1, 1)
    return end > window[0] and start < window[1]


def _union(selects: Iterable[str]) -> str:
    return " UNION ALL ".join(f"({select})" for select in selects)


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

    # every file is read three or four times: its footer parsed once (~0.17 s CPU a scan of the
    # 100 k city's 663 files)
    with _settings(connection, parquet_metadata_cache="true"):
        return _scan(connection, catalog, as_of, parts, done)


def _scan(
    connection: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    as_of: dt.date,
    parts: Iterable[tuple[Sequence[Path], dt.date | None]],
    done: Callable[[str], None],
) -> int:
    connection.register("evidence_kinds", evidence_kinds(catalog))
    chosen = [
        _Part(files, lower, _years(connection, files, as_of, lower))
        for files, lower in parts
        if files
    ]
    if not chosen:
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
    _stage_one(connection, as_of, chosen)
    done("scan: stage 1 (times)")
    run(connection, f"CREATE OR REPLACE TEMP TABLE wanted AS {WANTED_SQL}")
    run(
        connection,
        f"CREATE OR REPLACE TEMP TABLE wanted_candidates AS {WANTED_CANDIDATES_SQL}",
    )
    for table in ("person_times", "firsts", "rare_times", "anchored"):
        run(connection, f"DROP TABLE {table}")  # memory: stage 2 needs only what was wanted
    run(connection, f"CREATE OR REPLACE TEMP TABLE wanted_moments AS {MOMENTS_SQL}")
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE named AS "
        + _union(refs_sql(part.relation, as_of, part.lower) for part in chosen),
    )
    run(connection, "DROP TABLE wanted_moments")
    done("scan: stage 2 (records at those times)")
    run(connection, f"CREATE OR REPLACE TEMP TABLE found AS {FOUND_SQL}")
    run(connection, f"CREATE OR REPLACE TEMP TABLE found_candidates AS {CANDIDATES_SQL}")
    (row,) = connection.execute("SELECT sum(records) FROM found").fetchall()
    done("scan: refs")
    for table in ("wanted", "wanted_candidates", "named"):
        run(connection, f"DROP TABLE {table}")
    return int(row[0] or 0) if row else 0


@contextmanager
def _settings(connection: duckdb.DuckDBPyConnection, **values: object) -> Iterator[None]:
    """DuckDB settings for the statements run inside, then back to what they were."""
    before = {
        name: connection.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]
        for name in values
    }
    for name, value in values.items():
        run(connection, f"SET {name} = {value}")
    try:
        yield
    finally:
        for name, value in before.items():
            run(connection, f"SET {name} = {value}")


def _stage_one(connection: duckdb.DuckDBPyConnection, as_of: dt.date, parts: list[_Part]) -> None:
    """Stage 1 of every part into the tables person_times, firsts (person_id, yr,
    event_time), rare_times and anchored — each part's rows, not yet folded."""
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE person_times (person_id BIGINT, strong_time TIMESTAMP, "
        "weak_time TIMESTAMP, records BIGINT)",
    )
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE firsts (person_id BIGINT, yr BIGINT, event_time TIMESTAMP)",
    )
    engine = rule_parameters().engine
    # the person range, as the registry persons the pass concerns have it
    (persons,) = connection.execute(
        "SELECT coalesce(max(person_id) - min(person_id) + 1, 0) FROM anchors"
    ).fetchall()[0]
    for part in parts:
        # DuckDB's perfect hash group-by (an array indexed by the person): for summary.sql's
        # one group per person over many records only (data/rules.yaml's pass_engine says why)
        (rows,) = connection.execute(f"SELECT count(*) FROM {part.relation}").fetchall()[0]
        many = persons > 0 and rows >= engine.perfect_hash_records_per_person * persons
        hashing = {"perfect_ht_threshold": engine.perfect_hash_bits} if many else {}
        with _settings(connection, **hashing):
            run(
                connection,
                "CREATE OR REPLACE TEMP TABLE part_times AS "
                + summary_sql(part.relation, as_of, part.lower, part.years),
            )
        run(
            connection,
            "INSERT INTO person_times "
            "SELECT person_id, strong_time, weak_time, records FROM part_times",
        )
        if part.years:
            run(
                connection,
                "INSERT INTO firsts "
                + _union(
                    f"SELECT person_id, {y} AS yr, first_{y} AS event_time FROM part_times "
                    f"WHERE first_{y} IS NOT NULL"
                    for y in part.years
                ),
            )
        run(connection, "DROP TABLE part_times")
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE rare_times AS "
        + _union(rare_sql(part.relation, as_of, part.lower) for part in parts),
    )
    window = _anchor_window(connection)
    anchored = [
        anchored_sql(parquet_relation(files), as_of, part.lower, window)
        for part in parts
        if window is not None
        for files in [[f for f in part.files if _in_window(f, window)]]
        if files
    ]
    run(
        connection,
        "CREATE OR REPLACE TEMP TABLE anchored AS "
        + (
            _union(anchored)
            if anchored
            else "SELECT CAST(NULL AS BIGINT) AS person_id, "
            "CAST(NULL AS TIMESTAMP) AS event_time WHERE 1 = 0"
        ),
    )


def summary_row(person_id: int, refs: Mapping[str, str | None], as_of: dt.date) -> dict[str, Any]:
    """The `evidence_summary` row of a person's refs."""
    row: dict[str, Any] = {"person_id": person_id, "as_of": as_of}
    for name in FIELDS:
        ref = refs.get(name)
        row[f"{name}_ref"] = ref
        row[f"{name}_time"] = None if ref is None else ref_time(ref)
    return row
