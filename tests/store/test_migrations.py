"""The state database's migrations and models, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lifesign.store import current_revision, downgrade, head_revision, make_engine, migrate
from lifesign.store.models import Batch, Enrollment, ImportRejection, Payment, Person
from lifesign.store.schema import metadata

TABLES = {"people", "enrollments", "payments", "batches", "import_rejections"}


def test_upgrade_and_downgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    migrate(engine)  # idempotent
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_indexes_later_queries_need(engine: Engine) -> None:
    inspector = inspect(engine)
    enrollment_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("enrollments")}
    payment_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("payments")}
    assert ("person_id",) in enrollment_indexes
    assert ("period",) in payment_indexes


def test_models_round_trip(engine: Engine) -> None:
    with Session(engine) as session:
        batch = Batch(kind="registry", source="people", file_name="people.csv", status="running")
        session.add(batch)
        session.flush()
        person = Person(
            pseudonym="a" * 32,
            id_number="34160219470315002X",
            name="张秀英",
            sex="F",
            birth_date=dt.date(1947, 3, 15),
            phone="13800138000",
            grid_code="341602001001001",
            batch_id=batch.batch_id,
        )
        session.add(person)
        session.flush()
        enrollment = Enrollment(
            external_ref="E-1",
            person_id=person.person_id,
            program="resident_pension",
            start_date=dt.date(2020, 1, 1),
            monthly_amount=Decimal("150.50"),
            status="active",
        )
        session.add(enrollment)
        session.flush()
        session.add(
            Payment(
                enrollment_id=enrollment.enrollment_id,
                period="2024-01",
                amount=Decimal("150.50"),
                paid_on=dt.date(2024, 1, 10),
            )
        )
        session.add(
            ImportRejection(
                batch_id=batch.batch_id, file="people.csv", line=3, reason="missing", field="name"
            )
        )
        batch.counts = {"read": 3, "reasons": {"missing": 1}}
        batch.status = "committed"
        session.commit()
        person_id = person.person_id
    assert isinstance(person_id, int)

    with Session(engine) as session:
        loaded = session.execute(select(Person).where(Person.person_id == person_id)).scalar_one()
        assert (loaded.name, loaded.sex, loaded.birth_date) == ("张秀英", "F", dt.date(1947, 3, 15))
        assert loaded.created_at is not None
        enrollment = session.execute(select(Enrollment)).scalar_one()
        assert enrollment.monthly_amount == Decimal("150.50")
        assert enrollment.person_id == person_id
        payment = session.execute(select(Payment)).scalar_one()
        assert (payment.period, payment.amount, payment.paid_on) == (
            "2024-01",
            Decimal("150.50"),
            dt.date(2024, 1, 10),
        )
        stored = session.execute(select(Batch)).scalar_one()
        assert stored.counts == {"read": 3, "reasons": {"missing": 1}}
        assert session.execute(select(ImportRejection.reason)).scalar_one() == "missing"


def test_constraints_hold(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(
            Enrollment(
                external_ref="E-9",
                person_id=999_999,  # no such person: the foreign key must refuse it
                program="dibao",
                start_date=dt.date(2020, 1, 1),
                monthly_amount=Decimal(700),
                status="active",
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(Person(pseudonym="b" * 32, sex="X"))
        with pytest.raises(IntegrityError):
            session.commit()
