"""`lifesign score`: the platform's decisions against the synthetic city's ground truth.

What a city would want to know before trusting the platform:

- dead people certified after their death (must be 0: each one is a pension paid to the dead);
- living people suspended (alive, not emigrated, not imprisoned on the suspension's date) —
  the cost in queues and complaints, and how many were resumed afterwards;
- deaths detected, and the lag from the death to the `deceased` decision (median, p90, max);
- deaths never detected, and how many of them no department ever recorded;
- the planted integrity cases (冒领, 重领, 多领) found as cases;
- overpayments after death opened as recovery cases, against the ledger's truth.

The score reads the state database (decisions, cases, the registry's ID numbers and payments)
and the truth folder, nothing else. Listings show masked ID numbers only.
"""

from __future__ import annotations

import calendar
import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from lifesign.registry.ids import mask_id_number
from lifesign.replay.truth import IntegrityCase, TruePerson, read_integrity_cases, read_people

# Planted case type (truth/integrity_cases.csv) → the kind of case that should find it.
CASE_KIND_OF_PLANTED = {
    "maoling": "fraud",
    "duplicate_registration": "duplicate",
    "exclusive_programs": "duplicate",
    "double_payment": "excess",
    "amount_above_standard": "excess",
}
LISTED = 20  # rows shown of any listing


@dataclass(frozen=True)
class Listed:
    """One person in a listing: masked ID number and what is wrong."""

    id_masked: str
    detail: str


@dataclass
class DeathScore:
    dead: int = 0  # recipients dead on the as-of date
    detected: int = 0
    lags_days: list[int] = field(default_factory=list)  # death → deceased decision
    by_rule: dict[str, int] = field(default_factory=dict)
    undetected: int = 0
    undetected_unrecorded: int = 0  # no department ever records the death
    detected_before_replay: int = 0  # deaths in the history (lags not counted)

    @property
    def lag_median(self) -> float | None:
        return statistics.median(self.lags_days) if self.lags_days else None

    @property
    def lag_p90(self) -> float | None:
        return _percentile(self.lags_days, 0.9)

    @property
    def lag_max(self) -> int | None:
        return max(self.lags_days) if self.lags_days else None


@dataclass
class PlantedScore:
    case_type: str
    planted: int = 0
    found: int = 0
    missed: list[Listed] = field(default_factory=list)


@dataclass
class ScoreReport:
    as_of: dt.date
    replay_from: dt.date | None
    recipients: int
    dead_certified: list[Listed]
    living_suspended: int
    living_suspended_resumed: int
    living_suspended_listed: list[Listed]
    deaths: DeathScore
    planted: dict[str, PlantedScore]
    recovery_cases: int
    recovery_amount: Decimal
    overpaid_people_truth: int
    overpaid_amount_truth: Decimal
    overpaid_people_recorded_truth: int
    overpaid_amount_recorded_truth: Decimal

    @property
    def ok(self) -> bool:
        """The one hard requirement: nobody certified after their death."""
        return not self.dead_certified


def _percentile(values: Sequence[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def overpaid_part(amount: Decimal, period: str, death_date: dt.date) -> Decimal:
    """What of one month's payment was for time after the death (DOMAIN.md: death ends
    payment from the date of death): all of a later month, the days after the death of the
    death month."""
    start = dt.date(int(period[:4]), int(period[5:7]), 1)
    death_month = death_date.replace(day=1)
    if start > death_month:
        return amount
    if start < death_month:
        return Decimal(0)
    days = calendar.monthrange(start.year, start.month)[1]
    return (amount * (days - death_date.day) / days).quantize(Decimal("0.01"))


def score(engine: Engine, truth_dir: Path, as_of: dt.date | None = None) -> ScoreReport:
    """Compare the decisions and cases in the state database with the truth folder."""
    truth = read_people(truth_dir)
    with engine.connect() as connection:
        ids = {
            str(row.id_number): int(row.person_id)
            for row in connection.execute(
                text("SELECT person_id, id_number FROM people WHERE id_number IS NOT NULL")
            )
        }
        if as_of is None:
            last = connection.execute(text("SELECT max(decided_on) FROM decisions")).scalar()
            as_of = _as_date(last) if last is not None else dt.date.today()
        replay_from = _replay_start(connection)
        decisions = [
            row
            for row in connection.execute(
                text(
                    "SELECT person_id, kind, effective_date, decided_on, channel, rule "
                    "FROM decisions WHERE decided_on <= :as_of ORDER BY decision_id"
                ),
                {"as_of": as_of},
            )
        ]
        cases = [
            row
            for row in connection.execute(
                text(
                    "SELECT kind, rule, person_id, amount, opened_on FROM cases "
                    "WHERE opened_on <= :as_of"
                ),
                {"as_of": as_of},
            )
        ]
        payments = _payments_after_death(connection, truth, ids, as_of)
    person_of = {pid: truth[idn] for idn, pid in ids.items() if idn in truth}
    by_person: dict[int, list[Any]] = defaultdict(list)
    for row in decisions:
        by_person[int(row.person_id)].append(row)

    dead_certified = _dead_certified(person_of, by_person)
    suspended, resumed, suspended_listed = _living_suspended(person_of, by_person)
    deaths = _deaths(truth, ids, by_person, as_of, replay_from)
    planted = _planted(read_integrity_cases(truth_dir), ids, cases)
    recovery = [c for c in cases if c.kind == "recovery"]
    return ScoreReport(
        as_of=as_of,
        replay_from=replay_from,
        recipients=len(person_of),
        dead_certified=dead_certified,
        living_suspended=suspended,
        living_suspended_resumed=resumed,
        living_suspended_listed=suspended_listed,
        deaths=deaths,
        planted=planted,
        recovery_cases=len(recovery),
        recovery_amount=sum((Decimal(str(c.amount or 0)) for c in recovery), Decimal(0)),
        overpaid_people_truth=payments.people,
        overpaid_amount_truth=payments.amount,
        overpaid_people_recorded_truth=payments.people_recorded,
        overpaid_amount_recorded_truth=payments.amount_recorded,
    )


def _replay_start(connection: Any) -> dt.date | None:
    """The first replayed day: the day after the first daily run (the history's last day)."""
    try:
        first = connection.execute(text("SELECT min(as_of) FROM runs")).scalar()
    except Exception:  # no lifecycle tables: a database that never ran a day
        connection.rollback()
        return None
    return _as_date(first) + dt.timedelta(days=1) if first is not None else None


def _dead_certified(
    person_of: Mapping[int, TruePerson], by_person: Mapping[int, list[Any]]
) -> list[Listed]:
    """Certifications whose evidence (or visit, or face check) is dated after the death."""
    found: list[Listed] = []
    for person_id, rows in by_person.items():
        person = person_of.get(person_id)
        if person is None or person.death_date is None:
            continue
        for row in rows:
            if row.kind == "certified" and _as_date(row.effective_date) > person.death_date:
                found.append(
                    Listed(
                        mask_id_number(person.id_number),
                        f"died {person.death_date}, certified {_as_date(row.effective_date)} "
                        f"({row.channel or '-'}, rule {row.rule})",
                    )
                )
                break
    return found


def _living_suspended(
    person_of: Mapping[int, TruePerson], by_person: Mapping[int, list[Any]]
) -> tuple[int, int, list[Listed]]:
    """People suspended while alive and not emigrated or imprisoned; how many resumed later."""
    count = resumed = 0
    listed: list[Listed] = []
    for person_id, rows in by_person.items():
        person = person_of.get(person_id)
        if person is None:
            continue
        first_wrong: dt.date | None = None
        for row in rows:
            if row.kind != "suspended":
                continue
            day = _as_date(row.effective_date)
            if person.dead_on(day) or person.emigrated_by(day) or person.imprisoned_by(day):
                continue
            first_wrong = day
            break
        if first_wrong is None:
            continue
        count += 1
        was_resumed = any(
            r.kind == "resumed" and _as_date(r.effective_date) >= first_wrong for r in rows
        )
        resumed += was_resumed
        if len(listed) < LISTED:
            listed.append(
                Listed(
                    mask_id_number(person.id_number),
                    f"suspended {first_wrong}" + (", resumed later" if was_resumed else ""),
                )
            )
    return count, resumed, listed


def _deaths(
    truth: Mapping[str, TruePerson],
    ids: Mapping[str, int],
    by_person: Mapping[int, list[Any]],
    as_of: dt.date,
    replay_from: dt.date | None,
) -> DeathScore:
    score = DeathScore()
    by_rule: dict[str, int] = defaultdict(int)
    for id_number, person in truth.items():
        if not person.dead_on(as_of) or id_number not in ids:
            continue
        assert person.death_date is not None
        score.dead += 1
        deceased = [r for r in by_person.get(ids[id_number], ()) if r.kind == "deceased"]
        if not deceased:
            score.undetected += 1
            score.undetected_unrecorded += not person.death_recorded
            continue
        first = min(deceased, key=lambda r: _as_date(r.decided_on))
        score.detected += 1
        by_rule[str(first.rule if first.channel in (None, "auto") else first.channel)] += 1
        if replay_from is not None and person.death_date < replay_from:
            score.detected_before_replay += 1
            continue
        score.lags_days.append((_as_date(first.decided_on) - person.death_date).days)
    score.by_rule = dict(sorted(by_rule.items(), key=lambda item: -item[1]))
    return score


def _planted(
    planted: Iterable[IntegrityCase], ids: Mapping[str, int], cases: Sequence[Any]
) -> dict[str, PlantedScore]:
    kinds_of_person: dict[int, set[str]] = defaultdict(set)
    for case in cases:
        if case.person_id is not None:
            kinds_of_person[int(case.person_id)].add(str(case.kind))
    scores: dict[str, PlantedScore] = {}
    for case in planted:
        entry = scores.setdefault(case.case_type, PlantedScore(case.case_type))
        entry.planted += 1
        wanted = CASE_KIND_OF_PLANTED.get(case.case_type)
        person_id = ids.get(case.id_number)
        if person_id is not None and wanted in kinds_of_person.get(person_id, ()):
            entry.found += 1
        elif len(entry.missed) < LISTED:
            entry.missed.append(Listed(mask_id_number(case.id_number), case.details))
    return scores


@dataclass(frozen=True)
class _Overpaid:
    people: int
    amount: Decimal
    people_recorded: int
    amount_recorded: Decimal


def _payments_after_death(
    connection: Any, truth: Mapping[str, TruePerson], ids: Mapping[str, int], as_of: dt.date
) -> _Overpaid:
    """The truth of overpayments: what was paid by `as_of` for the time after each death."""
    dead = {
        ids[idn]: person
        for idn, person in truth.items()
        if person.death_date is not None and person.death_date <= as_of and idn in ids
    }
    people: dict[int, Decimal] = defaultdict(Decimal)
    for row in connection.execute(
        text(
            "SELECT e.person_id, p.period, p.amount, p.paid_on FROM payments p "
            "JOIN enrollments e ON e.enrollment_id = p.enrollment_id WHERE p.paid_on <= :as_of"
        ),
        {"as_of": as_of},
    ):
        person = dead.get(int(row.person_id))
        if person is None or person.death_date is None:
            continue
        overpaid = overpaid_part(Decimal(str(row.amount)), str(row.period), person.death_date)
        if overpaid > 0:
            people[int(row.person_id)] += overpaid
    recorded = {pid: amount for pid, amount in people.items() if dead[pid].death_recorded}
    return _Overpaid(
        people=len(people),
        amount=sum(people.values(), Decimal(0)),
        people_recorded=len(recorded),
        amount_recorded=sum(recorded.values(), Decimal(0)),
    )
