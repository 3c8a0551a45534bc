"""Integrity cases for the officers: 冒领 signals, recoveries (追回), 多领 and 重领.

    page = case_list(connection, principal, kind="fraud", status="open")
    counts = case_counts(connection, principal)          # per kind and status, for the tabs
    detail = case_detail(connection, principal, catalog, case_id)   # None when out of scope

Scope: a program officer sees a case about one enrollment when that enrollment is of one of
their programs, and a case about the person (no enrollment: a 冒领 signal) when the person is
enrolled in one of their programs. The reads go through lifesign.integrity.cases (the same
records `lifesign cases show` prints); only the list and its scope are SQL of this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from lifesign.catalog import Catalog
from lifesign.integrity.cases import (
    CASE_TRANSITIONS,
    CaseEventRecord,
    CaseRecord,
    case_events,
    get_case,
)
from lifesign.integrity.models import CASE_KINDS, CASE_STATUSES, Case
from lifesign.store.models import Enrollment, Person
from lifesign.web.auth import Principal
from lifesign.web.permissions import programs_scope
from lifesign.web.queries.keyset import Page, newest_first, page_of, page_size
from lifesign.web.queries.reviews import (
    DecisionLine,
    EvidenceLine,
    PersonFacts,
    decision_line,
    evidence_lines,
    person_facts,
    shown_id_number,
)

__all__ = [
    "CASE_KINDS",
    "CASE_STATUSES",
    "CASE_TRANSITIONS",
    "CaseDetail",
    "CaseRow",
    "CaseTally",
    "case_detail",
    "case_list",
    "case_scope",
    "case_tally",
]

cases_t = cast(Table, Case.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


@dataclass(frozen=True)
class CaseRow:
    case_id: int
    kind: str
    rule: str
    status: str
    opened_on: dt.date
    amount: Decimal | None
    closed_on: dt.date | None
    person_id: int
    name: str
    id_number: str  # masked unless the principal may see it in full
    grid_code: str | None
    program: str | None  # the enrollment's, when the case is about one


@dataclass(frozen=True)
class PaymentEvidence:
    enrollment_id: int | None
    external_ref: str
    program: str
    period: str
    amount: str
    paid_on: str | None
    standard: str | None  # 多领: the catalog amount it exceeds
    age: int | None


@dataclass(frozen=True)
class EnrollmentEvidence:
    enrollment_id: int | None
    external_ref: str
    program: str
    start_date: str | None


@dataclass(frozen=True)
class CaseDetail:
    case: CaseRecord
    person: PersonFacts
    program: str | None
    enrollment_ref: str | None
    enrollment_status: str | None
    records: tuple[EvidenceLine, ...]  # weak activity, death records…
    payments: tuple[PaymentEvidence, ...]
    enrollments: tuple[EnrollmentEvidence, ...]
    events: tuple[CaseEventRecord, ...]
    decisions: tuple[DecisionLine, ...]  # the person's latest decisions (death, suspension…)
    moves: tuple[str, ...]  # what the transition table allows next
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def payments_total(self) -> Decimal:
        return sum((Decimal(p.amount) for p in self.payments), Decimal("0.00"))


def case_scope(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE on `cases` limiting them to the principal's programs (None: every case)."""
    programs = programs_scope(principal)
    if programs is None:
        return None
    own = aliased(enrollments_t)
    any_of_person = aliased(enrollments_t)
    return or_(
        and_(
            cases_t.c.enrollment_id.is_not(None),
            exists(
                select(own.c.enrollment_id).where(
                    own.c.enrollment_id == cases_t.c.enrollment_id,
                    own.c.program.in_(sorted(programs)),
                )
            ),
        ),
        and_(
            cases_t.c.enrollment_id.is_(None),
            exists(
                select(any_of_person.c.enrollment_id).where(
                    any_of_person.c.person_id == cases_t.c.person_id,
                    any_of_person.c.program.in_(sorted(programs)),
                )
            ),
        ),
    )


def _conditions(
    principal: Principal,
    kind: str | None,
    status: str | None,
    rule: str | None,
    program: str | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    scope = case_scope(principal)
    if scope is not None:
        conditions.append(scope)
    if kind in CASE_KINDS:
        conditions.append(cases_t.c.kind == kind)
    if status in CASE_STATUSES:
        conditions.append(cases_t.c.status == status)
    if rule:
        conditions.append(cases_t.c.rule == rule)
    if program:
        conditions.append(
            cases_t.c.enrollment_id.in_(
                select(enrollments_t.c.enrollment_id).where(enrollments_t.c.program == program)
            )
        )
    return conditions


@dataclass(frozen=True)
class CaseTally:
    """Cases in the principal's scope by kind, status and rule: the tabs' counts and the rule
    filter's choices, from one grouped read."""

    counts: Mapping[tuple[str, str, str], int]

    def of(
        self, *, kind: str | None = None, status: str | None = None, rule: str | None = None
    ) -> int:
        return sum(
            n
            for (k, s, r), n in self.counts.items()
            if (kind is None or k == kind)
            and (status is None or s == status)
            and (rule is None or r == rule)
        )

    @property
    def rules(self) -> list[str]:
        return sorted({rule for _, _, rule in self.counts})


def case_tally(connection: Connection, principal: Principal) -> CaseTally:
    scope = case_scope(principal)
    query = select(cases_t.c.kind, cases_t.c.status, cases_t.c.rule, func.count()).group_by(
        cases_t.c.kind, cases_t.c.status, cases_t.c.rule
    )
    if scope is not None:
        query = query.where(scope)
    return CaseTally({(str(k), str(s), str(r)): int(n) for k, s, r, n in connection.execute(query)})


def case_list(
    connection: Connection,
    principal: Principal,
    *,
    kind: str | None = None,
    status: str | None = "open",
    rule: str | None = None,
    program: str | None = None,
    before: int | None = None,
    size: int | None = None,
    tally: CaseTally | None = None,
) -> Page[CaseRow]:
    """Cases newest first, filtered and scoped, one keyset page. Given the principal's
    `tally`, the total of a filter without a program is read from it instead of counted."""
    size = page_size(size)
    conditions = _conditions(principal, kind, status, rule, program)
    if tally is not None and not program:
        total = tally.of(kind=kind, status=status, rule=rule)
    else:
        total = connection.execute(
            select(func.count()).select_from(cases_t).where(*conditions)
        ).scalar_one()
    # the page's ids first, on `cases` alone; then the names for those few rows only (joining
    # before the sort would fetch the people of every case in scope)
    ids = newest_first(
        select(cases_t.c.case_id).where(*conditions), cases_t.c.case_id, before, size
    )
    query = (
        select(
            cases_t.c.case_id,
            cases_t.c.kind,
            cases_t.c.rule,
            cases_t.c.status,
            cases_t.c.opened_on,
            cases_t.c.amount,
            cases_t.c.closed_on,
            people_t.c.person_id,
            people_t.c.name,
            people_t.c.id_number,
            people_t.c.grid_code,
            enrollments_t.c.program,
        )
        .select_from(
            cases_t.join(people_t, people_t.c.person_id == cases_t.c.person_id).outerjoin(
                enrollments_t, enrollments_t.c.enrollment_id == cases_t.c.enrollment_id
            )
        )
        .where(cases_t.c.case_id.in_(ids.scalar_subquery()))
        .order_by(cases_t.c.case_id.desc())
    )
    out = [
        CaseRow(
            case_id=int(r.case_id),
            kind=r.kind,
            rule=r.rule,
            status=r.status,
            opened_on=r.opened_on,
            amount=None if r.amount is None else Decimal(r.amount).quantize(Decimal("0.01")),
            closed_on=r.closed_on,
            person_id=int(r.person_id),
            name=r.name or "",
            id_number=shown_id_number(principal, r.id_number),
            grid_code=r.grid_code,
            program=r.program,
        )
        for r in connection.execute(query)
    ]
    return page_of(out, lambda row: row.case_id, int(total), size, before)


def in_scope(connection: Connection, principal: Principal, case_id: int) -> bool:
    scope = case_scope(principal)
    query = select(cases_t.c.case_id).where(cases_t.c.case_id == case_id)
    if scope is not None:
        query = query.where(scope)
    return connection.execute(query).first() is not None


def _payments(items: Sequence[Mapping[str, Any]]) -> tuple[PaymentEvidence, ...]:
    return tuple(
        PaymentEvidence(
            enrollment_id=None if i.get("enrollment_id") is None else int(i["enrollment_id"]),
            external_ref=str(i.get("external_ref") or ""),
            program=str(i.get("program") or ""),
            period=str(i.get("period") or ""),
            amount=str(i.get("amount") or "0"),
            paid_on=None if i.get("paid_on") is None else str(i["paid_on"]),
            standard=None if i.get("standard") is None else str(i["standard"]),
            age=None if i.get("age") is None else int(i["age"]),
        )
        for i in items
    )


def _enrollments(items: Sequence[Mapping[str, Any]]) -> tuple[EnrollmentEvidence, ...]:
    return tuple(
        EnrollmentEvidence(
            enrollment_id=None if i.get("enrollment_id") is None else int(i["enrollment_id"]),
            external_ref=str(i.get("external_ref") or ""),
            program=str(i.get("program") or ""),
            start_date=None if i.get("start_date") is None else str(i["start_date"]),
        )
        for i in items
    )


def case_detail(
    connection: Connection, principal: Principal, catalog: Catalog, case_id: int
) -> CaseDetail | None:
    """One case with its evidence sorted by kind, its trail and the person; None when it does
    not exist or is out of the principal's scope (the page answers 404 either way)."""
    if not in_scope(connection, principal, case_id):
        return None
    case = get_case(connection, case_id)
    items = [i for i in case.evidence if isinstance(i, Mapping)]
    payments = [i for i in items if i.get("kind") == "payment"]
    enrollments = [i for i in items if i.get("kind") == "enrollment"]
    records = [i for i in items if i.get("kind") not in ("payment", "enrollment")]
    enrollment = None
    if case.enrollment_id is not None:
        enrollment = connection.execute(
            select(
                enrollments_t.c.program, enrollments_t.c.external_ref, enrollments_t.c.status
            ).where(enrollments_t.c.enrollment_id == case.enrollment_id)
        ).first()
    from lifesign.certify.models import Decision

    decisions_t = cast(Table, Decision.__table__)
    latest = connection.execute(
        select(decisions_t)
        .where(
            decisions_t.c.person_id == case.person_id,
            decisions_t.c.kind.in_(
                ("deceased", "terminated", "suspended", "resumed", "review", "certified")
            ),
        )
        .order_by(decisions_t.c.decision_id.desc())
        .limit(8)
    ).all()
    return CaseDetail(
        case=case,
        person=person_facts(connection, principal, case.person_id),
        program=enrollment.program if enrollment else (case.details or {}).get("program"),
        enrollment_ref=enrollment.external_ref if enrollment else None,
        enrollment_status=enrollment.status if enrollment else None,
        records=evidence_lines(records, catalog),
        payments=_payments(payments),
        enrollments=_enrollments(enrollments),
        events=tuple(case_events(connection, case_id)),
        decisions=tuple(decision_line(d) for d in latest),
        moves=tuple(sorted(CASE_TRANSITIONS.get(case.status, frozenset()))),
        details=dict(case.details or {}),
    )
