"""The review queue: contradictions an officer decides (lifesign.certify.reviews).

    page = review_queue(connection, principal, status="open", kind=None, before=None, size=50)
    detail = review_detail(connection, principal, review_id)   # None when out of scope

Both are scoped by `people_scope` (a program officer sees the reviews of the people enrolled
in their programs); an ID number is masked unless the principal may see it in full.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select

from lifesign.catalog import Catalog
from lifesign.certify.models import Decision, PersonStateRow, Review
from lifesign.certify.reviews import RESOLUTIONS
from lifesign.registry.ids import mask_id_number
from lifesign.store.models import Enrollment, Person
from lifesign.web.auth import Principal
from lifesign.web.permissions import allowed, people_scope
from lifesign.web.queries.keyset import Page, newest_first, page_of, page_size

__all__ = [
    "RESOLUTIONS",
    "REVIEW_STATUSES",
    "DecisionLine",
    "EvidenceLine",
    "PersonFacts",
    "ReviewDetail",
    "ReviewRow",
    "ReviewSide",
    "review_detail",
    "review_kinds",
    "review_queue",
]

REVIEW_STATUSES = ("open", "resolved")

reviews_t = cast(Table, Review.__table__)
people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)
decisions_t = cast(Table, Decision.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


@dataclass(frozen=True)
class ReviewRow:
    review_id: int
    kind: str
    status: str
    opened_on: dt.date
    resolution: str | None
    resolved_on: dt.date | None
    person_id: int
    name: str
    id_number: str  # masked unless the principal may see it in full
    grid_code: str | None
    person_status: str
    sides: tuple[tuple[str, int], ...]  # (side, records) — "death: 2 · alive: 1"


@dataclass(frozen=True)
class EvidenceLine:
    """One evidence record of a side, as an officer checks it (never clinical detail)."""

    evidence_type: str
    type_name_zh: str
    type_name_en: str
    strength: str | None
    establishes: str | None
    source: str
    event_time: str  # ISO text as the ledger stores it
    record_id: str

    @property
    def date(self) -> str:
        return self.event_time[:10]


@dataclass(frozen=True)
class ReviewSide:
    name: str  # "death", "alive", "prison"…
    evidence: tuple[EvidenceLine, ...]


@dataclass(frozen=True)
class PersonFacts:
    person_id: int
    name: str
    id_number: str
    sex: str | None
    birth_date: dt.date | None
    grid_code: str | None
    status: str
    status_since: dt.date | None
    last_certified_on: dt.date | None
    channel: str | None
    valid_until: dt.date | None
    death_date: dt.date | None
    enrollments: tuple[tuple[str, str, str], ...]  # (program, status, external_ref)


@dataclass(frozen=True)
class DecisionLine:
    decision_id: int
    kind: str
    effective_date: dt.date
    decided_on: dt.date
    rule: str
    enrollment_id: int | None
    details: Mapping[str, Any] | None


@dataclass(frozen=True)
class ReviewDetail:
    review_id: int
    kind: str
    status: str
    opened_on: dt.date
    sides: tuple[ReviewSide, ...]
    person: PersonFacts
    opening_decision: DecisionLine | None
    resolution: str | None
    reason: str | None
    resolved_by: str | None
    resolved_on: dt.date | None
    resolution_decisions: tuple[DecisionLine, ...]

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def earliest_death(self) -> str | None:
        """The date a `deceased` resolution takes by default (the earliest death record)."""
        dates = [e.date for side in self.sides if side.name == "death" for e in side.evidence]
        return min(dates) if dates else None


def shown_id_number(principal: Principal, id_number: str | None) -> str:
    if not id_number:
        return ""
    return id_number if allowed(principal, "view_full_id") else mask_id_number(id_number)


def _scoped(query: Any, principal: Principal) -> Any:
    scope = people_scope(principal)
    return query if scope is None else query.where(scope)


def review_kinds(connection: Connection, principal: Principal) -> list[str]:
    """The kinds of contradiction present (for the filter), in the principal's scope."""
    query = (
        select(reviews_t.c.kind)
        .join(people_t, people_t.c.person_id == reviews_t.c.person_id)
        .distinct()
        .order_by(reviews_t.c.kind)
    )
    return [str(k) for k in connection.execute(_scoped(query, principal)).scalars()]


def review_queue(
    connection: Connection,
    principal: Principal,
    *,
    status: str | None = "open",
    kind: str | None = None,
    before: int | None = None,
    size: int | None = None,
) -> Page[ReviewRow]:
    """Reviews newest first (status None: every status), one keyset page."""
    size = page_size(size)
    conditions = []
    if status in REVIEW_STATUSES:
        conditions.append(reviews_t.c.status == status)
    if kind:
        conditions.append(reviews_t.c.kind == kind)
    base = select(reviews_t.c.review_id).join(
        people_t, people_t.c.person_id == reviews_t.c.person_id
    )
    total = connection.execute(
        select(func.count()).select_from(_scoped(base.where(*conditions), principal).subquery())
    ).scalar_one()
    query = newest_first(
        select(
            reviews_t.c.review_id,
            reviews_t.c.kind,
            reviews_t.c.status,
            reviews_t.c.opened_on,
            reviews_t.c.resolution,
            reviews_t.c.resolved_on,
            reviews_t.c.sides,
            people_t.c.person_id,
            people_t.c.name,
            people_t.c.id_number,
            people_t.c.grid_code,
            state_t.c.status.label("person_status"),
        )
        .join(people_t, people_t.c.person_id == reviews_t.c.person_id)
        .outerjoin(state_t, state_t.c.person_id == reviews_t.c.person_id)
        .where(*conditions),
        reviews_t.c.review_id,
        before,
        size,
    )
    rows = connection.execute(_scoped(query, principal)).all()
    out = [
        ReviewRow(
            review_id=int(r.review_id),
            kind=r.kind,
            status=r.status,
            opened_on=r.opened_on,
            resolution=r.resolution,
            resolved_on=r.resolved_on,
            person_id=int(r.person_id),
            name=r.name or "",
            id_number=shown_id_number(principal, r.id_number),
            grid_code=r.grid_code,
            person_status=r.person_status or "alive",
            sides=tuple(
                (str(side), len(refs) if isinstance(refs, list) else 0)
                for side, refs in (r.sides or {}).items()
            ),
        )
        for r in rows
    ]
    return page_of(out, lambda row: row.review_id, int(total), size, before)


def evidence_lines(refs: Any, catalog: Catalog) -> tuple[EvidenceLine, ...]:
    lines: list[EvidenceLine] = []
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, Mapping):
            continue
        code = str(ref.get("evidence_type") or "")
        known = catalog.evidence_types.get(code)
        lines.append(
            EvidenceLine(
                evidence_type=code,
                type_name_zh=known.name_zh if known else code,
                type_name_en=known.name_en if known else code,
                strength=str(known.strength) if known else None,
                establishes=str(known.establishes) if known else None,
                source=str(ref.get("source") or ""),
                event_time=str(ref.get("event_time") or ""),
                record_id=str(ref.get("record_id") or ""),
            )
        )
    lines.sort(key=lambda line: line.event_time)
    return tuple(lines)


def decision_line(row: Any) -> DecisionLine:
    return DecisionLine(
        decision_id=int(row.decision_id),
        kind=row.kind,
        effective_date=row.effective_date,
        decided_on=row.decided_on,
        rule=row.rule,
        enrollment_id=None if row.enrollment_id is None else int(row.enrollment_id),
        details=row.details,
    )


def person_facts(connection: Connection, principal: Principal, person_id: int) -> PersonFacts:
    """Who the person is and their current state (the registry seeds a missing state row)."""
    row = connection.execute(
        select(
            people_t.c.person_id,
            people_t.c.name,
            people_t.c.id_number,
            people_t.c.sex,
            people_t.c.birth_date,
            people_t.c.grid_code,
            people_t.c.last_certified_on.label("registry_certified_on"),
            state_t.c.status,
            state_t.c.status_since,
            state_t.c.last_certified_on,
            state_t.c.channel,
            state_t.c.valid_until,
            state_t.c.death_date,
        )
        .outerjoin(state_t, state_t.c.person_id == people_t.c.person_id)
        .where(people_t.c.person_id == person_id)
    ).one()
    enrollments = connection.execute(
        select(enrollments_t.c.program, enrollments_t.c.status, enrollments_t.c.external_ref)
        .where(enrollments_t.c.person_id == person_id)
        .order_by(enrollments_t.c.program, enrollments_t.c.enrollment_id)
    ).all()
    return PersonFacts(
        person_id=int(row.person_id),
        name=row.name or "",
        id_number=shown_id_number(principal, row.id_number),
        sex=row.sex,
        birth_date=row.birth_date,
        grid_code=row.grid_code,
        status=row.status or "alive",
        status_since=row.status_since,
        last_certified_on=row.last_certified_on or row.registry_certified_on,
        channel=row.channel,
        valid_until=row.valid_until,
        death_date=row.death_date,
        enrollments=tuple((str(p), str(s), str(x)) for p, s, x in enrollments),
    )


def review_detail(
    connection: Connection, principal: Principal, catalog: Catalog, review_id: int
) -> ReviewDetail | None:
    """One review with both sides and the person's state; None if it does not exist or the
    person is out of the principal's scope (the page answers 404 either way)."""
    query = (
        select(reviews_t)
        .join(people_t, people_t.c.person_id == reviews_t.c.person_id)
        .where(reviews_t.c.review_id == review_id)
    )
    row = connection.execute(_scoped(query, principal)).first()
    if row is None:
        return None
    wanted = [d for d in (row.decision_id, row.resolution_decision_id) if d is not None]
    decisions = {
        int(d.decision_id): decision_line(d)
        for d in connection.execute(
            select(decisions_t).where(decisions_t.c.decision_id.in_(wanted))
        )
    }
    resolved: Sequence[DecisionLine] = ()
    if row.status == "resolved" and row.resolved_on is not None:
        # the resolution writes one decision about the person and one per enrollment it moved,
        # all with the review's id in their details
        resolved = [
            decision_line(d)
            for d in connection.execute(
                select(decisions_t)
                .where(
                    decisions_t.c.person_id == row.person_id,
                    decisions_t.c.rule == "review_resolved",
                    decisions_t.c.decided_on == row.resolved_on,
                )
                .order_by(decisions_t.c.decision_id)
            )
            if (d.details or {}).get("review_id") == review_id
        ]
    return ReviewDetail(
        review_id=int(row.review_id),
        kind=row.kind,
        status=row.status,
        opened_on=row.opened_on,
        sides=tuple(
            ReviewSide(name=str(side), evidence=evidence_lines(refs, catalog))
            for side, refs in (row.sides or {}).items()
        ),
        person=person_facts(connection, principal, int(row.person_id)),
        opening_decision=decisions.get(int(row.decision_id)) if row.decision_id else None,
        resolution=row.resolution,
        reason=row.reason,
        resolved_by=row.resolved_by,
        resolved_on=row.resolved_on,
        resolution_decisions=tuple(resolved),
    )
