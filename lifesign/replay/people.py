"""The people's side of a replay: recipients who answer an SMS, workers who visit.

The platform decides from data; in reality people also act. A replay plays them from the
synthetic city's ground truth, with the rates of data/behaviour.yaml:

- a living person reminded by SMS certifies by face on the phone (or at a counter) a few days
  later, with some probability per reminder; a dead, emigrated or imprisoned one never does;
- a living person whose payment was suspended comes to a counter, which resumes it;
- the community worker visits each open visit task before its due date and reports what the
  truth says: seen alive, deceased (with the true date), moved away — sometimes nobody is at
  home on the first try;
- in the history year (before the replayed one), living people whose certification the data
  did not renew certified by hand before it expired.

Each choice is a pure function of (seed, purpose, person, day), so a replay is repeatable and a
resumed one makes the same choices. `plan_*` decide what happens (reading the state database
and the truth); `Actions` carries it out through the lifecycle's manual-channel functions —
the same functions the web app's workers and officers call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Connection, bindparam, text

from lifesign.errors import Location
from lifesign.replay.release import ReplayInputError
from lifesign.replay.truth import TruePerson

Channel = Literal["self_service", "counter", "home_visit"]
VisitOutcome = Literal["seen_alive", "deceased", "moved_away", "not_found"]
TIMEZONE = ZoneInfo("Asia/Shanghai")  # the synthetic city's clock (Bozhou)
# Persons per query of their certifications: well under SQLite's limit of bound parameters.
QUERY_PERSONS = 5000


# ------------------------------------------------------------------------------ behaviour


@dataclass(frozen=True)
class DayRange:
    low: int
    high: int  # inclusive

    def pick(self, uniform: float) -> int:
        return self.low + min(int(uniform * (self.high - self.low + 1)), self.high - self.low)


@dataclass(frozen=True)
class Behaviour:
    """The rates of data/behaviour.yaml (see the comments there)."""

    reminder_act: float
    reminder_delay: DayRange
    reminder_counter_share: float
    face_failure: float
    suspension_act: float
    suspension_delay: DayRange
    visit_days_before_due: int
    visit_not_found_first: float
    visit_retry: DayRange
    visit_max_tries: int
    worker: str
    history_certify: float
    history_before_expiry: DayRange
    history_counter_share: float
    hours: Mapping[str, int]

    @property
    def lookback_days(self) -> int:
        """How far back an SMS or a suspension can still lead to an action today."""
        return max(self.reminder_delay.high, self.suspension_delay.high)


def load_behaviour(path: Path | None = None) -> Behaviour:
    if path is None:
        where = "lifesign/replay/data/behaviour.yaml"
        packaged = resources.files("lifesign.replay").joinpath("data/behaviour.yaml")
        text_ = packaged.read_text("utf-8")
    else:
        where, text_ = str(path), path.read_text("utf-8")
    raw: Any = yaml.safe_load(text_)
    try:
        reminder, suspension, visit, history = (
            raw["reminder"],
            raw["suspension"],
            raw["visit"],
            raw["history"],
        )
        behaviour = Behaviour(
            reminder_act=float(reminder["act_probability"]),
            reminder_delay=DayRange(*reminder["delay_days"]),
            reminder_counter_share=float(reminder["counter_share"]),
            face_failure=float(reminder["face_failure_probability"]),
            suspension_act=float(suspension["act_probability"]),
            suspension_delay=DayRange(*suspension["delay_days"]),
            visit_days_before_due=int(visit["days_before_due"]),
            visit_not_found_first=float(visit["not_found_first_try"]),
            visit_retry=DayRange(*visit["retry_after_days"]),
            visit_max_tries=int(visit["max_tries"]),
            worker=str(visit["worker"]),
            history_certify=float(history["certify_probability"]),
            history_before_expiry=DayRange(*history["days_before_expiry"]),
            history_counter_share=float(history["counter_share"]),
            hours={str(k): int(v) for k, v in raw["hours"].items()},
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ReplayInputError(
            "behaviour rates unreadable", f"{type(error).__name__}: {error}", Location(file=where)
        ) from error
    for name in ("reminder_act", "reminder_counter_share", "face_failure", "suspension_act"):
        value = getattr(behaviour, name)
        if not 0.0 <= value <= 1.0:
            raise ReplayInputError(
                "bad probability", f"{name} = {value} is not in [0, 1]", Location(file=where)
            )
    return behaviour


def draws(seed: int, purpose: str, person_id: int, day: dt.date, n: int = 3) -> tuple[float, ...]:
    """`n` uniforms in [0, 1) that depend only on their arguments (BLAKE2b, not a stream:
    the order in which people are looked at changes nothing)."""
    digest = hashlib.blake2b(
        f"{seed}|{purpose}|{person_id}|{day.isoformat()}".encode(), digest_size=8 * n
    ).digest()
    return tuple(v / 2.0**64 for v in struct.unpack(f"<{n}Q", digest))


# ------------------------------------------------------------------------------ actions


@dataclass(frozen=True)
class Certification:
    """A person certifies by face (self_service) or at a counter."""

    person_id: int
    id_number: str
    channel: Channel
    at: dt.datetime
    outcome: Literal["pass", "fail"]
    reference: str


@dataclass(frozen=True)
class Visit:
    """A community worker's visit for one task."""

    task_id: int
    person_id: int
    at: dt.datetime
    outcome: VisitOutcome
    death_date: dt.date | None
    worker: str


def _channel(uniform: float, counter_share: float) -> Channel:
    return "counter" if uniform < counter_share else "self_service"


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TIMEZONE)


def alive_and_here(person: TruePerson | None, day: dt.date) -> bool:
    """Whether the person can certify on `day`: alive, not emigrated, not in prison."""
    if person is None:
        return False
    return not (person.dead_on(day) or person.emigrated_by(day) or person.imprisoned_by(day))


@dataclass
class PeopleSide:
    """Plans the actions of one day of a replay from the state database and the truth."""

    behaviour: Behaviour
    truth: Mapping[str, TruePerson]  # by ID number
    seed: int

    def reminder_responses(
        self, connection: Connection, day: dt.date, reminded: Sequence[tuple[int, str, dt.date]]
    ) -> list[Certification]:
        """Certifications due by `day` of people reminded on the given days.

        `reminded`: (person_id, id_number, day of the SMS). An action due on an earlier day
        that did not happen (a replay that stopped in between) happens today, dated its day.
        """
        b = self.behaviour
        actions: list[Certification] = []
        latest = latest_certifications(connection, [p for p, _, _ in reminded])
        for person_id, id_number, sms_day in reminded:
            act, delay, channel_draw, fail = draws(self.seed, "reminder", person_id, sms_day, 4)
            if act >= b.reminder_act:
                continue
            act_day = sms_day + dt.timedelta(days=b.reminder_delay.pick(delay))
            if act_day > day or not alive_and_here(self.truth.get(id_number), act_day):
                continue
            if person_id in latest and latest[person_id] >= sms_day:
                continue  # certified (any channel) since the SMS
            channel = _channel(channel_draw, b.reminder_counter_share)
            outcome: Literal["pass", "fail"] = (
                "fail" if channel == "self_service" and fail < b.face_failure else "pass"
            )
            actions.append(
                Certification(
                    person_id,
                    id_number,
                    channel,
                    _at(act_day, b.hours[channel]),
                    outcome,
                    reference=f"replay-reminder-{person_id}-{sms_day:%Y%m%d}",
                )
            )
        return actions

    def suspension_responses(
        self,
        connection: Connection,
        day: dt.date,
        suspended: Sequence[tuple[int, str, dt.date]],
    ) -> list[Certification]:
        """Counter certifications of living people suspended on the given days."""
        b = self.behaviour
        actions: list[Certification] = []
        latest = latest_certifications(connection, [p for p, _, _ in suspended])
        for person_id, id_number, suspended_on in suspended:
            act, delay = draws(self.seed, "suspension", person_id, suspended_on, 2)
            if act >= b.suspension_act:
                continue
            act_day = suspended_on + dt.timedelta(days=b.suspension_delay.pick(delay))
            if act_day > day or not alive_and_here(self.truth.get(id_number), act_day):
                continue
            if person_id in latest and latest[person_id] >= suspended_on:
                continue  # certified (any channel) since the suspension
            actions.append(
                Certification(
                    person_id,
                    id_number,
                    "counter",
                    _at(act_day, b.hours["counter"]),
                    "pass",
                    reference=f"replay-suspension-{person_id}-{suspended_on:%Y%m%d}",
                )
            )
        return actions

    def visits(self, day: dt.date, tasks: Iterable[OpenTask]) -> list[Visit]:
        """The visits made by `day` for open tasks: the first try on a day drawn in the task's
        window; a second try some days later if nobody was at home."""
        b = self.behaviour
        planned: list[Visit] = []
        for task in tasks:
            first, nobody_home, retry = draws(self.seed, "visit", task.task_id, task.created_on, 3)
            last_day = max(task.created_on, task.due_date - dt.timedelta(b.visit_days_before_due))
            span = (last_day - task.created_on).days
            first_day = task.created_on + dt.timedelta(days=min(int(first * (span + 1)), span))
            if task.attempts == 0:
                visit_day = first_day
                if visit_day > day:
                    continue
                if nobody_home < b.visit_not_found_first:
                    planned.append(self._visit(task, visit_day, "not_found"))
                    continue
            elif task.attempts >= b.visit_max_tries:
                continue
            else:
                # Second and later tries: a few days after the previous one.
                visit_day = (task.last_attempt_on or first_day) + dt.timedelta(
                    days=b.visit_retry.pick(retry)
                )
                if visit_day > day:
                    continue
            planned.append(self._visit(task, visit_day, None))
        return planned

    def _visit(self, task: OpenTask, day: dt.date, forced: VisitOutcome | None) -> Visit:
        person = self.truth.get(task.id_number)
        death_date: dt.date | None = None
        outcome: VisitOutcome
        if forced is not None:
            outcome = forced
        elif person is None:
            outcome = "not_found"
        elif person.dead_on(day):
            outcome, death_date = "deceased", person.death_date
        elif person.emigrated_by(day):
            outcome = "moved_away"
        elif person.imprisoned_by(day):
            outcome = "not_found"  # the worker finds an empty home; the prison record acts
        else:
            outcome = "seen_alive"
        return Visit(
            task.task_id,
            task.person_id,
            _at(day, self.behaviour.hours["home_visit"]),
            outcome,
            death_date,
            self.behaviour.worker,
        )

    def history_certifications(
        self, expired: Iterable[tuple[int, str, dt.date]], window_start: dt.date, last: dt.date
    ) -> list[Certification]:
        """Hand certifications in the history year of the people whose certification the data
        did not renew: (person_id, id_number, the day it expires) → certified some days
        before, if alive then (and never before the window or after its last day)."""
        b = self.behaviour
        actions: list[Certification] = []
        for person_id, id_number, expires in expired:
            act, before, channel_draw = draws(self.seed, "history", person_id, expires, 3)
            if act >= b.history_certify:
                continue
            act_day = expires - dt.timedelta(days=b.history_before_expiry.pick(before))
            act_day = min(max(act_day, window_start), last)
            if not alive_and_here(self.truth.get(id_number), act_day):
                continue
            channel = _channel(channel_draw, b.history_counter_share)
            actions.append(
                Certification(
                    person_id,
                    id_number,
                    channel,
                    _at(act_day, b.hours[channel]),
                    "pass",
                    reference=f"replay-history-{person_id}-{act_day:%Y%m%d}",
                )
            )
        return actions


@dataclass(frozen=True)
class OpenTask:
    task_id: int
    person_id: int
    id_number: str
    created_on: dt.date
    due_date: dt.date
    attempts: int
    last_attempt_on: dt.date | None


# ------------------------------------------------------------------------------ state reads


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(TIMEZONE).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    text_ = str(value)
    if len(text_) > 10:
        moment = dt.datetime.fromisoformat(text_)
        return moment.astimezone(TIMEZONE).date() if moment.tzinfo else moment.date()
    return dt.date.fromisoformat(text_)


def latest_certifications(connection: Connection, persons: Iterable[int]) -> dict[int, dt.date]:
    """The effective date of each person's latest certification (any channel), for those
    certified at all: one query per few thousand persons, not one per person."""
    wanted = sorted(set(persons))
    found: dict[int, dt.date] = {}
    for start in range(0, len(wanted), QUERY_PERSONS):
        chunk = wanted[start : start + QUERY_PERSONS]
        rows = connection.execute(
            text(
                "SELECT person_id, MAX(effective_date) AS latest FROM decisions "
                "WHERE kind = 'certified' AND person_id IN :persons GROUP BY person_id"
            ).bindparams(bindparam("persons", expanding=True)),
            {"persons": chunk},
        )
        found.update((int(r.person_id), _date(r.latest)) for r in rows)
    return found


def reminded_between(
    connection: Connection, first: dt.date, last: dt.date
) -> list[tuple[int, str, dt.date]]:
    """(person_id, id_number, local day) of every reminder SMS queued in [first, last]."""
    rows = connection.execute(
        text(
            "SELECT o.person_id, p.id_number, o.created_at FROM outbox o "
            "JOIN people p ON p.person_id = o.person_id "
            "WHERE o.reason LIKE 'reminder%' AND o.created_at >= :since AND o.created_at < :until"
        ),
        {
            "since": _at(first, 0) - dt.timedelta(days=1),
            "until": _at(last, 0) + dt.timedelta(days=2),
        },
    )
    found: list[tuple[int, str, dt.date]] = []
    for row in rows:
        day = _date(row.created_at)
        if first <= day <= last and row.id_number:
            found.append((int(row.person_id), str(row.id_number), day))
    return found


def suspended_between(
    connection: Connection, first: dt.date, last: dt.date
) -> list[tuple[int, str, dt.date]]:
    """(person_id, id_number, decided_on) of people suspended by a decision in [first, last]."""
    rows = connection.execute(
        text(
            "SELECT d.person_id, p.id_number, min(d.decided_on) AS decided_on FROM decisions d "
            "JOIN people p ON p.person_id = d.person_id "
            "WHERE d.kind = 'suspended' AND d.decided_on BETWEEN :first AND :last "
            "GROUP BY d.person_id, p.id_number"
        ),
        {"first": first, "last": last},
    )
    return [
        (int(row.person_id), str(row.id_number), _date(row.decided_on))
        for row in rows
        if row.id_number
    ]


def open_tasks(connection: Connection, day: dt.date) -> list[OpenTask]:
    rows = connection.execute(
        text(
            "SELECT t.task_id, t.person_id, p.id_number, t.created_on, t.due_date, t.attempts, "
            "(SELECT max(a.at) FROM visit_attempts a WHERE a.task_id = t.task_id) AS last_at "
            "FROM visit_tasks t JOIN people p ON p.person_id = t.person_id "
            "WHERE t.status = 'open' AND t.created_on <= :day ORDER BY t.task_id"
        ),
        {"day": day},
    )
    return [
        OpenTask(
            task_id=int(row.task_id),
            person_id=int(row.person_id),
            id_number=str(row.id_number or ""),
            created_on=_date(row.created_on),
            due_date=_date(row.due_date),
            attempts=int(row.attempts or 0),
            last_attempt_on=_date(row.last_at) if row.last_at is not None else None,
        )
        for row in rows
    ]
