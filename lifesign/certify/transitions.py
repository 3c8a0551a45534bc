"""THE status transitions: which status may follow which, for persons and for enrollments.

Every status change in lifesign goes through `apply_person_transition(s)` or
`apply_enrollment_transition(s)`: they refuse a change the tables below do not list (with an
error saying what, why and where) and write a `status_events` row naming the decision that
caused it. No other code updates `enrollments.status` or `person_state.status`.

A transition to the same status is not a change: it is refused too (callers check first,
or use `skip_unchanged=True` in the bulk functions, e.g. a pass that meets an enrollment
already terminated by a department).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, insert, select, update

from lifesign.certify.models import Decision, PersonStateRow, StatusEvent
from lifesign.errors import LifesignError, Location
from lifesign.store.bulk import among, insert_rows, update_rows
from lifesign.store.models import Enrollment

__all__ = [
    "ENROLLMENT_TRANSITIONS",
    "PERSON_TRANSITIONS",
    "EnrollmentChange",
    "TransitionRefused",
    "apply_enrollment_transition",
    "apply_enrollment_transitions",
    "apply_person_transition",
    "enrollment_transition_allowed",
    "person_transition_allowed",
]

# Person status → the statuses that may follow it, and why.
PERSON_TRANSITIONS: Mapping[str, frozenset[str]] = {
    # strong evidence (or a manual channel, or a review's resolution) establishes a status;
    # a contradiction sends the person to review
    "alive": frozenset({"deceased", "imprisoned", "emigrated", "moved_away", "review"}),
    # released (review resolution), or died in prison
    "imprisoned": frozenset({"alive", "deceased", "review"}),
    # came back (review resolution), or died abroad
    "emigrated": frozenset({"alive", "deceased", "review"}),
    "moved_away": frozenset({"alive", "deceased", "review"}),
    # alive evidence after a recorded death: only an officer can reverse a death
    "deceased": frozenset({"review"}),
    # the officer's resolution of the contradiction
    "review": frozenset({"alive", "deceased", "imprisoned", "emigrated", "moved_away"}),
}

# Enrollment status → the statuses that may follow it.
ENROLLMENT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "active": frozenset({"suspended", "terminated"}),
    # resumed when certified again (or released), or ended
    "suspended": frozenset({"active", "terminated"}),
    # reinstated only when a review finds the terminating record wrong (e.g. a wrong death)
    "terminated": frozenset({"active"}),
}

status_events_t = cast(Table, StatusEvent.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
person_state_t = cast(Table, PersonStateRow.__table__)
decisions_t = cast(Table, Decision.__table__)


@dataclass
class TransitionRefused(LifesignError):
    """A status change that the transition table does not allow."""


def person_transition_allowed(from_status: str, to_status: str) -> bool:
    return to_status in PERSON_TRANSITIONS.get(from_status, frozenset())


def enrollment_transition_allowed(from_status: str, to_status: str) -> bool:
    return to_status in ENROLLMENT_TRANSITIONS.get(from_status, frozenset())


def _refused(target: str, key: int, from_status: str, to_status: str) -> TransitionRefused:
    table = PERSON_TRANSITIONS if target == "person" else ENROLLMENT_TRANSITIONS
    allowed = ", ".join(sorted(table.get(from_status, frozenset()))) or "nothing"
    return TransitionRefused(
        what=f"{target} {key} cannot go from {from_status!r} to {to_status!r}",
        why=f"the transition table allows {from_status!r} → {allowed}",
        where=Location(key=f"lifesign.certify.transitions.{target.upper()}_TRANSITIONS"),
    )


def _effective_date(connection: Connection, decision_id: int | None, on: dt.date | None) -> dt.date:
    if on is not None:
        return on
    if decision_id is not None:
        found = connection.execute(
            select(decisions_t.c.effective_date).where(decisions_t.c.decision_id == decision_id)
        ).scalar_one_or_none()
        if found is not None:
            return cast(dt.date, found)
    raise LifesignError(
        "a status change needs a date",
        "pass `on=` or the id of a recorded decision whose effective date it takes",
        Location(key="lifesign.certify.transitions"),
    )


def apply_person_transition(
    connection: Connection,
    person_id: int,
    to_status: str,
    *,
    decision_id: int | None,
    on: dt.date | None = None,
) -> str:
    """Change a person's status (in `person_state`) and write the event; the previous status.

    `on` is the effective date (default: the decision's effective date). A person without a
    state row is `alive` (the registry's recipients are alive until evidence says otherwise).
    """
    from lifesign.certify.ledger import ensure_person_state

    ensure_person_state(connection, [person_id])
    current = connection.execute(
        select(person_state_t.c.status).where(person_state_t.c.person_id == person_id)
    ).scalar_one()
    if not person_transition_allowed(current, to_status):
        raise _refused("person", person_id, current, to_status)
    at = _effective_date(connection, decision_id, on)
    connection.execute(
        update(person_state_t)
        .where(person_state_t.c.person_id == person_id)
        .values(status=to_status, status_since=at)
    )
    connection.execute(
        insert(status_events_t).values(
            target="person",
            person_id=person_id,
            enrollment_id=None,
            from_status=current,
            to_status=to_status,
            decision_id=decision_id,
            at=at,
        )
    )
    return str(current)


@dataclass(frozen=True)
class EnrollmentChange:
    """One requested enrollment status change (for the bulk function)."""

    enrollment_id: int
    to_status: str
    decision_id: int | None
    on: dt.date


def apply_enrollment_transition(
    connection: Connection,
    enrollment_id: int,
    to_status: str,
    *,
    decision_id: int | None,
    on: dt.date | None = None,
) -> str:
    """Change an enrollment's status and write the event; returns the previous status."""
    current = connection.execute(
        select(enrollments_t.c.status).where(enrollments_t.c.enrollment_id == enrollment_id)
    ).scalar_one_or_none()
    if current is None:
        raise LifesignError(
            f"enrollment {enrollment_id} does not exist",
            "a status change needs an enrollment of the registry",
            Location(key="enrollments.enrollment_id"),
        )
    at = _effective_date(connection, decision_id, on)
    apply_enrollment_transitions(
        connection, [EnrollmentChange(enrollment_id, to_status, decision_id, at)]
    )
    return str(current)


def apply_enrollment_transitions(
    connection: Connection, changes: Iterable[EnrollmentChange], *, skip_unchanged: bool = False
) -> int:
    """Apply many enrollment changes at once (checked one by one against the table): one
    read of the enrollments, one executemany of the new statuses and one of the events
    (`lifesign.store.bulk`), in the caller's transaction.

    With `skip_unchanged`, a change to the status the enrollment already has is dropped
    instead of refused. Returns the number of changes applied.
    """
    wanted = list(changes)
    if not wanted:
        return 0
    ids = sorted({change.enrollment_id for change in wanted})
    current: dict[int, str] = {}
    person_of: dict[int, int] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for enrollment_id, person_id, status in connection.execute(
            select(
                enrollments_t.c.enrollment_id, enrollments_t.c.person_id, enrollments_t.c.status
            ).where(among(connection, enrollments_t.c.enrollment_id, chunk))
        ):
            current[int(enrollment_id)] = str(status)
            person_of[int(enrollment_id)] = int(person_id)
    events = []
    for change in wanted:
        before = current.get(change.enrollment_id)
        if before is None:
            raise LifesignError(
                f"enrollment {change.enrollment_id} does not exist",
                "a status change needs an enrollment of the registry",
                Location(key="enrollments.enrollment_id"),
            )
        if skip_unchanged and before == change.to_status:
            continue
        if not enrollment_transition_allowed(before, change.to_status):
            raise _refused("enrollment", change.enrollment_id, before, change.to_status)
        current[change.enrollment_id] = change.to_status
        events.append((change, before))
    if not events:
        return 0
    update_rows(
        connection,
        enrollments_t,
        "enrollment_id",
        [{"enrollment_id": c.enrollment_id, "status": c.to_status} for c, _ in events],
    )
    insert_rows(
        connection,
        status_events_t,
        [
            {
                "target": "enrollment",
                "person_id": person_of[c.enrollment_id],
                "enrollment_id": c.enrollment_id,
                "from_status": before,
                "to_status": c.to_status,
                "decision_id": c.decision_id,
                "at": c.on,
            }
            for c, before in events
        ],
    )
    return len(events)
