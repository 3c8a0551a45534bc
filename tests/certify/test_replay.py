"""Full and incremental passes agree on a replayed city.

The city's feed files are ingested month by month as they would have arrived (every file
whose first record is dated by the month's end; later records of those files wait in
partly-applied batches), with an incremental pass at each month's end. Then the certification
tables are emptied, the enrollments put back as the registry had them, and one full pass runs
as of the last month's end: the same decisions, the same person states.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, delete, insert, inspect, select, update

from lifesign.catalog import Catalog
from lifesign.certify.models import (
    AppliedBatch,
    Decision,
    EvidenceSummary,
    PersonStateRow,
    Review,
    StatusEvent,
)
from lifesign.certify.passes import run_pass
from lifesign.store import make_engine
from lifesign.store.models import Enrollment
from tests.certify.conftest import City, CityHome

MONTHS = 12


def month_ends(start: dt.date, count: int) -> list[dt.date]:
    ends = []
    year, month = start.year, start.month
    for _ in range(count):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        ends.append(dt.date(year, month, 1) - dt.timedelta(days=1))
    return ends


def decisions(engine: Any) -> list[tuple[Any, ...]]:
    table = cast(Table, Decision.__table__)
    with engine.connect() as connection:
        rows = connection.execute(select(table)).mappings().all()
    return sorted(
        (
            r["kind"],
            r["person_id"],
            r["enrollment_id"],
            r["effective_date"],
            r["rule"],
            r["valid_until"],
            tuple(sorted(e["record_id"] for e in r["evidence"])),
        )
        for r in rows
    )


def states(engine: Any) -> dict[int, tuple[Any, ...]]:
    table = cast(Table, PersonStateRow.__table__)
    with engine.connect() as connection:
        rows = connection.execute(select(table)).mappings().all()
    return {
        r["person_id"]: (
            r["status"], r["status_since"], r["last_certified_on"], r["channel"],
            r["valid_until"], r["certified_year"], r["last_strong_event"],
            r["last_weak_event"], r["death_date"],
        )
        for r in rows
    }  # fmt: skip


@pytest.fixture(scope="module")
def replayed(
    certify_city: City, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> CityHome:
    os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")
    return CityHome.create(certify_city, tmp_path_factory.mktemp("replay-home"), catalog)


@pytest.mark.slow
def test_full_and_incremental_agree_on_a_replayed_city(
    replayed: CityHome, catalog: Catalog
) -> None:
    settings = replayed.settings
    engine = make_engine(settings.database_url)
    enrollments_t = cast(Table, Enrollment.__table__)
    with engine.connect() as connection:
        registry_status = dict(
            connection.execute(select(enrollments_t.c.enrollment_id, enrollments_t.c.status)).all()
        )
    ends = month_ends(replayed.city.config.window_start, MONTHS)
    reports = []
    for end in ends:
        replayed.ingest_until(end)
        reports.append(run_pass(settings, engine, catalog, end, "incremental"))
    incremental_decisions = decisions(engine)
    incremental_states = states(engine)
    kinds = {d[0] for d in incremental_decisions}
    # the city is rich enough to exercise the rules
    assert {"certified", "deceased"} <= kinds
    print([(r.as_of.isoformat(), r.records, r.certified, round(r.seconds, 2)) for r in reports])
    assert sum(r.certified for r in reports) > 500
    assert any(r.batches_applied for r in reports[1:])
    # a pass with nothing new changes nothing
    again = run_pass(settings, engine, catalog, ends[-1], "incremental")
    assert (again.batches_applied, again.decisions) == (0, 0)
    assert decisions(engine) == incremental_decisions

    # start again from the registry, one full pass
    with engine.begin() as connection:
        for model in (StatusEvent, Review, Decision, EvidenceSummary, AppliedBatch, PersonStateRow):
            connection.execute(delete(cast(Table, model.__table__)))
        connection.execute(
            update(enrollments_t)
            .where(enrollments_t.c.enrollment_id == bindparam("b_id"))
            .values(status=bindparam("b_status")),
            [{"b_id": k, "b_status": v} for k, v in registry_status.items()],
        )
    full = run_pass(settings, engine, catalog, ends[-1], "full")
    assert full.decisions == len(incremental_decisions)
    assert decisions(engine) == incremental_decisions
    full_states = states(engine)
    differing = {
        p: (incremental_states.get(p), full_states.get(p))
        for p in set(full_states) | set(incremental_states)
        if full_states.get(p) != incremental_states.get(p)
    }
    assert not differing, "\n".join(f"{p}: {a} != {b}" for p, (a, b) in list(differing.items())[:5])
    engine.dispose()


def test_as_of_hides_later_evidence(replayed: CityHome, catalog: Catalog, tmp_path: Path) -> None:
    """A full pass as of an earlier day decides only from the records dated by then."""
    settings = replayed.settings
    engine = make_engine(settings.database_url)
    early = month_ends(replayed.city.config.window_start, 3)[-1]
    report = run_pass(settings, engine, catalog, early, "full")
    with engine.connect() as connection:
        table = cast(Table, Decision.__table__)
        latest = connection.execute(
            select(table.c.effective_date).order_by(table.c.effective_date.desc()).limit(1)
        ).scalar_one_or_none()
    assert report.records > 0
    assert latest is not None
    engine.dispose()


def summaries(engine: Any) -> dict[int, tuple[Any, ...]]:
    table = cast(Table, EvidenceSummary.__table__)
    with engine.connect() as connection:
        return {r[0]: tuple(r[1:]) for r in connection.execute(select(table)).all()}


def test_a_second_full_pass_writes_nothing(replayed: CityHome, catalog: Catalog) -> None:
    """Decisions are append-only and idempotent: the same full pass again adds no decision and
    leaves every state row (updated_on included) and every summary row as they were. It
    recomputes every summary but gives the rules nobody to look at again: no summary changed,
    and every year's certification is taken."""
    settings = replayed.settings
    engine = make_engine(settings.database_url)
    end = month_ends(replayed.city.config.window_start, MONTHS)[-1]
    replayed.ingest_until(end)
    first = run_pass(settings, engine, catalog, end, "full")
    before = (decisions(engine), states_with_updates(engine), summaries(engine))
    again = run_pass(settings, engine, catalog, end, "full")
    assert first.persons_touched > 0
    assert again.persons_touched == 0
    assert again.records == first.records
    assert (again.decisions, again.certified, again.reviews_opened) == (0, 0, 0)
    assert (decisions(engine), states_with_updates(engine), summaries(engine)) == before
    engine.dispose()


def states_with_updates(engine: Any) -> dict[int, tuple[Any, ...]]:
    table = cast(Table, PersonStateRow.__table__)
    with engine.connect() as connection:
        return {r[0]: tuple(r[1:]) for r in connection.execute(select(table)).all()}


def test_full_passes_on_both_backends_touch_only_what_changed(
    certify_city: City, catalog: Catalog, database_url: str, tmp_path: Path
) -> None:
    """On SQLite and PostgreSQL: a first full pass decides; the same full pass again gives the
    rules nobody and writes nothing; once a month more of records arrives, a full pass
    touches only persons of those records (whose summary changed, or with a new year to
    certify) and takes the same decisions as the incremental pass of that month would."""
    os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")
    home = CityHome.create(certify_city, tmp_path / "home", catalog, database_url)
    engine = make_engine(database_url)
    first_end, second_end = month_ends(certify_city.config.window_start, 3)[1:]
    home.ingest_until(first_end)
    indexes = table_indexes(engine)
    assert indexes["decisions"] and indexes["person_state"]
    first = run_pass(home.settings, engine, catalog, first_end, "full")
    assert first.persons_touched > 0 and first.decisions > 0
    # a first pass loads empty tables: their indexes are dropped and created again after
    # the load (statewrite.indexes_rebuilt), the same ones (the later passes keep them)
    assert table_indexes(engine) == indexes
    before = (decisions(engine), states_with_updates(engine), summaries(engine))
    again = run_pass(home.settings, engine, catalog, first_end, "full")
    assert (again.persons_touched, again.decisions) == (0, 0)
    assert (decisions(engine), states_with_updates(engine), summaries(engine)) == before

    home.ingest_until(second_end)
    with engine.begin() as connection:  # the same state twice: one copy per mode
        snapshot = _certification_tables(connection)
    incremental = run_pass(home.settings, engine, catalog, second_end, "incremental")
    incremental_result = (decisions(engine), states(engine), summaries(engine))
    with engine.begin() as connection:
        _restore_certification_tables(connection, snapshot)
    full = run_pass(home.settings, engine, catalog, second_end, "full")
    assert 0 < full.persons_touched <= incremental.persons_touched
    assert full.decisions == incremental.decisions
    assert (decisions(engine), states(engine), summaries(engine)) == incremental_result
    assert table_indexes(engine) == indexes
    engine.dispose()


def table_indexes(engine: Any) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """The secondary indexes of the tables the pass loads, as the database has them."""
    found = inspect(engine)
    return {
        table: sorted(
            (str(index["name"]), tuple(map(str, index["column_names"])))
            for index in found.get_indexes(table)
        )
        for table in ("decisions", "person_state", "evidence_summary")
    }


CERTIFICATION_TABLES = (
    StatusEvent,
    Review,
    Decision,
    EvidenceSummary,
    PersonStateRow,
    AppliedBatch,
    Enrollment,
)


def _certification_tables(connection: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        model.__tablename__: [
            dict(row) for row in connection.execute(select(cast(Table, model.__table__))).mappings()
        ]
        for model in CERTIFICATION_TABLES
    }


def _restore_certification_tables(
    connection: Any, snapshot: dict[str, list[dict[str, Any]]]
) -> None:
    """Put the tables back as `snapshot` had them (children emptied first, parents filled first)."""
    for model in CERTIFICATION_TABLES[:-1]:
        connection.execute(delete(cast(Table, model.__table__)))
    enrollments = cast(Table, Enrollment.__table__)
    for row in snapshot["enrollments"]:
        connection.execute(
            update(enrollments)
            .where(enrollments.c.enrollment_id == row["enrollment_id"])
            .values(status=row["status"])
        )
    for model in reversed(CERTIFICATION_TABLES[:-1]):
        rows = snapshot[model.__tablename__]
        if rows:
            connection.execute(insert(cast(Table, model.__table__)), rows)
