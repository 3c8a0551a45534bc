"""The scan (lifesign/certify/summary.py::scan) gives exactly the tables `found` and
`found_candidates` of the scan it replaced — same refs, ties included — on a synthetic lake
built to hold every case: ties (same person, kind and time from two sources, and from two
records of one source), records of two kinds at one moment, last certifications inside a
year, at the start of a year, before the lake and after it, persons without one, records
after the as-of day, records of unknown types or without a person, an incremental part with
a lower bound, and a file outside the lake's month layout.

The reference is the previous scan, kept here only: stage 1 per person and calendar year with
the last certification joined to every record, then the same stage 2 (records at the winning
moments) and refs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lifesign.catalog import Catalog
from lifesign.catalog.model import EvidenceType
from lifesign.certify import summary
from lifesign.ingest.lake import partition_path

# The previous scan's SQL (comments dropped; lifesign/certify/sql/*.sql at fa3b6f1).
REFERENCE_SUMMARY_SQL = """
WITH rec AS (
    SELECT
        e.person_id,
        k.kind,
        year(e.event_time) AS yr,
        e.event_time,
        CASE
            WHEN a.after_time IS NULL OR e.event_time >= a.after_time THEN 1 ELSE 0
        END AS after_last
    FROM {records} AS e
    JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type
    LEFT JOIN anchors AS a ON a.person_id = e.person_id
    WHERE e.person_id IS NOT NULL
      AND e.event_time < {as_of_end}
      AND {lower_bound}
)
SELECT
    person_id,
    yr,
    max(event_time) FILTER (WHERE kind = 'strong') AS strong_time,
    min(event_time) FILTER (WHERE kind = 'strong' AND after_last = 1) AS strong_first_after_time,
    max(event_time) FILTER (WHERE kind = 'weak') AS weak_time,
    min(event_time) FILTER (WHERE kind = 'deceased') AS death_first_time,
    max(event_time) FILTER (WHERE kind = 'deceased') AS death_last_time,
    max(event_time) FILTER (WHERE kind = 'imprisoned') AS imprisoned_time,
    max(event_time) FILTER (WHERE kind = 'emigrated') AS emigrated_time,
    max(event_time) FILTER (WHERE kind = 'moved_away') AS moved_away_time,
    count(*) AS records
FROM rec
GROUP BY person_id, yr
"""

REFERENCE_WANTED_SQL = """
WITH folded AS (
    SELECT
        person_id,
        max(strong_time) AS strong_time,
        max(weak_time) AS weak_time,
        min(death_first_time) AS death_first_time,
        max(death_last_time) AS death_last_time,
        max(imprisoned_time) AS imprisoned_time,
        max(emigrated_time) AS emigrated_time,
        max(moved_away_time) AS moved_away_time
    FROM by_year
    GROUP BY person_id
),
candidates AS (
    SELECT person_id, yr, min(strong_first_after_time) AS event_time
    FROM by_year
    WHERE strong_first_after_time IS NOT NULL
    GROUP BY person_id, yr
)
SELECT person_id, 'strong' AS field, 'strong' AS kind, strong_time AS event_time,
       'max' AS pick, CAST(NULL AS INTEGER) AS yr
FROM folded WHERE strong_time IS NOT NULL
UNION ALL
SELECT person_id, 'weak', 'weak', weak_time, 'max', NULL FROM folded WHERE weak_time IS NOT NULL
UNION ALL
SELECT person_id, 'death_first', 'deceased', death_first_time, 'min', NULL
FROM folded WHERE death_first_time IS NOT NULL
UNION ALL
SELECT person_id, 'death_last', 'deceased', death_last_time, 'max', NULL
FROM folded WHERE death_last_time IS NOT NULL
UNION ALL
SELECT person_id, 'imprisoned', 'imprisoned', imprisoned_time, 'max', NULL
FROM folded WHERE imprisoned_time IS NOT NULL
UNION ALL
SELECT person_id, 'emigrated', 'emigrated', emigrated_time, 'max', NULL
FROM folded WHERE emigrated_time IS NOT NULL
UNION ALL
SELECT person_id, 'moved_away', 'moved_away', moved_away_time, 'max', NULL
FROM folded WHERE moved_away_time IS NOT NULL
UNION ALL
SELECT person_id, 'candidate', 'strong', event_time, 'min', yr FROM candidates
"""

REFERENCE_REFS_SQL = """
SELECT
    e.person_id,
    e.event_time,
    e.evidence_type,
    e.source,
    e.record_id
FROM {records} AS e
WHERE e.person_id IS NOT NULL
  AND e.event_time < {as_of_end}
  AND {lower_bound}
  AND EXISTS (
      SELECT 1 FROM wanted_moments AS w
      WHERE w.person_id = e.person_id AND w.event_time = e.event_time
  )
"""

REFERENCE_NAMED_SQL = """
SELECT
    e.person_id,
    k.kind,
    e.event_time,
    CAST(e.event_time AS VARCHAR) || '|' || e.source || '|' || e.evidence_type || '|'
    || e.record_id AS ref
FROM at_moments AS e
JOIN evidence_kinds AS k ON k.evidence_type = e.evidence_type
"""

REFERENCE_FOUND_SQL = """
WITH picked AS (
    SELECT w.person_id, w.field, n.ref
    FROM wanted AS w
    JOIN named AS n
        ON n.person_id = w.person_id AND n.kind = w.kind AND n.event_time = w.event_time
    WHERE w.field <> 'candidate'
)
SELECT
    c.person_id,
    max(p.ref) FILTER (WHERE p.field = 'strong') AS strong_ref,
    max(p.ref) FILTER (WHERE p.field = 'weak') AS weak_ref,
    min(p.ref) FILTER (WHERE p.field = 'death_first') AS death_first_ref,
    max(p.ref) FILTER (WHERE p.field = 'death_last') AS death_last_ref,
    max(p.ref) FILTER (WHERE p.field = 'imprisoned') AS imprisoned_ref,
    max(p.ref) FILTER (WHERE p.field = 'emigrated') AS emigrated_ref,
    max(p.ref) FILTER (WHERE p.field = 'moved_away') AS moved_away_ref,
    c.records
FROM counted AS c
LEFT JOIN picked AS p ON p.person_id = c.person_id
GROUP BY c.person_id, c.records
"""

REFERENCE_CANDIDATES_SQL = """
SELECT w.person_id, w.yr, min(n.ref) AS ref
FROM wanted AS w
JOIN named AS n
    ON n.person_id = w.person_id AND n.kind = w.kind AND n.event_time = w.event_time
WHERE w.field = 'candidate'
GROUP BY w.person_id, w.yr
"""

AS_OF = dt.date(2026, 2, 14)
FIRST_MONTH = dt.date(2024, 11, 1)
LAST_DAY = dt.date(2026, 3, 31)  # records run past the as-of day: those wait
LOWER = dt.date(2025, 6, 30)  # the incremental part's previous as-of day
PERSONS = 240
SEED = 20261129
# source → the evidence types its files hold (a source's kinds are few, as in the lake)
SOURCES = {
    "bank": ("bank_counter", "bank_atm_withdrawal"),
    "health": ("mi_outpatient", "hc_death_certificate", "mi_pharmacy_swipe"),
    "police": ("ps_id_card", "ps_emigration_cancellation", "ps_household_cancellation"),
    "funeral": ("funeral_cremation",),
    "justice": ("justice_prison_admission", "notarisation"),
    "power": ("power_use",),
    "movers": ("test_moved_away", "rail_boarding", "not_in_the_catalog"),
}
# table → (its columns, its rows in order)
Tables = dict[str, tuple[list[Any], list[tuple[Any, ...]]]]
TIMES_OF_DAY = (dt.time(9, 0), dt.time(9, 0), dt.time(14, 30, 5))  # ties are frequent


def reference_scan(
    connection: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    as_of: dt.date,
    parts: Sequence[tuple[Sequence[Path], dt.date | None]],
) -> None:
    """The previous scan: the tables `found` and `found_candidates`."""
    connection.register("evidence_kinds", summary.evidence_kinds(catalog))
    relations = [(summary.parquet_relation(files), lower) for files, lower in parts if files]

    def union(sql: str) -> str:
        return " UNION ALL ".join(
            "(" + sql.format(records=r, **summary._bounds(as_of, lower)) + ")"
            for r, lower in relations
        )

    summary.run(connection, f"CREATE TEMP TABLE by_year AS {union(REFERENCE_SUMMARY_SQL)}")
    summary.run(connection, f"CREATE TEMP TABLE wanted AS {REFERENCE_WANTED_SQL}")
    summary.run(
        connection,
        "CREATE TEMP TABLE counted AS "
        "SELECT person_id, sum(records) AS records FROM by_year GROUP BY person_id",
    )
    summary.run(
        connection,
        "CREATE TEMP TABLE wanted_moments AS SELECT DISTINCT person_id, event_time FROM wanted",
    )
    summary.run(connection, f"CREATE TEMP TABLE at_moments AS {union(REFERENCE_REFS_SQL)}")
    summary.run(connection, f"CREATE TEMP TABLE named AS {REFERENCE_NAMED_SQL}")
    summary.run(connection, f"CREATE TEMP TABLE found AS {REFERENCE_FOUND_SQL}")
    summary.run(connection, f"CREATE TEMP TABLE found_candidates AS {REFERENCE_CANDIDATES_SQL}")


@pytest.fixture(scope="module")
def scan_catalog(catalog: Catalog) -> Catalog:
    """The catalog with a moving-away type (the real one has none yet)."""
    moved = EvidenceType(
        code="test_moved_away",
        department="public_security",
        name_zh="迁出(测试)",
        name_en="moved away (test)",
        strength="strong",
        establishes="moved_away",
    )
    return dataclasses.replace(
        catalog, evidence_types={**catalog.evidence_types, moved.code: moved}
    )


@dataclasses.dataclass(frozen=True)
class Lake:
    root: Path
    batches: dict[int, list[Path]]  # batch id → its files
    outside: Path  # a file outside the month layout

    @property
    def files(self) -> list[Path]:
        return [*sorted(p for paths in self.batches.values() for p in paths), self.outside]


def _records(rng: random.Random) -> list[dict[str, object]]:
    days = (LAST_DAY - FIRST_MONTH).days + 1
    rows: list[dict[str, object]] = []

    def add(person: int | None, source: str, evidence_type: str, moment: dt.datetime) -> None:
        rows.append(
            {
                "person_id": person,
                "evidence_type": evidence_type,
                "event_time": moment,
                "source": source,
                "record_id": f"{rng.getrandbits(24):06x}",
            }
        )

    for person in range(1, PERSONS + 1):
        for _ in range(rng.randrange(0, 30)):
            source = rng.choice(list(SOURCES))
            evidence_type = rng.choice(SOURCES[source])
            day = FIRST_MONTH + dt.timedelta(days=rng.randrange(days))
            moment = dt.datetime.combine(day, rng.choice(TIMES_OF_DAY))
            add(person, source, evidence_type, moment)
            if rng.random() < 0.15:  # the same moment again: another record of the source
                add(person, source, evidence_type, moment)
            if rng.random() < 0.15:  # ... from another source, same kind or not
                other = rng.choice([s for s in SOURCES if s != source])
                add(person, other, rng.choice(SOURCES[other]), moment)
    for _ in range(20):  # records without a person
        add(None, "bank", "bank_counter", dt.datetime(2025, 3, 3, 9))
    return rows


def _write_lake(root: Path, rows: list[dict[str, object]], rng: random.Random) -> Lake:
    """Files in the lake's layout, two batches per month and source; a few rows go to a file
    outside the layout instead."""
    grouped: dict[tuple[str, str, int], list[dict[str, object]]] = {}
    outside: list[dict[str, object]] = []
    for row in rows:
        moment = row["event_time"]
        assert isinstance(moment, dt.datetime)
        if rng.random() < 0.02:
            outside.append(row)
            continue
        batch = 1 + rng.randrange(2)
        grouped.setdefault((f"{moment:%Y-%m}", str(row["source"]), batch), []).append(row)
    batches: dict[int, list[Path]] = {}
    schema = pa.schema(
        [
            ("person_id", pa.int64()),
            ("evidence_type", pa.string()),
            ("event_time", pa.timestamp("us")),
            ("source", pa.string()),
            ("record_id", pa.string()),
        ]
    )
    for number, ((month, source, batch), group) in enumerate(sorted(grouped.items())):
        batch_id = batch * 1000 + number  # batch 1xxx: the first part, 2xxx: the second
        path = root / partition_path(month, source, batch_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        group.sort(key=lambda r: (r["person_id"] or 0, r["event_time"]))
        pq.write_table(pa.Table.from_pylist(group, schema), path)
        batches.setdefault(batch, []).append(path)
    odd = root / "elsewhere" / "odd.parquet"
    odd.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(outside, schema), odd)
    return Lake(root, batches, odd)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    rng = random.Random(SEED)
    return _write_lake(tmp_path_factory.mktemp("scan-lake"), _records(rng), rng)


def _last_certified(person: int) -> dt.date | None:
    """Every case of the registry's last certification, by person."""
    match person % 6:
        case 0:
            return None
        case 1:  # inside 2025
            return dt.date(2025, 6, 1) + dt.timedelta(days=person % 90)
        case 2:  # the last day of 2025: the anchor is 2026-01-01 00:00, the start of a year
            return dt.date(2025, 12, 31)
        case 3:  # before the lake
            return dt.date(2023, 5, 1)
        case 4:  # inside 2026, some after the as-of day
            return dt.date(2026, 1, 10) + dt.timedelta(days=person % 60)
        case _:  # inside 2024, the lake's first year
            return dt.date(2024, 12, 10)


def _connection(anchored: bool) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(config={"threads": 2})
    days = {p: _last_certified(p) for p in range(1, PERSONS + 1)} if anchored else {}
    people = pa.table(
        {
            "person_id": pa.array([p for p, d in days.items() if d], pa.int64()),
            "last_certified_on": pa.array([d for d in days.values() if d], pa.date32()),
        }
    )
    connection.register("people", people)
    summary.run(
        connection,
        "CREATE TEMP VIEW anchors AS SELECT person_id, "
        "CAST(last_certified_on + INTERVAL 1 DAY AS TIMESTAMP) AS after_time FROM people",
    )
    return connection


def _tables(connection: duckdb.DuckDBPyConnection) -> Tables:
    return {
        table: (
            connection.execute(f"DESCRIBE {table}").fetchall(),
            connection.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall(),
        )
        for table in ("found", "found_candidates")
    }


def _both(
    catalog: Catalog,
    parts: Sequence[tuple[Sequence[Path], dt.date | None]],
    anchored: bool = True,
) -> tuple[Tables, Tables, int]:
    reference = _connection(anchored)
    reference_scan(reference, catalog, AS_OF, parts)
    scanned = _connection(anchored)
    steps: list[str] = []
    records = summary.scan(scanned, catalog, AS_OF, parts, steps.append)
    assert steps == [
        "scan: stage 1 (times)",
        "scan: stage 2 (records at those times)",
        "scan: refs",
    ]
    (expected_records,) = reference.execute("SELECT sum(records) FROM found").fetchall()[0]
    assert records == expected_records
    return _tables(reference), _tables(scanned), records


def test_the_synthetic_lake_holds_every_case(lake: Lake, scan_catalog: Catalog) -> None:
    connection = _connection(True)
    connection.register("evidence_kinds", summary.evidence_kinds(scan_catalog))
    records = summary.parquet_relation(lake.files)

    def count(sql: str) -> int:
        return int(connection.execute(sql.format(records=records)).fetchall()[0][0])

    # ties: two records of one kind at a person's moment, from one source and from two
    same_kind = (
        "SELECT count(*) FROM (SELECT e.person_id FROM {records} AS e JOIN evidence_kinds AS k "
        "USING (evidence_type) GROUP BY e.person_id, k.kind, e.event_time "
        "HAVING count(*) > 1 AND count(DISTINCT e.source) {sources})"
    )
    assert count(same_kind.format(records="{records}", sources="= 1")) > 50
    assert count(same_kind.format(records="{records}", sources="> 1")) > 50
    for kind in ("deceased", "imprisoned", "emigrated", "moved_away", "weak"):
        assert count(
            "SELECT count(*) FROM {records} JOIN evidence_kinds USING (evidence_type) "
            f"WHERE kind = '{kind}'"
        ), kind
    assert count(f"SELECT count(*) FROM {{records}} WHERE event_time >= '{AS_OF}'") > 50
    assert count("SELECT count(*) FROM {records} WHERE person_id IS NULL") == 20
    assert count("SELECT count(*) FROM {records} WHERE evidence_type = 'not_in_the_catalog'")
    assert len(lake.batches) == 2 and pq.read_metadata(lake.outside).num_rows > 0


def test_a_full_scan_is_the_previous_scan(lake: Lake, scan_catalog: Catalog) -> None:
    expected, scanned, records = _both(scan_catalog, [(lake.files, None)])
    assert scanned == expected
    found, candidates = expected["found"][1], expected["found_candidates"][1]
    assert records > 2000 and len(found) > 200
    # every kind of candidate: a year's first record, the anchor's own year, every year
    assert {row[1] for row in candidates} == {2024, 2025, 2026}
    assert any(row[-1] is not None for row in found)


def test_an_incremental_scan_with_a_lower_bound_is_the_previous_scan(
    lake: Lake, scan_catalog: Catalog
) -> None:
    parts = [(lake.batches[1] + [lake.outside], None), (lake.batches[2], LOWER)]
    expected, scanned, _ = _both(scan_catalog, parts)
    assert scanned == expected
    assert expected["found"][1]


def test_a_part_of_later_years_only_is_the_previous_scan(lake: Lake, scan_catalog: Catalog) -> None:
    """A lower bound at the end of a year: the earlier years hold nothing to read."""
    expected, scanned, _ = _both(scan_catalog, [(lake.files, dt.date(2025, 12, 31))])
    assert scanned == expected
    assert {row[1] for row in expected["found_candidates"][1]} == {2026}


def test_without_any_last_certification_every_year_has_its_first_record(
    lake: Lake, scan_catalog: Catalog
) -> None:
    expected, scanned, _ = _both(scan_catalog, [(lake.files, None)], anchored=False)
    assert scanned == expected
    candidates = expected["found_candidates"][1]
    assert len(candidates) > PERSONS
    assert {row[1] for row in candidates} == {2024, 2025, 2026}


def test_nothing_to_read(scan_catalog: Catalog) -> None:
    connection = _connection(True)
    assert summary.scan(connection, scan_catalog, AS_OF, [([], None)]) == 0
    assert connection.execute("SELECT count(*) FROM found").fetchall() == [(0,)]
    assert connection.execute("SELECT count(*) FROM found_candidates").fetchall() == [(0,)]


def test_the_years_of_a_part_come_from_its_month_partitions(lake: Lake) -> None:
    connection = duckdb.connect()
    in_layout = lake.batches[1]
    assert summary._years(connection, in_layout, AS_OF, None) == (2024, 2025, 2026)
    assert summary._years(connection, in_layout, AS_OF, dt.date(2024, 12, 31)) == (2025, 2026)
    assert summary._years(connection, in_layout, dt.date(2025, 3, 1), None) == (2024, 2025)
    assert summary.month_of(in_layout[0]) is not None
    assert summary.month_of(lake.outside) is None
    assert summary._years(connection, [lake.outside], AS_OF, None) == (2024, 2025, 2026)
