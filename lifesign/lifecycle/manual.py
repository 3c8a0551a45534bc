"""The manual channels: what data cannot certify, people do.

- `certify_self_service`: a face-recognition result from the phone app. A pass certifies
  exactly like a strong alive record (channel 'self_service'); a fail is recorded (in
  `manual_certifications`) and certifies nothing.
- `certify_at_counter`: an officer saw the person at a service counter (channel 'counter').
- `record_visit`: a community worker's visit for a task: seen alive (certified, channel
  'home_visit'), deceased (death decided, every enrollment terminated, overpayment opened as
  recovery cases), moved away (the catalog's `on_status` per program: suspend or terminate),
  not found (the task stays open with the attempt; after `visit_max_not_found` attempts it is
  escalated to the review queue).

Every call is idempotent on its reference (the face verification's id, or the task and time
of a visit): the web app may retry. Decisions go through the ledger and the transition table
like the pass's. Each function opens its own transaction and returns the decision id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Table, insert, select, update

from lifesign.catalog import Catalog
from lifesign.certify.ledger import (
    current_state,
    ensure_person_state,
    record_decision,
    record_decisions,
)
from lifesign.certify.reviews import open_review
from lifesign.certify.rules import add_months, rule_parameters
from lifesign.certify.transitions import (
    EnrollmentChange,
    apply_enrollment_transitions,
    apply_person_transition,
)
from lifesign.errors import LifesignError, Location
from lifesign.lifecycle import daily
from lifesign.lifecycle.models import ManualCertification, VisitAttempt, VisitTask
from lifesign.lifecycle.run import day_parameters
from lifesign.registry.ids import normalize_id_number
from lifesign.store.models import Enrollment, Person

manual_t = cast(Table, ManualCertification.__table__)
tasks_t = cast(Table, VisitTask.__table__)
attempts_t = cast(Table, VisitAttempt.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)

Channel = Literal["self_service", "counter", "home_visit"]
FaceOutcome = Literal["pass", "fail"]
VisitOutcome = Literal["seen_alive", "deceased", "moved_away", "not_found"]
VISIT_OUTCOMES: tuple[VisitOutcome, ...] = ("seen_alive", "deceased", "moved_away", "not_found")

# Stable rule ids of the manual channels' decisions.
RULE_BY_CHANNEL = {
    "self_service": "self_service_face_verified",
    "counter": "counter_seen_in_person",
    "home_visit": "home_visit_seen_alive",
}
RULE_VISIT_DECEASED = "home_visit_deceased"
RULE_VISIT_MOVED = "home_visit_moved_away"
# The evidence type a manual certification records (not a lake evidence type: the channel).
EVIDENCE_TYPE_BY_CHANNEL = {
    "self_service": "face_verification",
    "counter": "counter_in_person",
    "home_visit": "home_visit",
}


class ManualChannelError(LifesignError):
    """A manual certification or visit that cannot be recorded (unknown person, bad input)."""


# ----------------------------------------------------------------------------- persons


def resolve_person(
    connection: Connection, *, id_number: str | None = None, person_id: int | None = None
) -> int:
    """The registry's person_id of an ID number (normalised) or a person_id; never echoes
    the full ID number in an error."""
    from lifesign.registry.ids import InvalidIdNumber, mask_id_number

    if (id_number is None) == (person_id is None):
        raise ManualChannelError(
            "give exactly one of id_number and person_id", where=Location(field="person")
        )
    if person_id is not None:
        found = connection.execute(
            select(people_t.c.person_id).where(people_t.c.person_id == person_id)
        ).scalar_one_or_none()
        if found is None:
            raise ManualChannelError(
                f"no recipient with person_id {person_id}", where=Location(field="person_id")
            )
        return int(found)
    assert id_number is not None
    try:
        normalized = normalize_id_number(id_number)
    except InvalidIdNumber as error:
        raise ManualChannelError(
            "the ID number is not valid",
            f"{error} ({error.reason})",
            Location(field="id_number"),
        ) from None
    found = connection.execute(
        select(people_t.c.person_id).where(people_t.c.id_number == normalized)
    ).scalar_one_or_none()
    if found is None:
        raise ManualChannelError(
            f"no recipient with ID number {mask_id_number(normalized)}",
            "the person is not in the registry",
            Location(field="id_number"),
        )
    return int(found)


def certification_period_months(connection: Connection, catalog: Catalog, person_id: int) -> int:
    """The shortest certification period among the person's programs (the pass's rule)."""
    programs = connection.execute(
        select(enrollments_t.c.program).where(
            enrollments_t.c.person_id == person_id,
            enrollments_t.c.status.in_(("active", "suspended")),
        )
    ).scalars()
    periods = [
        catalog.programs[p].certification_period_months for p in programs if p in catalog.programs
    ]
    return min(periods) if periods else rule_parameters().fallback_certification_period_months


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.astimezone()


def _existing(connection: Connection, channel: str, reference: str) -> Any:
    return connection.execute(
        select(manual_t).where(manual_t.c.channel == channel, manual_t.c.reference == reference)
    ).first()


def _certify(
    connection: Connection,
    catalog: Catalog,
    *,
    person_id: int,
    channel: Channel,
    at: dt.datetime,
    reference: str,
    actor: str | None,
    note: str | None = None,
) -> int | None:
    """Certify a person seen alive through a manual channel; None when not certifiable.

    A person who is not alive (deceased, in review...) is not certified: a contradiction
    (alive seen after a recorded death) goes to the review queue with both sides.
    """
    on = at.date()
    state = current_state(connection, person_id) if _has_state(connection, person_id) else None
    if state is None:
        ensure_person_state(connection, [person_id])
        state = current_state(connection, person_id)
    evidence = [
        {
            "source": channel,
            "record_id": reference,
            "evidence_type": EVIDENCE_TYPE_BY_CHANNEL[channel],
            "event_time": _aware(at).isoformat(timespec="seconds"),
        }
    ]
    if state.status != "alive":
        open_review(
            connection,
            person_id,
            f"{channel}_while_{state.status}",
            {
                "recorded_status": {
                    "status": state.status,
                    "since": state.status_since.isoformat() if state.status_since else None,
                    "death_date": state.death_date.isoformat() if state.death_date else None,
                },
                "seen_alive": {**evidence[0], "actor": actor},
            },
            on,
        )
        return None
    months = certification_period_months(connection, catalog, person_id)
    return record_decision(
        connection,
        person_id=person_id,
        kind="certified",
        effective_date=on,
        decided_on=on,
        rule=RULE_BY_CHANNEL[channel],
        catalog_version=catalog.version,
        evidence=evidence,
        channel=channel,
        valid_until=add_months(on, months),
        details={"actor": actor, **({"note": note} if note else {})},
    )


def _has_state(connection: Connection, person_id: int) -> bool:
    return (
        connection.execute(
            select(daily.state_t.c.person_id).where(daily.state_t.c.person_id == person_id)
        ).first()
        is not None
    )


def _record_attempt(
    connection: Connection,
    *,
    channel: Channel,
    reference: str,
    person_id: int,
    at: dt.datetime,
    outcome: str,
    actor: str | None,
    decision_id: int | None,
    note: str | None = None,
) -> None:
    connection.execute(
        insert(manual_t).values(
            channel=channel,
            reference=reference,
            person_id=person_id,
            at=_aware(at),
            outcome=outcome,
            actor=actor,
            decision_id=decision_id,
            note=note,
        )
    )


# ----------------------------------------------------------------------------- channels


def certify_self_service(
    engine: Engine,
    catalog: Catalog,
    *,
    id_number: str | None = None,
    person_id: int | None = None,
    at: dt.datetime,
    outcome: FaceOutcome,
    reference: str,
) -> int | None:
    """Record a face verification; a 'pass' certifies (the decision id), a 'fail' does not
    (None). The same `reference` again returns the first call's result."""
    if outcome not in ("pass", "fail"):
        raise ManualChannelError(
            f"unknown outcome {outcome!r}",
            "a face verification is 'pass' or 'fail'",
            Location(field="outcome"),
        )
    if not reference.strip():
        raise ManualChannelError(
            "a face verification needs its reference",
            "the reference of the verification makes a retried call harmless",
            Location(field="reference"),
        )
    with engine.begin() as connection:
        person = resolve_person(connection, id_number=id_number, person_id=person_id)
        earlier = _existing(connection, "self_service", reference)
        if earlier is not None:
            return None if earlier.decision_id is None else int(earlier.decision_id)
        decision_id = None
        if outcome == "pass":
            decision_id = _certify(
                connection,
                catalog,
                person_id=person,
                channel="self_service",
                at=at,
                reference=reference,
                actor=None,
            )
        _record_attempt(
            connection,
            channel="self_service",
            reference=reference,
            person_id=person,
            at=at,
            outcome=outcome,
            actor=None,
            decision_id=decision_id,
        )
        return decision_id


def certify_at_counter(
    engine: Engine,
    catalog: Catalog,
    *,
    id_number: str | None = None,
    person_id: int | None = None,
    at: dt.datetime,
    officer: str,
    reference: str | None = None,
) -> int | None:
    """An officer certifies a person seen at a counter; the decision id (None if the person
    is not alive: then a review is opened). `reference` defaults to officer + time."""
    if not officer.strip():
        raise ManualChannelError(
            "a counter certification needs the officer's name", where=Location(field="officer")
        )
    with engine.begin() as connection:
        person = resolve_person(connection, id_number=id_number, person_id=person_id)
        key = reference or f"{officer}@{_aware(at).isoformat(timespec='seconds')}#{person}"
        earlier = _existing(connection, "counter", key)
        if earlier is not None:
            return None if earlier.decision_id is None else int(earlier.decision_id)
        decision_id = _certify(
            connection,
            catalog,
            person_id=person,
            channel="counter",
            at=at,
            reference=key,
            actor=officer,
        )
        _record_attempt(
            connection,
            channel="counter",
            reference=key,
            person_id=person,
            at=at,
            outcome="pass",
            actor=officer,
            decision_id=decision_id,
        )
        return decision_id


# ----------------------------------------------------------------------------- visits


class UnknownTask(ManualChannelError):
    """No visit task has this id."""


def record_visit(
    engine: Engine,
    catalog: Catalog,
    *,
    task_id: int,
    outcome: VisitOutcome,
    at: dt.datetime,
    worker: str,
    death_date: dt.date | None = None,
    note: str | None = None,
) -> int | None:
    """Record a home visit's outcome for a task; the decision id it led to (None for
    'not_found', or when the person was not alive to certify)."""
    if outcome not in VISIT_OUTCOMES:
        raise ManualChannelError(
            f"unknown visit outcome {outcome!r}",
            "one of " + ", ".join(VISIT_OUTCOMES),
            Location(field="outcome"),
        )
    if not worker.strip():
        raise ManualChannelError("a visit needs the worker's name", where=Location(field="worker"))
    if outcome == "deceased" and death_date is None:
        raise ManualChannelError(
            "a death needs its date",
            "pass the death date the family or record gives",
            Location(field="death_date"),
        )
    if death_date is not None and death_date > at.date():
        raise ManualChannelError(
            "the death date is after the visit",
            f"death {death_date}, visit {at.date()}",
            Location(field="death_date"),
        )
    # Cached, read again only when the YAML changes: a visit round records thousands of outcomes.
    parameters, _guard = day_parameters()
    on = at.date()
    with engine.begin() as connection:
        task = connection.execute(select(tasks_t).where(tasks_t.c.task_id == task_id)).first()
        if task is None:
            raise UnknownTask(
                f"there is no visit task {task_id}",
                "see `lifesign visit list`",
                Location(field="task_id"),
            )
        reference = f"task-{task_id}@{_aware(at).isoformat(timespec='seconds')}"
        earlier = _existing(connection, "home_visit", reference)
        if earlier is not None:  # the same visit recorded again: nothing more to do
            return None if earlier.decision_id is None else int(earlier.decision_id)
        if task.status != "open":
            raise ManualChannelError(
                f"visit task {task_id} is {task.status}",
                "only an open task takes a visit's outcome",
                Location(field="task_id"),
            )
        person_id = int(task.person_id)
        connection.execute(
            insert(attempts_t).values(
                task_id=task_id, at=_aware(at), worker=worker, outcome=outcome, note=note
            )
        )
        attempts = int(task.attempts) + 1
        decision_id: int | None = None
        status = "done"
        if outcome == "seen_alive":
            decision_id = _certify(
                connection,
                catalog,
                person_id=person_id,
                channel="home_visit",
                at=at,
                reference=reference,
                actor=worker,
                note=note,
            )
        elif outcome == "deceased":
            assert death_date is not None
            decision_id = _decease(
                connection, catalog, person_id, death_date, on, worker, reference
            )
            if decision_id is not None:
                daily.settle_deaths(
                    connection, catalog, on, None, daily.StepCounts(), person_ids=[person_id]
                )
        elif outcome == "moved_away":
            decision_id = _moved_away(connection, catalog, person_id, on, worker, reference)
        else:  # not_found
            status = "open"
            if attempts >= parameters.visit_max_not_found:
                status = "escalated"
                open_review(
                    connection,
                    person_id,
                    "visit_not_found",
                    {
                        "task": {"task_id": task_id, "due_date": task.due_date.isoformat()},
                        "attempts": attempts,
                        "last_worker": worker,
                    },
                    on,
                )
        values: dict[str, Any] = {"attempts": attempts, "status": status, "worker": worker}
        if status != "open":
            values.update(outcome=outcome, closed_on=on, decision_id=decision_id, note=note)
        connection.execute(update(tasks_t).where(tasks_t.c.task_id == task_id).values(values))
        _record_attempt(
            connection,
            channel="home_visit",
            reference=reference,
            person_id=person_id,
            at=at,
            outcome=outcome,
            actor=worker,
            decision_id=decision_id,
            note=note,
        )
        return decision_id


def _evidence(reference: str, at_day: dt.date, evidence_type: str) -> list[dict[str, Any]]:
    return [
        {
            "source": "home_visit",
            "record_id": reference,
            "evidence_type": evidence_type,
            "event_time": dt.datetime.combine(at_day, dt.time()).isoformat(),
        }
    ]


@dataclass(frozen=True)
class EnrollmentEnd:
    """What a person's new status does to one of their enrollments."""

    enrollment_id: int
    to_status: Literal["suspended", "terminated"]
    details: dict[str, Any] | None = None


def _decide_status(
    connection: Connection,
    catalog: Catalog,
    *,
    person_id: int,
    status: Literal["deceased", "moved_away"],
    effective_date: dt.date,
    on: dt.date,
    rule: str,
    evidence: list[dict[str, Any]],
    details: dict[str, Any],
    enrollments: Sequence[EnrollmentEnd],
) -> int:
    """A person's status decided by a visit: the person's decision and transition, then each
    enrollment's decision (resting on the person's) and transition, in bulk; the person's
    decision id."""
    decision_id = record_decision(
        connection,
        person_id=person_id,
        kind=status,
        effective_date=effective_date,
        decided_on=on,
        rule=rule,
        catalog_version=catalog.version,
        evidence=evidence,
        channel="home_visit",
        details=details,
    )
    apply_person_transition(connection, person_id, status, decision_id=decision_id)
    enrollment_decisions = record_decisions(
        connection,
        [
            {
                "person_id": person_id,
                "enrollment_id": end.enrollment_id,
                "kind": end.to_status,
                "effective_date": effective_date,
                "decided_on": on,
                "rule": rule,
                "catalog_version": catalog.version,
                "evidence": [{"source": "decisions", "record_id": str(decision_id)}],
                "channel": "home_visit",
                "details": end.details,
            }
            for end in enrollments
        ],
    )
    apply_enrollment_transitions(
        connection,
        [
            EnrollmentChange(end.enrollment_id, end.to_status, enrollment_decision, effective_date)
            for end, enrollment_decision in zip(enrollments, enrollment_decisions, strict=True)
        ],
    )
    return decision_id


def _decease(
    connection: Connection,
    catalog: Catalog,
    person_id: int,
    death_date: dt.date,
    on: dt.date,
    worker: str,
    reference: str,
) -> int | None:
    """A death seen by a visit: the same decisions as the pass's death rule (every
    enrollment terminated from the death date)."""
    ensure_person_state(connection, [person_id])
    state = current_state(connection, person_id)
    if state.status == "deceased":
        return None
    return _decide_status(
        connection,
        catalog,
        person_id=person_id,
        status="deceased",
        effective_date=death_date,
        on=on,
        rule=RULE_VISIT_DECEASED,
        evidence=_evidence(reference, on, "home_visit_death"),
        details={"worker": worker},
        enrollments=[
            EnrollmentEnd(enrollment_id, "terminated")
            for enrollment_id, _program, _status in _enrollments(
                connection, person_id, ("active", "suspended")
            )
        ],
    )


def _moved_away(
    connection: Connection,
    catalog: Catalog,
    person_id: int,
    on: dt.date,
    worker: str,
    reference: str,
) -> int | None:
    """Moved away: the person's status, then each enrollment per the program's on_status
    (suspend or terminate; one already so is left as it is)."""
    ensure_person_state(connection, [person_id])
    state = current_state(connection, person_id)
    if state.status != "alive":
        return None
    ends: list[EnrollmentEnd] = []
    for enrollment_id, program, current in _enrollments(
        connection, person_id, ("active", "suspended")
    ):
        action = (
            catalog.programs[program].on_status.get("moved_away", "suspend")
            if program in catalog.programs
            else "suspend"
        )
        to_status: Literal["suspended", "terminated"] = (
            "terminated" if action == "terminate" else "suspended"
        )
        if current != to_status:
            ends.append(EnrollmentEnd(enrollment_id, to_status, {"on_status": action}))
    return _decide_status(
        connection,
        catalog,
        person_id=person_id,
        status="moved_away",
        effective_date=on,
        on=on,
        rule=RULE_VISIT_MOVED,
        evidence=_evidence(reference, on, "home_visit_moved_away"),
        details={"worker": worker},
        enrollments=ends,
    )


def _enrollments(
    connection: Connection, person_id: int, statuses: tuple[str, ...]
) -> list[tuple[int, str, str]]:
    """(enrollment_id, program, status) of the person's enrollments in these statuses."""
    return [
        (int(enrollment_id), str(program), str(status))
        for enrollment_id, program, status in connection.execute(
            select(enrollments_t.c.enrollment_id, enrollments_t.c.program, enrollments_t.c.status)
            .where(enrollments_t.c.person_id == person_id, enrollments_t.c.status.in_(statuses))
            .order_by(enrollments_t.c.enrollment_id)
        )
    ]
