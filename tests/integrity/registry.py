"""A hand-made registry for integrity and payment-list tests: a few people, written directly.

ID numbers are synthetic, made valid by their own check character.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Connection, insert

from lifesign.registry.ids import check_character
from lifesign.store.models import Enrollment, Payment, Person

GRID = "341602001001001"  # a grid of the packaged catalog


def make_id(region: str, born: str, sequence: int) -> str:
    first17 = f"{region}{born}{sequence:03d}"
    return first17 + check_character(first17)


def add_person(
    connection: Connection,
    person_id: int,
    *,
    born: dt.date = dt.date(1950, 3, 1),
    name: str = "张秀英",
    phone: str | None = "13800001234",
    household_id: str | None = None,
) -> str:
    """A person with a valid ID number derived from `person_id`; returns the ID number."""
    id_number = make_id("341602", born.strftime("%Y%m%d"), person_id % 1000)
    connection.execute(
        insert(Person).values(
            person_id=person_id,
            pseudonym=f"{person_id:032x}",
            id_number=id_number,
            name=name,
            sex="M" if person_id % 2 else "F",
            birth_date=born,
            phone=phone,
            grid_code=GRID,
            address="亳州市谯城区测试村1组1号",
            household_id=household_id,
        )
    )
    return id_number


def add_enrollment(
    connection: Connection,
    enrollment_id: int,
    person_id: int,
    program: str,
    *,
    start: dt.date = dt.date(2015, 1, 1),
    end: dt.date | None = None,
    amount: str = "150.00",
    status: str = "active",
) -> None:
    connection.execute(
        insert(Enrollment).values(
            enrollment_id=enrollment_id,
            external_ref=f"E{enrollment_id:06d}",
            person_id=person_id,
            program=program,
            start_date=start,
            end_date=end,
            monthly_amount=Decimal(amount),
            status=status,
        )
    )


def add_payments(
    connection: Connection, enrollment_id: int, periods: list[str], amount: str = "150.00"
) -> None:
    for period in periods:
        year, month = (int(x) for x in period.split("-"))
        connection.execute(
            insert(Payment).values(
                enrollment_id=enrollment_id,
                period=period,
                amount=Decimal(amount),
                paid_on=dt.date(year, month, 10),
            )
        )


def months(first: str, last: str) -> list[str]:
    """Every 'YYYY-MM' from `first` to `last` inclusive."""
    y, m = (int(x) for x in first.split("-"))
    out: list[str] = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
