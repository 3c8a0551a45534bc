"""The payment list of one program and one month: what the paying department pays, stops,
resumes with back pay, and recovers.

    lines = payment_list(engine, catalog, "resident_pension", "2026-05")
    totals = totals_by_status(lines)

One line per enrollment concerned by the month:

- `payable`: active, entitled during the month: the catalog amount for the month and the
  person's age on its first day (age tiers);
- `suspended`: suspended (certification expired, imprisonment...): nothing paid this month;
- `resumed`: payment resumes this month (lifecycle's `back_pay` row with `resumes_on` in the
  month): this month's amount plus the suspended months paid back;
- `terminated`: ended this month or the month before (death, emigration...), or with an
  overpayment still being recovered: nothing paid; `overpayment` is what the recovery cases
  (open or confirmed) of the enrollment ask back.

The status is the enrollment's current one (the list is made for the month being paid);
terminations are dated by their decision (else the enrollment's end date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, Select, inspect, select
from sqlalchemy.orm import InstrumentedAttribute

from lifesign.catalog import Catalog
from lifesign.catalog.model import CatalogError
from lifesign.errors import LifesignError, Location
from lifesign.integrity.models import Case
from lifesign.registry.ids import mask_id_number
from lifesign.store.models import Enrollment, Person

LineStatus = Literal["payable", "suspended", "resumed", "terminated"]
LINE_STATUSES: tuple[LineStatus, ...] = ("payable", "suspended", "resumed", "terminated")
ZERO = Decimal("0.00")


class PaymentListError(LifesignError):
    """A payment list that cannot be made: unknown program, malformed month."""


@dataclass(frozen=True)
class PaymentLine:
    """One enrollment in one month's payment list. `id_number` is the full number: mask it
    (`masked_id_number`) everywhere except the paying department's export."""

    enrollment_id: int
    external_ref: str
    person_id: int
    name: str
    id_number: str
    sex: str | None
    birth_date: dt.date | None
    age: int | None
    grid_code: str | None
    household_id: str | None
    address: str | None
    program: str
    month: str
    status: LineStatus
    amount: Decimal  # to pay for this month
    back_pay_months: int
    back_pay_amount: Decimal
    overpayment: Decimal  # to recover (terminated)
    since: dt.date | None  # suspended / terminated since, resumes on
    note: str

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def total(self) -> Decimal:
        """What the paying department transfers this month: the amount plus any back pay."""
        return self.amount + self.back_pay_amount


@dataclass(frozen=True)
class StatusTotals:
    status: LineStatus
    lines: int
    amount: Decimal
    back_pay_months: int
    back_pay_amount: Decimal
    overpayment: Decimal

    @property
    def total(self) -> Decimal:
        return self.amount + self.back_pay_amount


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """The first and last day of 'YYYY-MM'."""
    try:
        first = dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        raise PaymentListError(
            what=f"{month!r} is not a month",
            why="write the month as YYYY-MM, e.g. 2026-05",
            where=Location(field="month"),
        ) from None
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def _previous_month_start(first: dt.date) -> dt.date:
    return (
        dt.date(first.year - 1, 12, 1) if first.month == 1 else first.replace(month=first.month - 1)
    )


def age_on(birth: dt.date | None, on: dt.date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def payment_list(engine: Engine, catalog: Catalog, program: str, month: str) -> list[PaymentLine]:
    """Every enrollment of `program` concerned by `month`, ordered by grid, then reference."""
    if program not in catalog.programs:
        raise PaymentListError(
            what=f"unknown program {program!r}",
            why="a program code of the catalog: " + ", ".join(sorted(catalog.programs)),
            where=Location(field="program"),
        )
    rules = catalog.programs[program]
    first, last = month_bounds(month)
    previous = _previous_month_start(first)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        rows = connection.execute(
            select(
                Enrollment.enrollment_id,
                Enrollment.external_ref,
                Enrollment.person_id,
                Enrollment.start_date,
                Enrollment.end_date,
                Enrollment.monthly_amount,
                Enrollment.status,
                Person.name,
                Person.id_number,
                Person.sex,
                Person.birth_date,
                Person.grid_code,
                Person.household_id,
                Person.address,
            )
            .join(Person, Person.person_id == Enrollment.person_id)
            .where(Enrollment.program == program, Enrollment.start_date <= last)
        ).all()
        # The program's enrollments are named by a join, not by an IN list of every id (tens
        # of thousands of bound parameters, minutes at Bozhou scale).
        listed = _Listed(program, last)
        # a termination dates from its first decision, a suspension from its latest
        ended = _decision_dates(connection, listed, tables, "terminated", min)
        suspended_since = _decision_dates(connection, listed, tables, "suspended", max)
        back_pay = _back_pay(connection, listed, first, last, tables)
        overpaid = _overpayments(connection, listed)
    lines: list[PaymentLine] = []
    for r in rows:
        eid = int(r.enrollment_id)
        age = age_on(r.birth_date, first)
        try:
            standard = rules.monthly_amount(first, age)
            note = ""
        except CatalogError:
            standard = Decimal(r.monthly_amount)
            note = "no catalog amount for this month and age: the enrollment's amount"
        status: LineStatus
        amount = ZERO
        since: dt.date | None = None
        bp_months, bp_amount = 0, ZERO
        if r.status == "terminated":
            since = ended.get(eid) or r.end_date
            recent = since is not None and previous <= since <= last
            if not recent and overpaid.get(eid, ZERO) <= 0:
                continue
            status = "terminated"
        elif r.end_date is not None and r.end_date < first:
            continue  # entitlement ended before the month (e.g. a child turned 18)
        elif r.status == "suspended":
            status, since = "suspended", suspended_since.get(eid)
        elif eid in back_pay:
            status = "resumed"
            since, bp_months, bp_amount = back_pay[eid]
            amount = standard
        else:
            status, amount = "payable", standard
        lines.append(
            PaymentLine(
                enrollment_id=eid,
                external_ref=r.external_ref,
                person_id=int(r.person_id),
                name=r.name or "",
                id_number=r.id_number or "",
                sex=r.sex,
                birth_date=r.birth_date,
                age=age,
                grid_code=r.grid_code,
                household_id=r.household_id,
                address=r.address,
                program=program,
                month=month,
                status=status,
                amount=Decimal(amount).quantize(ZERO),
                back_pay_months=bp_months,
                back_pay_amount=Decimal(bp_amount).quantize(ZERO),
                overpayment=overpaid.get(eid, ZERO) if status == "terminated" else ZERO,
                since=since,
                note=note if status in ("payable", "resumed") else "",
            )
        )
    lines.sort(key=lambda line: (line.grid_code or "", line.external_ref))
    return lines


_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class _Listed:
    """The enrollments a payment list covers: the program's, started by the month's end."""

    program: str
    last: dt.date

    def of(self, query: _Query, enrollment_id: InstrumentedAttribute[Any]) -> _Query:
        """`query` kept to the rows whose `enrollment_id` is one of the listed enrollments."""
        return query.join(Enrollment, Enrollment.enrollment_id == enrollment_id).where(
            Enrollment.program == self.program, Enrollment.start_date <= self.last
        )


def _decision_dates(
    connection: Connection,
    listed: _Listed,
    tables: set[str],
    kind: Literal["terminated", "suspended"],
    pick: Callable[[dt.date, dt.date], dt.date],
) -> dict[int, dt.date]:
    """The effective date of each listed enrollment's decisions of `kind` (its own, or the
    one per enrollment a death / emigration writes), `pick` choosing among several."""
    if "decisions" not in tables:
        return {}
    from lifesign.certify.models import Decision

    out: dict[int, dt.date] = {}
    found = connection.execute(
        listed.of(
            select(Decision.enrollment_id, Decision.effective_date).where(Decision.kind == kind),
            Decision.enrollment_id,
        )
    )
    for eid, effective in found:
        if eid is None:
            continue
        out[int(eid)] = pick(out.get(int(eid), effective), effective)
    return out


def _back_pay(
    connection: Connection, listed: _Listed, first: dt.date, last: dt.date, tables: set[str]
) -> dict[int, tuple[dt.date, int, Decimal]]:
    """(resumes_on, months, amount) of the back pay paid with this month, per enrollment."""
    if "back_pay" not in tables:
        return {}
    from lifesign.lifecycle.models import BackPay

    out: dict[int, tuple[dt.date, int, Decimal]] = {}
    found = connection.execute(
        listed.of(
            select(BackPay.enrollment_id, BackPay.resumes_on, BackPay.months, BackPay.amount).where(
                BackPay.resumes_on >= first, BackPay.resumes_on <= last
            ),
            BackPay.enrollment_id,
        )
    )
    for eid, resumes_on, months, amount in found:
        _, before_months, before_amount = out.get(int(eid), (resumes_on, 0, ZERO))
        out[int(eid)] = (resumes_on, before_months + int(months), before_amount + Decimal(amount))
    return out


def _overpayments(connection: Connection, listed: _Listed) -> dict[int, Decimal]:
    """What the open or confirmed recovery cases of each enrollment ask back."""
    out: dict[int, Decimal] = {}
    found = connection.execute(
        listed.of(
            select(Case.enrollment_id, Case.amount).where(
                Case.kind == "recovery", Case.status.in_(("open", "confirmed"))
            ),
            Case.enrollment_id,
        )
    )
    for eid, amount in found:
        if eid is None:
            continue
        out[int(eid)] = out.get(int(eid), ZERO) + Decimal(amount or 0).quantize(ZERO)
    return out


def totals_by_status(lines: Iterable[PaymentLine]) -> list[StatusTotals]:
    """One row per status (every status, even with no line), in LINE_STATUSES order."""
    sums: dict[LineStatus, list[Decimal | int]] = {
        s: [0, ZERO, 0, ZERO, ZERO] for s in LINE_STATUSES
    }
    for line in lines:
        acc = sums[line.status]
        acc[0] = int(acc[0]) + 1
        acc[1] = Decimal(acc[1]) + line.amount
        acc[2] = int(acc[2]) + line.back_pay_months
        acc[3] = Decimal(acc[3]) + line.back_pay_amount
        acc[4] = Decimal(acc[4]) + line.overpayment
    return [
        StatusTotals(
            status=s,
            lines=int(v[0]),
            amount=Decimal(v[1]),
            back_pay_months=int(v[2]),
            back_pay_amount=Decimal(v[3]),
            overpayment=Decimal(v[4]),
        )
        for s, v in sums.items()
    ]
