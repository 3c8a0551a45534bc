"""A person's page and the search that finds them.

Search: an ID number (normalised first: full-width digits, a lowercase x, spaces, 15-digit
numbers) matches exactly on the unique `people.id_number`; anything else is a name, matched
exactly, then by prefix — always within the principal's scope (`people_scope`), so a person
out of scope is never listed.

The page reads that one person's rows by key: state, enrollments, decisions (with the records
each rests on), reminders and messages (outbox), payments and back pay, visit tasks, open
reviews; and the evidence timeline from the lake (`lake.person_evidence`). Nothing clinical:
the lake holds the type of a record, its source and its date, nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Column, ColumnElement, Connection, Result, Table, select

from lifesign.certify.models import Decision, EvidenceSummary, PersonStateRow, Review
from lifesign.config import Settings
from lifesign.errors import LifesignError
from lifesign.lifecycle.models import BackPay, VisitTask
from lifesign.notify.models import OutboxMessage
from lifesign.registry.ids import InvalidIdNumber, normalize_id_number
from lifesign.store.models import Enrollment, Payment, Person
from lifesign.web.queries.common import as_date
from lifesign.web.queries.lake import EvidenceRecord, person_evidence
from lifesign.web.queries.parameters import page_parameters

people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
decisions_t = cast(Table, Decision.__table__)
outbox_t = cast(Table, OutboxMessage.__table__)
payments_t = cast(Table, Payment.__table__)
back_pay_t = cast(Table, BackPay.__table__)
tasks_t = cast(Table, VisitTask.__table__)
reviews_t = cast(Table, Review.__table__)
summary_t = cast(Table, EvidenceSummary.__table__)

# The evidence summary's references shown on the page, in this order (field → what it is).
SUMMARY_FIELDS = (
    "strong",
    "weak",
    "death_first",
    "death_last",
    "imprisoned",
    "emigrated",
    "moved_away",
)


# ---------------------------------------------------------------------------------- search


@dataclass(frozen=True)
class Found:
    person_id: int
    name: str | None
    id_number: str | None  # full: templates mask it unless view_full_id
    sex: str | None
    birth_date: dt.date | None
    grid_code: str | None
    status: str | None
    valid_until: dt.date | None


@dataclass(frozen=True)
class SearchResult:
    query: str
    by: str  # 'id_number' | 'name' | 'empty'
    found: tuple[Found, ...]
    truncated: bool


# Sorts after every character: `prefix + this` bounds the names that start with `prefix`.
_LAST_CHARACTER = "\U0010ffff"


def looks_like_id_number(text: str) -> bool:
    """Digits (any width) with an optional X: the user typed an ID number, not a name."""
    stripped = "".join(ch for ch in text if not ch.isspace() and ch not in "-")
    return (
        bool(stripped)
        and all(ch.isdigit() or ch in "xXｘＸ" for ch in stripped)
        and sum(ch.isdigit() for ch in stripped) >= 14
    )


def search_people(
    connection: Connection, scope: ColumnElement[bool] | None, query: str
) -> SearchResult:
    """The persons in scope matching `query` (an ID number or a name)."""
    limit = page_parameters().person.search_limit
    text = query.strip()
    if not text:
        return SearchResult(query, "empty", (), False)
    columns = select(
        people_t.c.person_id,
        people_t.c.name,
        people_t.c.id_number,
        people_t.c.sex,
        people_t.c.birth_date,
        people_t.c.grid_code,
        state_t.c.status,
        state_t.c.valid_until,
    ).select_from(people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id))
    if scope is not None:
        columns = columns.where(scope)
    if looks_like_id_number(text):
        try:
            normalized = normalize_id_number(text)
        except (InvalidIdNumber, LifesignError):  # not a valid number: nobody has it
            return SearchResult(query, "id_number", (), False)
        rows = connection.execute(columns.where(people_t.c.id_number == normalized)).all()
        return SearchResult(query, "id_number", tuple(_found(r) for r in rows), False)
    rows = connection.execute(
        columns.where(people_t.c.name == text).order_by(people_t.c.person_id).limit(limit + 1)
    ).all()
    if not rows:
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = connection.execute(
            columns.where(
                # The range lets the name index find the prefix (a LIKE with ESCAPE cannot);
                # the LIKE keeps the match exact whatever the collation.
                people_t.c.name >= text,
                people_t.c.name < text + _LAST_CHARACTER,
                people_t.c.name.like(pattern, escape="\\"),
            )
            .order_by(people_t.c.name, people_t.c.person_id)
            .limit(limit + 1)
        ).all()
    return SearchResult(query, "name", tuple(_found(r) for r in rows[:limit]), len(rows) > limit)


def _found(row: Any) -> Found:
    return Found(
        person_id=int(row.person_id),
        name=row.name,
        id_number=row.id_number,
        sex=row.sex,
        birth_date=as_date(row.birth_date),
        grid_code=row.grid_code,
        status=row.status,
        valid_until=as_date(row.valid_until),
    )


# ------------------------------------------------------------------------------ the page


@dataclass(frozen=True)
class Benefit:
    enrollment_id: int
    program: str
    status: str
    start_date: dt.date | None
    end_date: dt.date | None
    monthly_amount: Decimal


@dataclass(frozen=True)
class DecisionView:
    decision_id: int
    kind: str
    enrollment_id: int | None
    program: str | None
    effective_date: dt.date | None
    decided_on: dt.date | None
    channel: str | None
    valid_until: dt.date | None
    rule: str
    catalog_version: str
    evidence: tuple[dict[str, Any], ...]  # {source, record_id, evidence_type, event_time}
    details: dict[str, Any]


@dataclass(frozen=True)
class MessageView:
    message_id: int
    reason: str
    status: str
    phone: str  # full: templates mask it
    body: str
    created_at: dt.datetime | None
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None


@dataclass(frozen=True)
class PaymentView:
    period: str
    program: str
    amount: Decimal
    paid_on: dt.date | None


@dataclass(frozen=True)
class BackPayView:
    program: str
    months: int
    amount: Decimal
    resumes_on: dt.date | None
    decided_on: dt.date | None


@dataclass(frozen=True)
class TaskView:
    task_id: int
    due_date: dt.date | None
    reason: str
    status: str
    outcome: str | None
    attempts: int
    created_on: dt.date | None
    closed_on: dt.date | None
    worker: str | None


@dataclass(frozen=True)
class ReviewView:
    review_id: int
    kind: str
    status: str
    opened_on: dt.date | None
    resolution: str | None


@dataclass(frozen=True)
class SummaryRecord:
    """One record the evidence summary keeps (latest strong, latest weak, first death...)."""

    field: str
    event_time: dt.datetime
    source: str
    evidence_type: str


@dataclass(frozen=True)
class PersonPage:
    person_id: int
    name: str | None
    id_number: str | None  # full: templates mask it unless view_full_id
    sex: str | None
    birth_date: dt.date | None
    phone: str | None  # full: templates mask it
    address: str | None
    grid_code: str | None
    status: str
    status_since: dt.date | None
    last_certified_on: dt.date | None
    channel: str | None
    valid_until: dt.date | None
    death_date: dt.date | None
    last_strong_event: dt.date | None
    last_weak_event: dt.date | None
    benefits: tuple[Benefit, ...]
    summary: tuple[SummaryRecord, ...]  # from the state database: instant
    evidence: tuple[EvidenceRecord, ...]  # from the lake (empty unless asked for)
    evidence_truncated: bool
    decisions: tuple[DecisionView, ...]
    messages: tuple[MessageView, ...]
    payments: tuple[PaymentView, ...]
    back_pay: tuple[BackPayView, ...]
    tasks: tuple[TaskView, ...]
    reviews: tuple[ReviewView, ...]

    def age_on(self, day: dt.date) -> int | None:
        if self.birth_date is None:
            return None
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    @property
    def open_task(self) -> TaskView | None:
        for task in self.tasks:
            if task.status == "open":
                return task
        return None


def _json_list(value: Any) -> tuple[dict[str, Any], ...]:
    import json

    if isinstance(value, str):
        value = json.loads(value or "[]")
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, dict))


def _json_dict(value: Any) -> dict[str, Any]:
    import json

    if isinstance(value, str):
        value = json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


def _summary(connection: Connection, person_id: int) -> tuple[SummaryRecord, ...]:
    row = (
        connection.execute(select(summary_t).where(summary_t.c.person_id == person_id))
        .mappings()
        .first()
    )
    if row is None:
        return ()
    found = []
    for name in SUMMARY_FIELDS:
        ref = row.get(f"{name}_ref")
        if not ref:
            continue
        time, source, evidence_type, _record = str(ref).split("|", 3)
        found.append(
            SummaryRecord(
                name, dt.datetime.fromisoformat(time.replace(" ", "T")), source, evidence_type
            )
        )
    return tuple(found)


def _newest_first(
    connection: Connection, key: Column[Any], person_id: int, limit: int | None = None
) -> Result[Any]:
    """The person's rows of `key`'s table, newest (highest key) first, at most `limit`."""
    table = key.table
    query = select(table).where(table.c.person_id == person_id).order_by(key.desc())
    return connection.execute(query if limit is None else query.limit(limit))


def person_page(
    connection: Connection, settings: Settings, person_id: int, *, timeline: bool = True
) -> PersonPage | None:
    """Everything the person's page shows (None: no such person); `timeline`: also read the
    person's records from the lake (the page loads them in a frame of their own, so that the
    page itself answers from the state database alone). Scope is the caller's job
    (`permissions.require_person` before this)."""
    limits = page_parameters().person
    row = connection.execute(
        select(people_t, *[c.label(f"s_{c.name}") for c in state_t.c])
        .select_from(people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id))
        .where(people_t.c.person_id == person_id)
    ).first()
    if row is None:
        return None
    benefits = tuple(
        Benefit(
            int(e.enrollment_id),
            str(e.program),
            str(e.status),
            as_date(e.start_date),
            as_date(e.end_date),
            Decimal(e.monthly_amount),
        )
        for e in connection.execute(
            select(enrollments_t)
            .where(enrollments_t.c.person_id == person_id)
            .order_by(enrollments_t.c.start_date, enrollments_t.c.enrollment_id)
        )
    )
    program_of = {b.enrollment_id: b.program for b in benefits}
    decisions = tuple(
        DecisionView(
            decision_id=int(d.decision_id),
            kind=str(d.kind),
            enrollment_id=d.enrollment_id,
            program=program_of.get(d.enrollment_id) if d.enrollment_id else None,
            effective_date=as_date(d.effective_date),
            decided_on=as_date(d.decided_on),
            channel=d.channel,
            valid_until=as_date(d.valid_until),
            rule=str(d.rule),
            catalog_version=str(d.catalog_version),
            evidence=_json_list(d.evidence),
            details=_json_dict(d.details),
        )
        for d in _newest_first(
            connection, decisions_t.c.decision_id, person_id, limits.decisions_limit
        )
    )
    messages = tuple(
        MessageView(
            int(m.message_id),
            str(m.reason),
            str(m.status),
            str(m.phone),
            str(m.body),
            m.created_at,
            m.sent_at,
            m.delivered_at,
        )
        for m in _newest_first(connection, outbox_t.c.message_id, person_id, limits.messages_limit)
    )
    enrollment_ids = sorted(program_of)
    payments: tuple[PaymentView, ...] = ()
    back_pay: tuple[BackPayView, ...] = ()
    if enrollment_ids:
        payments = tuple(
            PaymentView(
                str(p.period), program_of[p.enrollment_id], Decimal(p.amount), as_date(p.paid_on)
            )
            for p in connection.execute(
                select(payments_t)
                .where(payments_t.c.enrollment_id.in_(enrollment_ids))
                .order_by(payments_t.c.period.desc(), payments_t.c.enrollment_id)
                .limit(limits.payments_limit)
            )
        )
        back_pay = tuple(
            BackPayView(
                program_of[b.enrollment_id],
                int(b.months),
                Decimal(b.amount),
                as_date(b.resumes_on),
                as_date(b.decided_on),
            )
            for b in connection.execute(
                select(back_pay_t)
                .where(back_pay_t.c.enrollment_id.in_(enrollment_ids))  # indexed
                .order_by(back_pay_t.c.decided_on.desc())
            )
        )
    tasks = tuple(
        TaskView(
            int(t.task_id),
            as_date(t.due_date),
            str(t.reason),
            str(t.status),
            t.outcome,
            int(t.attempts or 0),
            as_date(t.created_on),
            as_date(t.closed_on),
            t.worker,
        )
        for t in _newest_first(connection, tasks_t.c.task_id, person_id)
    )
    reviews = tuple(
        ReviewView(int(r.review_id), str(r.kind), str(r.status), as_date(r.opened_on), r.resolution)
        for r in _newest_first(connection, reviews_t.c.review_id, person_id)
    )
    evidence = person_evidence(settings, person_id, limits.timeline_limit + 1) if timeline else []
    return PersonPage(
        person_id=person_id,
        name=row.name,
        id_number=row.id_number,
        sex=row.sex,
        birth_date=as_date(row.birth_date),
        phone=row.phone,
        address=row.address,
        grid_code=row.grid_code,
        status=str(row.s_status or "alive"),
        status_since=as_date(row.s_status_since),
        # Before the pass has seeded the person, the registry's last certification (from the
        # system the city used before) is the last one known — as the review queue and the
        # status API show it.
        last_certified_on=as_date(row.s_last_certified_on) or as_date(row.last_certified_on),
        channel=row.s_channel or row.last_certification_channel,
        valid_until=as_date(row.s_valid_until),
        death_date=as_date(row.s_death_date),
        last_strong_event=as_date(row.s_last_strong_event),
        last_weak_event=as_date(row.s_last_weak_event),
        benefits=benefits,
        summary=_summary(connection, person_id),
        evidence=tuple(evidence[: limits.timeline_limit]),
        evidence_truncated=len(evidence) > limits.timeline_limit,
        decisions=decisions,
        messages=messages,
        payments=payments,
        back_pay=back_pay,
        tasks=tasks,
        reviews=reviews,
    )
