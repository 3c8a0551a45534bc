"""The review queue: contradictions an officer decides, never the machine.

`open_review` files a contradiction with both sides (e.g. `{"death": [refs], "alive": [refs]}`);
one open review per person and kind (opening it again returns the open one).
`resolve_review` records the officer's decision as a ledger decision (rule
`review_resolved`, channel null) and moves the person's status through the transition table.

Resolutions (`--decision`):

- `alive`: the person is alive (e.g. the death record was wrong). A deceased person's
  terminated enrollments are reinstated ('resumed'); a person under review goes back to alive.
- `deceased`: the person died on `death_date` (default: the earliest death record of the
  review); every enrollment not yet terminated is terminated from that date.
- `released`: an imprisoned person is free again from `on`; enrollments suspended by the
  imprisonment resume.
- `dismissed`: nothing changes (the review was not a contradiction); the person leaves
  `review` for the status they had before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update

from lifesign.certify.ledger import current_state, record_decision
from lifesign.certify.models import Review, StatusEvent
from lifesign.certify.rules import Rule
from lifesign.certify.transitions import (
    EnrollmentChange,
    apply_enrollment_transitions,
    apply_person_transition,
)
from lifesign.errors import LifesignError, Location
from lifesign.store.models import Enrollment

__all__ = ["RESOLUTIONS", "ReviewView", "get_review", "open_review", "resolve_review"]

RESOLUTIONS = ("alive", "deceased", "released", "dismissed")

reviews_t = cast(Table, Review.__table__)
status_events_t = cast(Table, StatusEvent.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


@dataclass(frozen=True)
class ReviewView:
    review_id: int
    person_id: int
    kind: str
    sides: dict[str, Any]
    status: str
    opened_on: dt.date
    decision_id: int | None
    resolution: str | None
    reason: str | None
    resolved_by: str | None
    resolved_on: dt.date | None
    resolution_decision_id: int | None


def open_review(
    connection: Connection,
    person_id: int,
    kind: str,
    sides: Mapping[str, Any],
    decided_on: dt.date,
    *,
    decision_id: int | None = None,
) -> int:
    """File a contradiction (idempotent per person and kind while open); the review id."""
    existing = connection.execute(
        select(reviews_t.c.review_id).where(
            reviews_t.c.person_id == person_id,
            reviews_t.c.kind == kind,
            reviews_t.c.status == "open",
        )
    ).scalar_one_or_none()
    if existing is not None:
        return int(existing)
    return int(
        connection.execute(
            insert(reviews_t)
            .values(
                person_id=person_id,
                kind=kind,
                sides=dict(sides),
                status="open",
                opened_on=decided_on,
                decision_id=decision_id,
            )
            .returning(reviews_t.c.review_id)
        ).scalar_one()
    )


def get_review(connection: Connection, review_id: int) -> ReviewView:
    row = connection.execute(select(reviews_t).where(reviews_t.c.review_id == review_id)).first()
    if row is None:
        raise LifesignError(
            f"review {review_id} does not exist",
            "list the open reviews with `lifesign review list`",
            Location(key="reviews.review_id"),
        )
    return ReviewView(**row._asdict())


def _status_before_review(connection: Connection, person_id: int) -> str:
    """The status the person had when the review put them in `review`."""
    found = connection.execute(
        select(status_events_t.c.from_status)
        .where(
            status_events_t.c.target == "person",
            status_events_t.c.person_id == person_id,
            status_events_t.c.to_status == "review",
        )
        .order_by(status_events_t.c.event_id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return str(found) if found is not None else "alive"


def _earliest_death(sides: Mapping[str, Any]) -> dt.date | None:
    times = [ref["event_time"] for ref in sides.get("death", []) if "event_time" in ref]
    return dt.date.fromisoformat(min(times)[:10]) if times else None


def resolve_review(
    connection: Connection,
    review_id: int,
    *,
    decision: str,
    reason: str,
    resolved_by: str,
    on: dt.date,
    catalog_version: str,
    death_date: dt.date | None = None,
) -> int | None:
    """Apply an officer's resolution; the decision recorded (None for `dismissed`)."""
    review = get_review(connection, review_id)
    if review.status != "open":
        raise LifesignError(
            f"review {review_id} is already resolved ({review.resolution})",
            "a resolution is final; a new contradiction opens a new review",
            Location(key="reviews.status"),
        )
    if decision not in RESOLUTIONS:
        raise LifesignError(
            f"unknown resolution {decision!r}",
            f"a review is resolved as {', '.join(RESOLUTIONS)}",
            Location(key="--decision"),
        )
    if not reason.strip():
        raise LifesignError("a resolution needs a reason", where=Location(key="--reason"))
    person_id = review.person_id
    state = current_state(connection, person_id)
    details = {"review_id": review_id, "reason": reason, "resolved_by": resolved_by}
    evidence = [ref for side in review.sides.values() if isinstance(side, list) for ref in side]
    decision_id: int | None = None
    enrollments = connection.execute(
        select(enrollments_t.c.enrollment_id, enrollments_t.c.status).where(
            enrollments_t.c.person_id == person_id
        )
    ).all()

    def decide(kind: str, effective: dt.date, enrollment_id: int | None = None) -> int:
        return record_decision(
            connection,
            person_id=person_id,
            kind=kind,
            effective_date=effective,
            decided_on=on,
            rule=Rule.REVIEW_RESOLVED,
            catalog_version=catalog_version,
            evidence=evidence,
            enrollment_id=enrollment_id,
            details=details,
        )

    if decision == "deceased":
        died = death_date or _earliest_death(review.sides) or state.death_date
        if died is None:
            raise LifesignError(
                "a death needs a date",
                "the review holds no death record: give --death-date",
                Location(key="--death-date"),
            )
        decision_id = decide("deceased", died)
        if state.status != "deceased":
            apply_person_transition(connection, person_id, "deceased", decision_id=decision_id)
        changes = []
        for enrollment_id, status in enrollments:
            if status != "terminated":
                terminated = decide("terminated", died, enrollment_id)
                changes.append(EnrollmentChange(enrollment_id, "terminated", terminated, died))
        apply_enrollment_transitions(connection, changes)
    elif decision in ("alive", "released"):
        before = (
            _status_before_review(connection, person_id)
            if state.status == "review"
            else state.status
        )
        decision_id = decide("released" if decision == "released" else "resumed", on)
        if state.status != "alive":
            apply_person_transition(connection, person_id, "alive", decision_id=decision_id)
        # benefits the wrong record stopped start again (terminated by a death, suspended by
        # an imprisonment); those a department stopped for other reasons are not ours to undo
        stopped = {"deceased": "terminated", "imprisoned": "suspended"}.get(before)
        changes = []
        for enrollment_id, status in enrollments:
            if status == stopped:
                resumed = decide("resumed", on, enrollment_id)
                changes.append(EnrollmentChange(enrollment_id, "active", resumed, on))
        apply_enrollment_transitions(connection, changes)
    else:  # dismissed
        before = _status_before_review(connection, person_id)
        if state.status == "review" and before != "review":
            apply_person_transition(connection, person_id, before, decision_id=None, on=on)
    connection.execute(
        update(reviews_t)
        .where(reviews_t.c.review_id == review_id)
        .values(
            status="resolved",
            resolution=decision,
            reason=reason,
            resolved_by=resolved_by,
            resolved_on=on,
            resolution_decision_id=decision_id,
        )
    )
    return decision_id
