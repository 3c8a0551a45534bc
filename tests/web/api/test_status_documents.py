"""The batch status's read model (status_documents, kept by triggers) answers, for every
person and on both backends, the very text the join-based reference (compact_statuses) builds
— after every kind of write: registry imports, the pass, the lifecycle's suspensions, the
manual channels, a death settled, direct writes of each table."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from lifesign.catalog import Catalog
from lifesign.certify.models import PersonStateRow
from lifesign.lifecycle.manual import certify_at_counter, certify_self_service, record_visit
from lifesign.lifecycle.models import VisitTask
from lifesign.lifecycle.run import confirm_suspensions, run_day
from lifesign.registry.ids import mask_id_number
from lifesign.store.models import Enrollment, Person
from lifesign.synth.city import build_city
from lifesign.synth.config import SynthConfig
from lifesign.web.api.batchjson import compact_statuses
from lifesign.web.api.models import StatusDocument
from lifesign.web.api.schemas import BatchPerson
from lifesign.web.api.statusdocs import stored_statuses
from tests.cities import department_principal
from tests.lifecycle.conftest import LifecycleCity, drop_into_inbox, home_with_registry
from tests.web.api.conftest import Recipient, id_number

people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
documents_t = cast(Table, StatusDocument.__table__)
tasks_t = cast(Table, VisitTask.__table__)

CITY_RECIPIENTS = 300
CITY_SEED = 5150
FIRST_DAY = dt.date(2024, 12, 1)
AT = dt.time(10, 0, tzinfo=dt.UTC)
ENROLLMENTS = "document_enrollments"  # the part a benefit's write rewrites
# a department token's principal: no scope, so the batch reads the read model
DEPARTMENT = department_principal("test")


def assert_read_model_matches(connection: Connection, *days: dt.date) -> dict[str, str]:
    """Every person's stored answer equals the reference's, as of each day; the answers of
    the last day (ID number → JSON text)."""
    numbers = list(
        connection.execute(
            select(people_t.c.id_number).where(people_t.c.id_number.is_not(None))
        ).scalars()
    )
    stored_rows = connection.execute(select(documents_t.c.id_number)).scalars().all()
    assert sorted(stored_rows) == sorted(numbers)  # one document per number, none stale
    answers: dict[str, str] = {}
    for day in days or (FIRST_DAY,):
        stored = stored_statuses(connection, numbers, day)
        joined = compact_statuses(connection, DEPARTMENT, numbers, day)
        assert stored.keys() == joined.keys() == set(numbers)
        differ = [
            (mask_id_number(n), stored[n], joined[n]) for n in numbers if stored[n] != joined[n]
        ]
        assert not differ, differ[:3]
        answers = {number: text for number, (_, text) in stored.items()}
    for text in answers.values():
        BatchPerson.model_validate_json(text)  # the documented shape
    return answers


def _kinds(answers: dict[str, str]) -> Counter[str]:
    """What the answers show: certified or not, each person and benefit status."""
    seen: Counter[str] = Counter()
    for text in answers.values():
        person = BatchPerson.model_validate_json(text)
        seen[f"certified={person.certified}"] += 1
        seen[f"person:{person.status}"] += 1
        seen[f"channel:{person.last_channel}"] += 1
        for benefit in person.enrollments:
            seen[f"benefit:{benefit.status}"] += 1
    return seen


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> LifecycleCity:
    root = tmp_path_factory.mktemp("status-documents-city")
    build_city(
        SynthConfig(recipients=CITY_RECIPIENTS, seed=CITY_SEED, out=root, workers=1), catalog
    )
    return LifecycleCity(root, tmp_path_factory.mktemp("status-documents-registry"))


def _reimport(engine: Engine, settings: Any, city: LifecycleCity, tmp_path: Path) -> None:
    """The registry again, changed: a benefit terminated, a registry certification date moved
    for a person, a new recipient with a benefit."""
    from lifesign.registry.importer import RegistryImporter, rules_from_catalog
    from lifesign.registry.pseudonym import Pseudonymizer

    changed = tmp_path / "registry-again"
    shutil.copytree(city.registry, changed)
    for name in ("people.csv", "enrollments.csv"):
        with open(changed / name, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        fields = list(rows[0])
        if name == "people.csv":
            rows[0]["last_certified_on"] = "2024-01-15"
            newcomer = dict(rows[1])
            newcomer.update(
                id_number=id_number("341602", "19480808", "777"), sex="M", birth_date="1948-08-08"
            )
            rows.append(newcomer)
        else:
            rows[0]["status"] = "terminated"
            rows[0]["end_date"] = rows[0].get("end_date") or "2024-12-01"
            fresh = dict(rows[1])
            fresh["id_number"] = id_number("341602", "19480808", "777")
            fresh["enrollment_id"] = "NEW-777"
            rows.append(fresh)
        with open(changed / name, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    (changed / "payments.csv").unlink(missing_ok=True)
    importer = RegistryImporter(
        engine, Pseudonymizer.for_home(settings.secrets_dir), rules_from_catalog(None)
    )
    report = importer.import_dir(changed)
    assert sum(f.updated for f in report.files) >= 2 and sum(f.inserted for f in report.files) >= 2


def test_every_person_answers_the_same_through_a_city_s_days(
    small_city: LifecycleCity, catalog: Catalog, database_url: str, tmp_path: Path
) -> None:
    settings, engine = home_with_registry(tmp_path, database_url, small_city)
    # certified or not flips with the day asked about; the answers looked at are the last's
    days = (FIRST_DAY - dt.timedelta(days=400), FIRST_DAY + dt.timedelta(days=400), FIRST_DAY)
    with engine.connect() as connection:  # the registry alone: its own certifications
        assert_read_model_matches(connection, *days)

    # the first day: ingest, the pass, reminders, suspensions
    drop_into_inbox(settings, small_city.files_until(FIRST_DAY - dt.timedelta(days=1)))
    report = run_day(settings, FIRST_DAY, settle_seconds=0, engine=engine)
    if report.counts["held"]:  # a spike on a small city's first day: an officer confirms
        confirm_suspensions(engine, catalog, report.run_id, officer="王科长", on=FIRST_DAY)
    with engine.connect() as connection:
        answers = assert_read_model_matches(connection, *days)
        suspended = connection.execute(
            select(enrollments_t.c.person_id).where(enrollments_t.c.status == "suspended")
        ).scalars()
        suspended_ids = sorted(set(suspended))
        open_tasks = (
            connection.execute(
                select(tasks_t.c.task_id).where(tasks_t.c.status == "open").order_by("task_id")
            )
            .scalars()
            .all()
        )
    kinds = _kinds(answers)
    assert kinds["certified=True"] > 0 and kinds["certified=False"] > 0, kinds
    assert kinds["benefit:suspended"] > 0, kinds
    assert len(suspended_ids) >= 3 and len(open_tasks) >= 2

    # the manual channels the next morning: a face check and a counter certify two suspended
    # persons (their benefits resume), a visit sees one person alive, another finds a death
    morning = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=1), AT)
    assert certify_self_service(
        engine, catalog, person_id=suspended_ids[0], at=morning, outcome="pass", reference="f-1"
    )
    assert certify_at_counter(
        engine, catalog, person_id=suspended_ids[1], at=morning, officer="窗口李"
    )
    record_visit(
        engine, catalog, task_id=open_tasks[0], outcome="seen_alive", at=morning, worker="网格张"
    )
    record_visit(
        engine,
        catalog,
        task_id=open_tasks[1],
        outcome="deceased",
        at=morning,
        worker="网格张",
        death_date=FIRST_DAY - dt.timedelta(days=3),
    )
    with engine.connect() as connection:
        answers = assert_read_model_matches(connection, *days)
    kinds = _kinds(answers)
    assert kinds["channel:self_service"] and kinds["channel:counter"]
    assert kinds["channel:home_visit"] and kinds["person:deceased"]

    # the next day: its feeds, the pass, the death settled (benefits terminated)
    drop_into_inbox(settings, small_city.files_until(FIRST_DAY, FIRST_DAY))
    run_day(settings, FIRST_DAY + dt.timedelta(days=1), settle_seconds=0, engine=engine)
    with engine.connect() as connection:
        answers = assert_read_model_matches(connection, *days)
    assert _kinds(answers)["benefit:terminated"] > 0

    # the registry imported again, with changes
    _reimport(engine, settings, small_city, tmp_path)
    with engine.connect() as connection:
        assert_read_model_matches(connection, *days)
    engine.dispose()


def _tamper(connection: Connection, person_id: int, part: str) -> None:
    """Spoil a part of a person's document: a trigger that rewrites it makes it right."""
    connection.execute(
        update(documents_t).where(documents_t.c.person_id == person_id).values({part: "spoiled"})
    )


def _spoiled(connection: Connection, person_id: int, part: str) -> bool:
    return connection.execute(
        select(documents_t.c[part] == "spoiled").where(documents_t.c.person_id == person_id)
    ).scalar_one()


def _state(person_id: int, **values: Any) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "status": "alive",
        "last_certified_on": dt.date(2024, 11, 20),
        "channel": "auto",
        "valid_until": dt.date(2025, 11, 20),
        **values,
    }


def test_each_write_of_each_table_keeps_the_documents(
    engine: Engine, recipients: dict[str, Recipient]
) -> None:
    a1, a2, b1, b2 = (recipients[k] for k in ("A1", "A2", "B1", "B2"))
    day = dt.date(2024, 12, 1)
    with engine.begin() as c:  # people and enrollments inserted: the registry's answers
        assert_read_model_matches(c, day)
    with engine.begin() as c:  # person_state inserted, updated, deleted: read, not copied
        c.execute(insert(state_t), [_state(a1.person_id), _state(a2.person_id, channel=None)])
        answers = assert_read_model_matches(c, day)
        assert BatchPerson.model_validate_json(answers[a1.id_number]).certified
        c.execute(
            update(state_t).where(state_t.c.person_id == a1.person_id).values(status="deceased")
        )
        assert_read_model_matches(c, day)
        c.execute(delete(state_t).where(state_t.c.person_id == a2.person_id))
        assert_read_model_matches(c, day)  # the registry's values again
    with engine.begin() as c:  # enrollments: a status, a new one, one moved, one deleted
        c.execute(
            update(enrollments_t)
            .where(enrollments_t.c.external_ref == "E-A1")
            .values(status="terminated")
        )
        c.execute(
            insert(enrollments_t).values(
                external_ref="E-A1-2",
                person_id=a1.person_id,
                program="dibao",
                start_date=dt.date(2021, 1, 1),
                monthly_amount=Decimal("300.00"),
                status="suspended",
            )
        )
        assert_read_model_matches(c, day)
        c.execute(
            update(enrollments_t)
            .where(enrollments_t.c.external_ref == "E-B1")
            .values(person_id=a2.person_id)
        )
        assert_read_model_matches(c, day)
        _tamper(c, b2.person_id, ENROLLMENTS)  # an amount is not in the answer
        c.execute(update(enrollments_t).values(monthly_amount=Decimal("999.00")))
        assert _spoiled(c, b2.person_id, ENROLLMENTS)
        c.execute(delete(enrollments_t).where(enrollments_t.c.external_ref == "E-B2"))
        assert_read_model_matches(c, day)
    with engine.begin() as c:  # people: the registry's own certification, a new ID number
        c.execute(
            update(people_t)
            .where(people_t.c.person_id == b1.person_id)
            .values(last_certified_on=dt.date(2024, 6, 1), last_certification_channel="counter")
        )
        assert_read_model_matches(c, day)
        _tamper(c, b1.person_id, ENROLLMENTS)  # a name or a phone is not in the answer
        c.execute(update(people_t).where(people_t.c.person_id == b1.person_id).values(name="改名"))
        assert _spoiled(c, b1.person_id, ENROLLMENTS)
        c.execute(  # a registry certification again: rebuilt
            update(people_t)
            .where(people_t.c.person_id == b1.person_id)
            .values(last_certified_on=dt.date(2024, 6, 2))
        )
        renumbered = id_number("341602", "19470315", "099")
        c.execute(
            update(people_t)
            .where(people_t.c.person_id == a1.person_id)
            .values(id_number=renumbered)
        )
        answers = assert_read_model_matches(c, day)
        assert renumbered in answers and a1.id_number not in answers
    with engine.begin() as c:  # a person known by pseudonym only, numbered later, deleted
        unnamed = c.execute(
            insert(people_t).values(pseudonym="f" * 32, sex="M").returning(people_t.c.person_id)
        ).scalar_one()
        assert_read_model_matches(c, day)
        number = id_number("341621", "19600101", "055")
        c.execute(update(people_t).where(people_t.c.person_id == unnamed).values(id_number=number))
        assert number in assert_read_model_matches(c, day)
        c.execute(delete(people_t).where(people_t.c.person_id == unnamed))
        assert number not in assert_read_model_matches(c, day)


def test_a_department_s_batch_is_answered_from_the_documents(
    api: Any, recipients: dict[str, Recipient]
) -> None:
    """A department's batch comes from the read model: a document changed by hand shows
    through, while the join (the reference) still answers from the enrollments."""
    a1 = recipients["A1"]
    with api.app_.state.engine.begin() as c:
        c.execute(
            update(documents_t)
            .where(documents_t.c.person_id == a1.person_id)
            .values(document_enrollments="[]}", last_certification_channel="counter")
        )
    body = {"id_numbers": [a1.id_number]}
    answer = api.post("/api/v1/status/batch", headers=api.token("hrss"), json=body).json()
    person = answer["items"][0]["person"]
    assert person["enrollments"] == [] and person["last_channel"] == "counter"
    with api.app_.state.engine.connect() as c:
        joined = compact_statuses(c, DEPARTMENT, [a1.id_number], dt.date(2024, 12, 1))
    assert json.loads(joined[a1.id_number][1])["enrollments"], "the join reads enrollments"


def test_a_certification_written_to_person_state_shows_in_the_next_batch(
    api: Any, recipients: dict[str, Recipient]
) -> None:
    """The pass writes person_state and nothing else: no trigger copies it anywhere (its
    ~45 k certifications a Bozhou day cost the day +4.6 s CPU when one did), the next batch
    reads it — and the person's document is left as it was."""
    a1, b1 = recipients["A1"], recipients["B1"]
    engine = api.app_.state.engine
    body = {"id_numbers": [a1.id_number, b1.id_number]}

    def batch() -> dict[str, Any]:
        answer = api.post("/api/v1/status/batch", headers=api.token("hrss"), json=body).json()
        return {body["id_numbers"][item["index"]]: item["person"] for item in answer["items"]}

    with engine.connect() as c:
        documents_before = c.execute(select(documents_t).order_by("person_id")).all()
    before = batch()
    with engine.begin() as c:  # as the pass writes them: new states in bulk ...
        c.execute(
            insert(state_t),
            [
                _state(
                    a1.person_id,
                    last_certified_on=dt.date(2024, 11, 28),
                    valid_until=dt.date(2031, 1, 1),
                ),
                _state(b1.person_id, valid_until=dt.date(2024, 11, 30)),
            ],
        )
    after = batch()
    assert after[a1.id_number] != before[a1.id_number]
    assert after[a1.id_number]["certified"] and after[a1.id_number]["last_channel"] == "auto"
    assert after[a1.id_number]["last_certified_on"] == "2024-11-28"
    assert not after[b1.id_number]["certified"]  # valid until a day gone by
    with engine.begin() as c:  # ... and a state certified again
        c.execute(
            update(state_t)
            .where(state_t.c.person_id == b1.person_id)
            .values(valid_until=dt.date(2031, 1, 1), last_certified_on=dt.date(2024, 12, 1))
        )
    again = batch()
    assert again[b1.id_number]["certified"] and again[b1.id_number]["valid_until"] == "2031-01-01"
    assert again[b1.id_number]["last_certified_on"] == "2024-12-01"
    with engine.connect() as c:
        assert c.execute(select(documents_t).order_by("person_id")).all() == documents_before
        assert_read_model_matches(c, dt.date(2024, 12, 1))


def test_the_migration_fills_the_documents_of_the_persons_already_there(
    database_url: str,
) -> None:
    """A database at 0010 with persons in every situation: after 0011 each has their answer."""
    from lifesign.store import make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine, "0010")
    numbers = [id_number("341602", f"1950010{n}", f"01{n}") for n in range(1, 6)]
    with engine.begin() as c:
        ids = [
            c.execute(
                insert(people_t)
                .values(
                    pseudonym=f"{n:032x}",
                    id_number=number if n != 4 else None,  # 4: known by pseudonym only
                    sex="M",
                    last_certified_on=dt.date(2024, 3, n),
                    last_certification_channel="counter" if n % 2 else None,
                )
                .returning(people_t.c.person_id)
            ).scalar_one()
            for n, number in enumerate(numbers, start=1)
        ]
        c.execute(
            insert(enrollments_t),
            [
                {
                    "external_ref": f"E-{n}-{program}",
                    "person_id": ids[n - 1],
                    "program": program,
                    "start_date": dt.date(2020, 1, 1),
                    "monthly_amount": Decimal("150.00"),
                    "status": "terminated" if n == 5 else "active",
                }
                for n, program in [
                    (1, "resident_pension"),
                    (1, "dibao"),
                    (2, "dibao"),
                    (5, "dibao"),
                ]
            ],
        )
        c.execute(
            insert(state_t),
            [
                _state(ids[1]),  # 2: certified by the platform
                _state(ids[2], last_certified_on=None, channel=None, valid_until=None),  # 3
                _state(ids[4], status="deceased", death_date=dt.date(2024, 10, 1)),  # 5
            ],
        )
    migrate(engine)
    with engine.connect() as c:
        answers = assert_read_model_matches(c, dt.date(2024, 12, 1), dt.date(2026, 1, 1))
    assert numbers[3] not in answers and len(answers) == 4
    engine.dispose()
