"""The pass's large inserts (lifesign.certify.statewrite), on SQLite and PostgreSQL: narrow rows
with fixed and derived columns read back exactly as SQLAlchemy writes them; a table's indexes
dropped and created again around a load come back as the models (and migrations) declare
them, and a load that fails leaves them in place."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, delete, insert, inspect, select

from lifesign.certify import statewrite
from lifesign.certify.models import Decision, EvidenceSummary, PersonStateRow
from lifesign.certify.rules import Rule
from tests.certify.test_state import add_person

summary_t = cast(Table, EvidenceSummary.__table__)
decisions_t = cast(Table, Decision.__table__)
state_t = cast(Table, PersonStateRow.__table__)
AS_OF = dt.date(2026, 10, 31)
STRONG = "2026-07-25 07:29:43|yibao_settle|mi_chronic_outpatient|YIBA30616337"
WEAK = '2026-09-01 23:59:59|rail|rail_boarding|R\'1,"quoted"\n中文'
DEATH = "2026-10-02 00:00:00|mz|cremation|C-1"


def _summary_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(select(summary_t).order_by(summary_t.c.person_id))
            .mappings()
            .all()
        ]


def _time(ref: str | None) -> dt.datetime | None:
    return None if ref is None else dt.datetime.fromisoformat(ref[:19])


def test_narrow_rows_read_back_as_sqlalchemy_writes_them(engine: Engine) -> None:
    refs: dict[int, dict[str, str | None]] = {
        1: {"strong": STRONG, "weak": WEAK, "death_first": None},
        2: {"strong": None, "weak": WEAK, "death_first": DEATH},
        3: {"strong": STRONG, "weak": None, "death_first": None},
    }
    expected = []
    for person_id, fields in refs.items():
        row: dict[str, Any] = {"person_id": person_id, "as_of": AS_OF}
        for name in ("strong", "weak", "death_first", "death_last", "imprisoned"):
            ref = fields.get(name)
            row[f"{name}_ref"], row[f"{name}_time"] = ref, _time(ref)
        for name in ("emigrated", "moved_away"):
            row[f"{name}_ref"] = row[f"{name}_time"] = None
        expected.append(row)
    with engine.begin() as connection:  # SQLAlchemy's own insert: the reference
        connection.execute(insert(summary_t), expected)
        reference = _summary_rows_in(connection)
        connection.execute(delete(summary_t))
        # as the pass writes them: one insert per set of non-NULL refs
        for names in (("strong", "weak"), ("weak", "death_first"), ("strong",)):
            columns = ("person_id", *(f"{name}_ref" for name in names))
            rows = [
                (person_id, *(fields[name] for name in names))
                for person_id, fields in refs.items()
                if {name for name, ref in fields.items() if ref is not None} == set(names)
            ]
            written = statewrite.insert(
                connection,
                summary_t,
                columns,
                iter(rows),
                fixed={"as_of": AS_OF},
                times_of={f"{name}_time": f"{name}_ref" for name in names},
            )
            assert written == len(rows) == 1
    assert _summary_rows(engine) == reference == expected


def _summary_rows_in(connection: Any) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in connection.execute(select(summary_t).order_by(summary_t.c.person_id)).mappings()
    ]


def test_fixed_values_of_every_kind(engine: Engine) -> None:
    person_id, _ = add_person(engine, "fixed")
    evidence = '[{"source":"s","record_id":"R\'1","evidence_type":"t","event_time":"x"}]'
    with engine.begin() as connection:
        statewrite.insert(
            connection,
            decisions_t,
            ("person_id", "effective_date", "valid_until", "evidence", "details"),
            [(person_id, "2026-07-25", "2027-07-25", evidence, '{"year":2026}')],
            fixed={
                "run_id": None,
                "kind": "certified",
                "decided_on": AS_OF,
                "channel": "auto",
                "rule": Rule.STRONG_ALIVE_CERTIFIES,
                "catalog_version": "v'1",
            },
        )
        row = connection.execute(select(decisions_t)).mappings().one()
    assert (row["run_id"], row["enrollment_id"], row["kind"], row["channel"]) == (
        None,
        None,
        "certified",
        "auto",
    )
    assert (row["effective_date"], row["decided_on"], row["valid_until"]) == (
        dt.date(2026, 7, 25),
        AS_OF,
        dt.date(2027, 7, 25),
    )
    assert row["evidence"][0]["record_id"] == "R'1" and row["details"] == {"year": 2026}
    assert (row["rule"], row["catalog_version"]) == (Rule.STRONG_ALIVE_CERTIFIES, "v'1")


def _indexes(engine: Engine, table: Table) -> list[tuple[str, tuple[str, ...]]]:
    found = inspect(engine).get_indexes(table.name)
    return sorted((str(index["name"]), tuple(map(str, index["column_names"]))) for index in found)


@pytest.mark.parametrize("rebuild", [True, False])
def test_indexes_come_back_as_declared_after_a_load(engine: Engine, rebuild: bool) -> None:
    before = {t.name: _indexes(engine, t) for t in (decisions_t, state_t)}
    assert len(before["decisions"]) == 4 and len(before["person_state"]) == 2
    people = [add_person(engine, f"load{i}")[0] for i in range(5)]
    with engine.begin() as connection:
        with statewrite.indexes_rebuilt(connection, state_t, rebuild):
            if rebuild and connection.dialect.name == "sqlite":
                # inside the load the secondary indexes are gone (the transaction's view)
                assert not connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND "
                    "tbl_name = 'person_state' AND sql IS NOT NULL"
                ).all()
            statewrite.insert(
                connection,
                state_t,
                ("person_id", "status", "valid_until"),
                [(p, "alive", "2027-01-01") for p in people],
            )
        # the partial index on status is used by queries for the not alive
        assert (
            connection.execute(select(state_t.c.person_id).where(state_t.c.status != "alive")).all()
            == []
        )
    assert {t.name: _indexes(engine, t) for t in (decisions_t, state_t)} == before
    with engine.connect() as connection:
        assert connection.execute(select(state_t.c.person_id)).scalars().all() == people


def test_a_failed_load_leaves_the_indexes_in_place(engine: Engine) -> None:
    before = _indexes(engine, decisions_t)
    with (
        pytest.raises(RuntimeError),
        engine.begin() as connection,
        statewrite.indexes_rebuilt(connection, decisions_t, True),
    ):
        raise RuntimeError("the load fails")
    assert _indexes(engine, decisions_t) == before


def test_rebuild_only_for_a_load_large_against_the_table() -> None:
    assert statewrite.rebuild_worthwhile(1, 0, 50)  # an empty table
    assert statewrite.rebuild_worthwhile(500, 1000, 50)
    assert not statewrite.rebuild_worthwhile(499, 1000, 50)
    assert not statewrite.rebuild_worthwhile(0, 0, 50)  # nothing to load
    assert statewrite.rebuild_worthwhile(1, 10**9, 0)  # 0 %: always


def test_time_of_ref() -> None:
    assert statewrite.time_of_ref(STRONG) == "2026-07-25 07:29:43.000000"
    assert statewrite.time_of_ref(None) is None
