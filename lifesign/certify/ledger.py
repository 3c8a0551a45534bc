"""The decisions ledger (append-only) and the person state derived from it.

`record_decision` is the one way a decision enters the ledger; it updates `person_state` in
the same transaction (the caller's connection). Decisions are never updated or deleted: a
correction is a new decision (e.g. a review's resolution). Status changes are not made here
but by `lifesign.certify.transitions`, which names the decision that caused them.

How a decision moves the person's state:

- `certified` (any channel): last_certified_on and valid_until move forward (never back);
  `channel` is the channel of the latest certification; a silent one (`auto`) also sets
  `certified_year` (the ledger holds at most one silent certification a year, see
  docs/certification.md).
- `deceased`: death_date.
- every decision: updated_on = its decided_on.

A person without a state row is seeded from the registry: alive, last certified on the
registry's `last_certified_on`, valid until that date plus the shortest certification period
of the person's programs (`seed_person_state`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from sqlalchemy import Connection, Table, func, insert, select

from lifesign.certify.models import (
    CHANNELS,
    DECISION_KINDS,
    Decision,
    PersonStateRow,
)
from lifesign.certify.rules import add_months, rule_parameters
from lifesign.errors import LifesignError, Location
from lifesign.store import bulk
from lifesign.store.models import Enrollment, Person

__all__ = [
    "EvidenceRef",
    "PersonState",
    "current_state",
    "decisions_of",
    "ensure_person_state",
    "record_decision",
    "record_decisions",
]

decisions_t = cast(Table, Decision.__table__)
person_state_t = cast(Table, PersonStateRow.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


class EvidenceRef(TypedDict):
    """One evidence record a decision rests on (event_time: ISO 8601, local time)."""

    source: str
    record_id: str
    evidence_type: str
    event_time: str


@dataclass(frozen=True)
class PersonState:
    person_id: int
    status: str
    status_since: dt.date | None
    last_certified_on: dt.date | None
    channel: str | None
    valid_until: dt.date | None
    certified_year: int | None
    last_strong_event: dt.date | None
    last_weak_event: dt.date | None
    death_date: dt.date | None
    updated_on: dt.date | None


def _check(kind: str, channel: str | None) -> None:
    if kind not in DECISION_KINDS:
        raise LifesignError(
            f"unknown decision kind {kind!r}",
            f"a decision is one of {', '.join(DECISION_KINDS)}",
            Location(key="decisions.kind"),
        )
    if channel is not None and channel not in CHANNELS:
        raise LifesignError(
            f"unknown channel {channel!r}",
            f"a channel is one of {', '.join(CHANNELS)}",
            Location(key="decisions.channel"),
        )


def seed_person_state(
    connection: Connection,
    person_ids: Sequence[int] | None,
    periods: Mapping[str, int] | None = None,
) -> int:
    """Insert the state rows of registry persons that have none (None: every person).

    `periods`: certification period in months per program code (the catalog's); a person's
    initial validity is the registry's last certification plus the shortest period among
    their programs (the rules file's fallback when they have none listed). Returns the rows
    inserted.
    """
    fallback = rule_parameters().fallback_certification_period_months
    query = select(
        people_t.c.person_id, people_t.c.last_certified_on, people_t.c.last_certification_channel
    )
    has_state = select(person_state_t.c.person_id).where(
        person_state_t.c.person_id == people_t.c.person_id
    )
    query = query.where(~has_state.exists())
    if person_ids is not None:
        if not person_ids:
            return 0
        query = query.where(people_t.c.person_id.in_(list(person_ids)))
    missing = connection.execute(query).all()
    if not missing:
        return 0
    shortest: dict[int, int] = {}
    if periods:
        enrolled = select(enrollments_t.c.person_id, enrollments_t.c.program)
        if len(missing) <= 5000:  # else read them all: cheaper than a huge IN list
            enrolled = enrolled.where(
                enrollments_t.c.person_id.in_([row.person_id for row in missing])
            )
        wanted = {row.person_id for row in missing}
        for person_id, program in connection.execute(enrolled).all():
            if person_id in wanted and program in periods:
                months = periods[program]
                shortest[person_id] = min(months, shortest.get(person_id, months))
    rows = []
    for row in missing:
        last = row.last_certified_on
        months = shortest.get(row.person_id, fallback)
        rows.append(
            {
                "person_id": row.person_id,
                "status": "alive",
                "status_since": None,
                "last_certified_on": last,
                "channel": row.last_certification_channel,
                "valid_until": None if last is None else add_months(last, months),
                "certified_year": None,
                "last_strong_event": None,
                "last_weak_event": None,
                "death_date": None,
                "updated_on": None,
            }
        )
    for start in range(0, len(rows), 20_000):
        connection.execute(insert(person_state_t), rows[start : start + 20_000])
    return len(rows)


def ensure_person_state(connection: Connection, person_ids: Iterable[int]) -> None:
    """Seed the state rows of these persons if they have none (registry values)."""
    ids = list(person_ids)
    if ids:
        seed_person_state(connection, ids)


def record_decision(
    connection: Connection,
    *,
    person_id: int,
    kind: str,
    effective_date: dt.date,
    decided_on: dt.date,
    rule: str,
    catalog_version: str,
    evidence: Iterable[EvidenceRef | Mapping[str, Any]] = (),
    channel: str | None = None,
    enrollment_id: int | None = None,
    valid_until: dt.date | None = None,
    details: Mapping[str, Any] | None = None,
    run_id: int | None = None,
) -> int:
    """Append a decision to the ledger, move the person's state; the new decision_id."""
    row: dict[str, Any] = {
        "person_id": person_id,
        "kind": kind,
        "effective_date": effective_date,
        "decided_on": decided_on,
        "rule": rule,
        "catalog_version": catalog_version,
        "evidence": evidence,
        "channel": channel,
        "enrollment_id": enrollment_id,
        "valid_until": valid_until,
        "details": details,
        "run_id": run_id,
    }
    return record_decisions(connection, [row])[0]


# The fields of a decision a caller gives (`record_decisions`); the mandatory ones first.
_REQUIRED_FIELDS = ("person_id", "kind", "effective_date", "decided_on", "rule", "catalog_version")
_OPTIONAL_FIELDS = ("evidence", "channel", "enrollment_id", "valid_until", "details", "run_id")
# Rows per statement when reading states by person (SQLite's bound-parameter limit is 32766).
_IDS_PER_QUERY = 10_000


def _ledger_row(row: Mapping[str, Any], position: int) -> dict[str, Any]:
    """One decision to insert, checked like `record_decision` checks its arguments."""
    missing = [name for name in _REQUIRED_FIELDS if row.get(name) is None]
    unknown = sorted(set(row) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS))
    if missing or unknown:
        raise LifesignError(
            f"decision #{position}: "
            + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"),
            f"a decision has {', '.join(_REQUIRED_FIELDS)} and optionally "
            + ", ".join(_OPTIONAL_FIELDS),
            Location(key="decisions"),
        )
    kind, channel = row["kind"], row.get("channel")
    _check(kind, channel)
    if kind == "certified" and row.get("valid_until") is None:
        raise LifesignError(
            "a certification needs valid_until",
            "valid_until is the evidence date plus the certification period",
            Location(key="decisions.valid_until"),
        )
    details = row.get("details")
    return {
        "run_id": row.get("run_id"),
        "person_id": int(row["person_id"]),
        "enrollment_id": row.get("enrollment_id"),
        "kind": kind,
        "effective_date": row["effective_date"],
        "decided_on": row["decided_on"],
        "channel": channel,
        "valid_until": row.get("valid_until"),
        "evidence": [dict(ref) for ref in row.get("evidence") or ()],
        "rule": row["rule"],
        "catalog_version": row["catalog_version"],
        "details": None if details is None else dict(details),
    }


def record_decisions(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Append many decisions at once (the fields of `record_decision`, one mapping each) and
    move their persons' states as if they were recorded one by one, in order.

    One multi-row INSERT ... RETURNING per thousand decisions (SQLAlchemy's "insertmanyvalues",
    on SQLite and PostgreSQL alike), one read of the persons' states and one executemany of
    the states that moved. Returns the new decision ids in the order of `rows`. Everything
    happens on the caller's connection, so in the caller's transaction.
    """
    ledger_rows = [_ledger_row(row, position) for position, row in enumerate(rows)]
    if not ledger_rows:
        return []
    person_ids = sorted({row["person_id"] for row in ledger_rows})
    for start in range(0, len(person_ids), _IDS_PER_QUERY):
        seed_person_state(connection, person_ids[start : start + _IDS_PER_QUERY])
    states: dict[int, dict[str, Any]] = {}
    for start in range(0, len(person_ids), _IDS_PER_QUERY):
        chunk = person_ids[start : start + _IDS_PER_QUERY]
        for found in connection.execute(
            select(person_state_t).where(bulk.among(connection, person_state_t.c.person_id, chunk))
        ).mappings():
            states[int(found["person_id"])] = dict(found)
    unknown = [person_id for person_id in person_ids if person_id not in states]
    if unknown:
        raise LifesignError(
            f"person {unknown[0]} is not in the registry"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
            "decisions and states are about registry persons",
            Location(key="people.person_id"),
        )
    decision_ids = bulk.insert_returning_ids(connection, decisions_t, ledger_rows)
    before = {person_id: dict(state) for person_id, state in states.items()}
    for row in ledger_rows:
        person_id = row["person_id"]
        states[person_id] = advance_state(
            states[person_id],
            kind=row["kind"],
            effective_date=row["effective_date"],
            decided_on=row["decided_on"],
            channel=row["channel"],
            valid_until=row["valid_until"],
        )
    # each state row updated in the fields that moved only, one UPDATE per set of fields (a
    # suspension moves updated_on alone: its valid_until index entry is left as it is)
    moved: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for person_id, state in states.items():
        fields = tuple(name for name in STATE_FIELDS if state[name] != before[person_id][name])
        if fields:
            moved.setdefault(fields, []).append(
                {"person_id": person_id, **{name: state[name] for name in fields}}
            )
    for rows_moved in moved.values():
        bulk.update_rows(connection, person_state_t, "person_id", rows_moved)
    return decision_ids


# The state fields a decision moves (status and status_since move by transitions only).
STATE_FIELDS = (
    "last_certified_on",
    "channel",
    "valid_until",
    "certified_year",
    "death_date",
    "updated_on",
)


def _as_dict(state: PersonState) -> dict[str, Any]:
    return dict(state.__dict__)


def advance_state(
    state: dict[str, Any],
    *,
    kind: str,
    effective_date: dt.date,
    decided_on: dt.date,
    channel: str | None = None,
    valid_until: dt.date | None = None,
) -> dict[str, Any]:
    """The person's state after one decision (a new dict): THE rule of how decisions move the
    state, used by `record_decision` and by the pass's bulk writes alike."""
    after = dict(state)
    after["updated_on"] = decided_on
    if kind == "certified":
        last = after.get("last_certified_on")
        if last is None or effective_date >= last:
            after["last_certified_on"] = effective_date
            after["channel"] = channel
        if valid_until is not None and (
            after.get("valid_until") is None or valid_until > after["valid_until"]
        ):
            after["valid_until"] = valid_until
        year = after.get("certified_year")
        if channel == "auto" and (year is None or effective_date.year > year):
            after["certified_year"] = effective_date.year
    elif kind == "deceased":
        after["death_date"] = effective_date
    return after


def current_state(connection: Connection, person_id: int) -> PersonState:
    """The person's current state (seeded from the registry when the pass has not run yet)."""
    row = connection.execute(
        select(person_state_t).where(person_state_t.c.person_id == person_id)
    ).first()
    if row is None:
        exists = connection.execute(
            select(func.count()).select_from(people_t).where(people_t.c.person_id == person_id)
        ).scalar_one()
        if not exists:
            raise LifesignError(
                f"person {person_id} is not in the registry",
                "decisions and states are about registry persons",
                Location(key="people.person_id"),
            )
        seed_person_state(connection, [person_id])
        row = connection.execute(
            select(person_state_t).where(person_state_t.c.person_id == person_id)
        ).one()
    return PersonState(**row._asdict())


def decisions_of(connection: Connection, person_id: int) -> list[dict[str, Any]]:
    """Every decision about a person, oldest first (as mappings of the ledger's columns)."""
    rows = connection.execute(
        select(decisions_t)
        .where(decisions_t.c.person_id == person_id)
        .order_by(decisions_t.c.effective_date, decisions_t.c.decision_id)
    ).mappings()
    return [dict(row) for row in rows]
