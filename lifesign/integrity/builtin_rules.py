"""The built-in integrity rules, registered as a plugin (lifesign.plugins.DEFAULT_PLUGINS).

冒领 (fraud signals): `payments_without_strong_evidence`, `weak_activity_after_death`;
追回 (overpayment): `payments_after_death`; 重领 (duplicate claims): `duplicate_registration`,
`exclusive_programs`; 多领 (excess claims): `payment_above_standard`.

Each rule is SQL over the tables of lifesign.integrity.context (plain joins, group-bys and
ROW_NUMBER windows, so it stays portable to Spark), with its thresholds from rules.yaml passed
as parameters. Date arithmetic uses the functions Spark has — `DATE_ADD(date, days)` and
`ADD_MONTHS(date, months)` (a macro in DuckDB, lifesign.integrity.context) — so the SQL
transpiles unchanged (tests/integrity/test_sql_portable.py). The rules that look at evidence
work in two steps: the per-person facts (`evidence_facts`) flag a few persons, then only
their weak records are read (`weak_records`). docs/integrity.md explains each rule to a program
officer.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lifesign.hookspecs import hookimpl
from lifesign.integrity.cases import CaseKind
from lifesign.integrity.rules import CaseDraft, FraudRule, ScanContext

CENT = Decimal("0.01")


def yuan(cents: int | None) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(CENT)


def _end_of(as_of: dt.date) -> dt.datetime:
    """The first instant after the as-of date: evidence strictly before it is known."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def _rows(context: ScanContext, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cursor = context.duck.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# The recorded death of each person: the date the certification pass decided (person_state),
# else the earliest strong death record (evidence_facts).
RECORDED_DEATH = """
death AS (
    SELECT person_id, death_date FROM person_state WHERE death_date IS NOT NULL
    UNION ALL
    SELECT f.person_id, CAST(f.first_death AS DATE) AS death_date FROM evidence_facts f
    WHERE f.first_death IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM person_state s WHERE s.person_id = f.person_id AND s.death_date IS NOT NULL
    )
)
"""

# Weak records of the flagged persons (weak_records holds each one's from its bound on).
WEAK_RECORDS = """
SELECT e.person_id, e.source, e.record_id, e.evidence_type, e.event_time,
       ROW_NUMBER() OVER (PARTITION BY e.person_id ORDER BY e.event_time DESC, e.record_id) AS n
FROM weak_records e
JOIN evidence_types t ON t.code = e.evidence_type AND t.strength = 'weak'
"""

# Per flagged person: its weak records (from its bound on), the first and the latest.
WEAK_COUNTS = """
SELECT e.person_id, COUNT(*) AS weak_records, MIN(e.event_time) AS first_weak,
       MAX(e.event_time) AS last_weak
FROM weak_records e
JOIN evidence_types t ON t.code = e.evidence_type AND t.strength = 'weak'
GROUP BY e.person_id
HAVING COUNT(*) >= ?
"""


def _weak_evidence(context: ScanContext, limit: int) -> dict[int, list[dict[str, Any]]]:
    """The latest `limit` weak records of each person in `weak_records`."""
    sql = f"WITH w AS ({WEAK_RECORDS}) SELECT * FROM w WHERE n <= ? ORDER BY person_id, event_time"
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(context, sql, [limit]):
        out[int(row["person_id"])].append(
            {
                "kind": "weak_record",
                "source": row["source"],
                "record_id": row["record_id"],
                "evidence_type": row["evidence_type"],
                "event_time": row["event_time"].isoformat(),
            }
        )
    return out


def _weak_counts(
    context: ScanContext, since: dict[int, dt.datetime], minimum: int
) -> dict[int, dict[str, Any]]:
    """Load the weak records of these persons from their bound on (`weak_records`) and count
    them: person → {weak_records, first_weak, last_weak}, for those with at
    least `minimum`."""
    context.load_weak_records(since)
    return {int(r["person_id"]): r for r in _rows(context, WEAK_COUNTS, [minimum])}


def _payments_evidence(
    context: ScanContext, wanted: dict[int, dt.date], limit: int, by: str = "person_id"
) -> dict[int, list[dict[str, Any]]]:
    """Payments for periods starting after the given date, per person (or per enrollment)."""
    if not wanted:
        return {}
    import pyarrow as pa

    context.duck.register(
        "_wanted",
        pa.table(
            {
                "key": pa.array(list(wanted), pa.int64()),
                "after": pa.array(list(wanted.values()), pa.date32()),
            }
        ),
    )
    sql = f"""
        SELECT x.* FROM (
            SELECT en.{by} AS key, p.enrollment_id, en.external_ref, en.program, p.period,
                   p.amount_cents, p.paid_on,
                   ROW_NUMBER() OVER (PARTITION BY en.{by} ORDER BY p.period DESC,
                                      p.enrollment_id) AS n
            FROM payments p
            JOIN enrollments en ON en.enrollment_id = p.enrollment_id
            JOIN _wanted w ON w.key = en.{by}
            WHERE p.period_start > w.after
        ) x WHERE x.n <= ? ORDER BY x.key, x.period, x.enrollment_id
    """
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(context, sql, [limit]):
        out[int(row["key"])].append(
            {
                "kind": "payment",
                "enrollment_id": int(row["enrollment_id"]),
                "external_ref": row["external_ref"],
                "program": row["program"],
                "period": row["period"],
                "amount": str(yuan(row["amount_cents"])),
                "paid_on": row["paid_on"].isoformat(),
            }
        )
    context.duck.unregister("_wanted")
    return out


class _Drafts:
    """What every built-in rule does to propose a case: its own code and kind on the draft."""

    code: str
    kind: CaseKind

    def draft(
        self,
        person_id: int,
        details: dict[str, Any],
        *,
        evidence: Iterable[dict[str, Any]] = (),
        amount: Decimal | None = None,
        enrollment_id: int | None = None,
    ) -> CaseDraft:
        return CaseDraft(
            person_id=int(person_id),
            kind=self.kind,
            rule=self.code,
            amount=amount,
            enrollment_id=enrollment_id,
            evidence=tuple(evidence),
            details=details,
        )


@dataclass(frozen=True)
class PaymentsWithoutStrongEvidence(_Drafts):
    """冒领 signal: paid beyond the certification period with no strong evidence and no
    certification, while weak activity (card, phone, utilities) goes on."""

    code: str = "payments_without_strong_evidence"
    kind: CaseKind = "fraud"
    description_zh: str = (
        "超过认证有效期既无强认证数据也未认证，仍在发放待遇，且弱数据活动持续（疑似冒领）"
    )
    description_en: str = (
        "paid beyond the certification period with no strong evidence and no certification, "
        "while weak activity continues (possible fraudulent claim)"
    )

    # Step 1, from the per-person facts: paid people, not dead, whose certification expired
    # (anchor + period + grace) before the as-of date, with payments for periods after it and
    # a weak record dated after it. Step 2 counts their weak records since the anchor.
    SQL = f"""
    WITH {RECORDED_DEATH},
    paid_people AS (
        SELECT en.person_id, MIN(pr.certification_period_months) AS period_months,
               MIN(en.start_date) AS first_start
        FROM enrollments en JOIN programs pr ON pr.code = en.program
        GROUP BY en.person_id
    ),
    anchored AS (
        SELECT pp.person_id, pp.period_months, CAST(f.last_strong AS DATE) AS last_strong,
               CAST(f.last_weak AS DATE) AS last_weak,
               ps.last_certified_on AS state_certified_on, pe.registry_certified_on,
               GREATEST(
                   COALESCE(CAST(f.last_strong AS DATE), DATE '1900-01-01'),
                   COALESCE(ps.last_strong_event, DATE '1900-01-01'),
                   COALESCE(ps.last_certified_on, DATE '1900-01-01'),
                   COALESCE(pe.registry_certified_on, DATE '1900-01-01'),
                   pp.first_start
               ) AS anchor
        FROM paid_people pp
        JOIN people pe ON pe.person_id = pp.person_id
        LEFT JOIN evidence_facts f ON f.person_id = pp.person_id
        LEFT JOIN person_state ps ON ps.person_id = pp.person_id
        WHERE NOT EXISTS (SELECT 1 FROM death d WHERE d.person_id = pp.person_id)
    ),
    expired AS (
        SELECT a.*, ADD_MONTHS(a.anchor, CAST(a.period_months + ? AS INTEGER)) AS expired_on
        FROM anchored a
    ),
    paid_after AS (
        SELECT x.person_id, COUNT(*) AS payments, SUM(p.amount_cents) AS paid_cents
        FROM expired x
        JOIN enrollments en ON en.person_id = x.person_id
        JOIN payments p ON p.enrollment_id = en.enrollment_id
        WHERE p.period_start > x.expired_on
        GROUP BY x.person_id
    )
    SELECT x.person_id, x.anchor, x.last_strong, x.state_certified_on, x.registry_certified_on,
           x.period_months, x.expired_on, pa.payments, pa.paid_cents
    FROM expired x
    JOIN paid_after pa ON pa.person_id = x.person_id
    WHERE x.expired_on < ? AND x.last_weak > x.expired_on AND pa.payments >= ?
    ORDER BY x.person_id
    """

    def detect(self, context: ScanContext) -> Iterator[CaseDraft]:
        t = context.thresholds[self.code]
        flagged = _rows(
            context,
            self.SQL,
            [int(t["grace_months"]), context.as_of, int(t["min_payments_after_expiry"])],
        )
        # weak records from the day after the anchor (the last strong record or certification)
        weak = _weak_counts(
            context,
            {int(r["person_id"]): _end_of(r["anchor"]) for r in flagged},
            int(t["min_weak_records"]),
        )
        found = [r for r in flagged if int(r["person_id"]) in weak]
        limit = int(t["max_evidence_items"])
        weak_evidence = _weak_evidence(context, limit)
        paid = _payments_evidence(
            context, {int(r["person_id"]): r["expired_on"] for r in found}, limit
        )
        for r in found:
            person = int(r["person_id"])
            w = weak[person]
            anchor_kind = (
                "strong_evidence"
                if r["last_strong"] == r["anchor"]
                else "certification"
                if r["anchor"] in (r["state_certified_on"], r["registry_certified_on"])
                else "enrollment_start"
            )
            yield self.draft(
                person,
                {
                    "last_strong_or_certified_on": r["anchor"].isoformat(),
                    "anchor": anchor_kind,
                    "certification_period_months": int(r["period_months"]),
                    "grace_months": int(t["grace_months"]),
                    "expired_on": r["expired_on"].isoformat(),
                    "weak_records_since": int(w["weak_records"]),
                    "last_weak_on": w["last_weak"].date().isoformat(),
                    "payments_after_expiry": int(r["payments"]),
                    "paid_after_expiry": str(yuan(r["paid_cents"])),
                },
                amount=yuan(r["paid_cents"]),
                evidence=[*weak_evidence.get(person, []), *paid.get(person, [])],
            )


@dataclass(frozen=True)
class WeakActivityAfterDeath(_Drafts):
    """冒领 signal: someone keeps using a dead person's card, phone or meters."""

    code: str = "weak_activity_after_death"
    kind: CaseKind = "fraud"
    description_zh: str = "死亡登记后仍有弱数据活动（银行卡、电话、水电气等），疑似他人冒用"
    description_en: str = (
        "weak activity (bank card, phone, utilities) after a recorded death: "
        "someone may be using the dead person's accounts"
    )

    # Step 1: recorded deaths whose person has a weak record after the grace days (facts).
    SQL = f"""
    WITH {RECORDED_DEATH}
    SELECT d.person_id, d.death_date
    FROM death d
    JOIN evidence_facts f ON f.person_id = d.person_id
    WHERE f.last_weak >= CAST(DATE_ADD(d.death_date, CAST(? AS INTEGER)) AS TIMESTAMP)
    ORDER BY d.person_id
    """

    def detect(self, context: ScanContext) -> Iterator[CaseDraft]:
        t = context.thresholds[self.code]
        grace = int(t["grace_days"])
        flagged = _rows(context, self.SQL, [grace + 1])
        # weak records from the day after the grace days
        weak = _weak_counts(
            context,
            {
                int(r["person_id"]): _end_of(r["death_date"] + dt.timedelta(days=grace))
                for r in flagged
            },
            int(t["min_weak_records"]),
        )
        weak_evidence = _weak_evidence(context, int(t["max_evidence_items"]))
        for r in flagged:
            person = int(r["person_id"])
            if person not in weak:
                continue
            w = weak[person]
            yield self.draft(
                person,
                {
                    "death_date": r["death_date"].isoformat(),
                    "grace_days": grace,
                    "weak_records_after_death": int(w["weak_records"]),
                    "first_weak_at": w["first_weak"].isoformat(),
                    "last_weak_at": w["last_weak"].isoformat(),
                },
                evidence=weak_evidence.get(person, []),
            )


@dataclass(frozen=True)
class PaymentsAfterDeath(_Drafts):
    """追回: every payment for a period that starts after the date of death is an overpayment.

    Amounts already covered by another rule's recovery case of the same enrollment (the
    lifecycle's, opened at termination; any status but dismissed) are subtracted, so the rule
    only drafts what nobody is recovering yet — e.g. payments the paying department kept making
    after the termination. Its own earlier cases are accounted for by the scan (lifesign.
    integrity.scan), like every rule's.
    """

    code: str = "payments_after_death"
    kind: CaseKind = "recovery"
    description_zh: str = "死亡后仍发放的待遇（死亡之日以后的月份），应予追回"
    description_en: str = "benefits paid for months after the date of death: to be recovered"

    SQL = f"""
    WITH {RECORDED_DEATH},
    over AS (
        SELECT en.person_id, en.enrollment_id, d.death_date, COUNT(*) AS months,
               SUM(p.amount_cents) AS paid_cents
        FROM death d
        JOIN enrollments en ON en.person_id = d.person_id
        JOIN payments p ON p.enrollment_id = en.enrollment_id
        WHERE p.period_start > d.death_date
        GROUP BY en.person_id, en.enrollment_id, d.death_date
    ),
    covered AS (
        SELECT enrollment_id, SUM(amount_cents) AS covered_cents
        FROM cases
        WHERE kind = 'recovery' AND status <> 'dismissed' AND enrollment_id IS NOT NULL
          AND rule <> 'payments_after_death'
        GROUP BY enrollment_id
    ),
    covered_person AS (
        SELECT person_id, SUM(amount_cents) AS covered_cents
        FROM cases
        WHERE kind = 'recovery' AND status <> 'dismissed' AND enrollment_id IS NULL
        GROUP BY person_id
    ),
    person_total AS (
        SELECT person_id, SUM(paid_cents) AS paid_cents FROM over GROUP BY person_id
    )
    SELECT o.person_id, o.enrollment_id, o.death_date, o.months, o.paid_cents,
           COALESCE(c.covered_cents, 0) AS covered_cents,
           o.paid_cents - COALESCE(c.covered_cents, 0) AS open_cents
    FROM over o
    JOIN person_total pt ON pt.person_id = o.person_id
    LEFT JOIN covered c ON c.enrollment_id = o.enrollment_id
    LEFT JOIN covered_person cp ON cp.person_id = o.person_id
    WHERE o.paid_cents - COALESCE(c.covered_cents, 0) >= ?
      AND COALESCE(cp.covered_cents, 0) < pt.paid_cents
    ORDER BY o.person_id, o.enrollment_id
    """

    def detect(self, context: ScanContext) -> Iterator[CaseDraft]:
        t = context.thresholds[self.code]
        minimum = int((Decimal(str(t["min_overpayment_yuan"])) * 100).to_integral_value())
        found = _rows(context, self.SQL, [minimum])
        paid = _payments_evidence(
            context,
            {int(r["enrollment_id"]): r["death_date"] for r in found},
            int(t["max_evidence_items"]),
            by="enrollment_id",
        )
        for r in found:
            enrollment = int(r["enrollment_id"])
            yield self.draft(
                r["person_id"],
                {
                    "death_date": r["death_date"].isoformat(),
                    "months_paid_after_death": int(r["months"]),
                    "paid_after_death": str(yuan(r["paid_cents"])),
                    "already_in_recovery": str(yuan(r["covered_cents"])),
                },
                enrollment_id=enrollment,
                amount=yuan(r["open_cents"]),
                evidence=paid.get(enrollment, []),
            )


# Two enrollments of one person that overlap in time, the later one (by start date, then id)
# being the claim that should not be paid. Months are counted as year*12+month so the SQL
# stays free of engine-specific date functions. Parameter: the as-of date (open ends).
OVERLAPS = """
pairs AS (
    SELECT a.person_id,
           a.enrollment_id AS first_id, a.external_ref AS first_ref, a.program AS first_program,
           a.start_date AS first_start,
           b.enrollment_id AS second_id, b.external_ref AS second_ref,
           b.program AS second_program, b.start_date AS second_start,
           GREATEST(a.start_date, b.start_date) AS overlap_from,
           LEAST(COALESCE(a.end_date, ?), COALESCE(b.end_date, ?)) AS overlap_to
    FROM enrollments a
    JOIN enrollments b ON b.person_id = a.person_id AND b.enrollment_id <> a.enrollment_id
     AND (a.start_date < b.start_date
          OR (a.start_date = b.start_date AND a.enrollment_id < b.enrollment_id))
    WHERE {same}
),
overlapping AS (
    SELECT *,
           (EXTRACT(YEAR FROM overlap_to) * 12 + EXTRACT(MONTH FROM overlap_to))
           - (EXTRACT(YEAR FROM overlap_from) * 12 + EXTRACT(MONTH FROM overlap_from)) + 1
               AS overlap_months
    FROM pairs
    WHERE overlap_from <= overlap_to
),
both_paid AS (
    SELECT o.second_id, o.first_id, COUNT(*) AS months, SUM(p2.amount_cents) AS paid_cents
    FROM overlapping o
    JOIN payments p2 ON p2.enrollment_id = o.second_id
    JOIN payments p1 ON p1.enrollment_id = o.first_id AND p1.period = p2.period
    GROUP BY o.second_id, o.first_id
)
SELECT o.*, COALESCE(bp.months, 0) AS both_paid_months, COALESCE(bp.paid_cents, 0) AS paid_cents
FROM overlapping o
LEFT JOIN both_paid bp ON bp.second_id = o.second_id AND bp.first_id = o.first_id
WHERE o.overlap_months >= ?
ORDER BY o.person_id, o.second_id, o.first_id
"""


def _enrollment_item(r: dict[str, Any], which: str) -> dict[str, Any]:
    """One of the pair of enrollments (`which`: 'first' or 'second'), as case evidence."""
    return {
        "kind": "enrollment",
        "enrollment_id": int(r[f"{which}_id"]),
        "external_ref": r[f"{which}_ref"],
        "program": r[f"{which}_program"],
        "start_date": r[f"{which}_start"].isoformat(),
    }


def _overlap_drafts(
    rule: _Drafts, context: ScanContext, same: str, why: str
) -> Iterator[CaseDraft]:
    minimum = int(context.thresholds[rule.code]["min_overlap_months"])
    sql = "WITH " + OVERLAPS.format(same=same)
    for r in _rows(context, sql, [context.as_of, context.as_of, minimum]):
        yield rule.draft(
            r["person_id"],
            {
                "why": why.format(**r),
                "kept_enrollment_id": int(r["first_id"]),
                "overlap_from": r["overlap_from"].isoformat(),
                "overlap_to": r["overlap_to"].isoformat(),
                "overlap_months": int(r["overlap_months"]),
                "months_paid_by_both": int(r["both_paid_months"]),
                "paid_twice": str(yuan(r["paid_cents"])),
            },
            enrollment_id=int(r["second_id"]),
            amount=yuan(r["paid_cents"]),
            evidence=[_enrollment_item(r, "first"), _enrollment_item(r, "second")],
        )


@dataclass(frozen=True)
class DuplicateRegistration(_Drafts):
    """重领: one person registered twice in one program, the registrations overlapping."""

    code: str = "duplicate_registration"
    kind: CaseKind = "duplicate"
    description_zh: str = "同一人在同一项目重复登记且时间重叠（重领）"
    description_en: str = "one person registered twice in one program, overlapping in time"

    def detect(self, context: ScanContext) -> Iterator[CaseDraft]:
        return _overlap_drafts(
            self,
            context,
            "a.program = b.program",
            "{second_ref} registers the person in {second_program} again ({first_ref})",
        )


@dataclass(frozen=True)
class ExclusivePrograms(_Drafts):
    """重领: two programs the catalog says exclude each other, overlapping in time."""

    code: str = "exclusive_programs"
    kind: CaseKind = "duplicate"
    description_zh: str = "同时享受互斥的两个项目（重领）"
    description_en: str = "two programs that exclude each other received at the same time"

    def detect(self, context: ScanContext) -> Iterator[CaseDraft]:
        return _overlap_drafts(
            self,
            context,
            "a.program <> b.program AND EXISTS (SELECT 1 FROM program_exclusions x "
            "WHERE x.program = a.program AND x.excluded = b.program)",
            "{first_program} excludes {second_program}",
        )


@dataclass(frozen=True)
class PaymentAboveStandard(_Drafts):
    """多领: a payment above the catalog amount for its month and the person's age."""

    code: str = "payment_above_standard"
    kind: CaseKind = "excess"
    description_zh: str = "发放金额高于该月该年龄段的标准（多领），含同月重复发放"
    description_en: str = (
        "a payment above the catalog amount for its month and the person's age "
        "(including a month paid twice)"
    )

    # Age in whole years on the first day of the paid month; the standard is the highest age
    # tier reached among the amounts in force on that day (without a birth date: the lowest).
    SQL = """
    WITH paid AS (
        SELECT en.person_id, p.enrollment_id, en.external_ref, en.program, p.period,
               p.period_start, p.amount_cents,
               LAG(p.amount_cents) OVER (PARTITION BY p.enrollment_id ORDER BY p.period)
                   AS previous_cents,
               LEAD(p.amount_cents) OVER (PARTITION BY p.enrollment_id ORDER BY p.period)
                   AS next_cents,
               EXTRACT(YEAR FROM p.period_start) - EXTRACT(YEAR FROM pe.birth_date)
               - CASE WHEN EXTRACT(MONTH FROM p.period_start) * 100 + 1
                           < EXTRACT(MONTH FROM pe.birth_date) * 100
                             + EXTRACT(DAY FROM pe.birth_date)
                      THEN 1 ELSE 0 END AS age
        FROM payments p
        JOIN enrollments en ON en.enrollment_id = p.enrollment_id
        JOIN people pe ON pe.person_id = en.person_id
    ),
    tiers AS (
        SELECT paid.*, a.amount_cents AS standard_cents,
               ROW_NUMBER() OVER (
                   PARTITION BY paid.enrollment_id, paid.period
                   ORDER BY CASE WHEN paid.age IS NULL THEN COALESCE(a.min_age, 0)
                                 ELSE -COALESCE(a.min_age, 0) END
               ) AS n
        FROM paid
        JOIN program_amounts a ON a.program = paid.program
         AND a.effective_from <= paid.period_start
         AND (a.effective_until IS NULL OR paid.period_start <= a.effective_until)
         AND (paid.age IS NULL OR a.min_age IS NULL OR a.min_age <= paid.age)
    )
    SELECT person_id, enrollment_id, external_ref, program, period, age, amount_cents,
           previous_cents, next_cents, standard_cents, amount_cents - standard_cents AS excess_cents
    FROM tiers
    WHERE n = 1 AND amount_cents - standard_cents >= ?
    ORDER BY person_id, enrollment_id, period
    """

    def detect(self, context: ScanContext) -> Iterator[CaseDraft]:
        t = context.thresholds[self.code]
        tolerance = int((Decimal(str(t["tolerance_yuan"])) * 100).to_integral_value())
        limit = int(t["max_evidence_items"])
        by_enrollment: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in _rows(context, self.SQL, [tolerance]):
            by_enrollment[int(r["enrollment_id"])].append(r)
        for enrollment, rows in by_enrollment.items():
            doubled = [r["period"] for r in rows if _paid_twice(r)]
            excess = sum(int(r["excess_cents"]) for r in rows)
            yield self.draft(
                rows[0]["person_id"],
                {
                    "program": rows[0]["program"],
                    "months_above_standard": len(rows),
                    "first_period": rows[0]["period"],
                    "last_period": rows[-1]["period"],
                    "excess": str(yuan(excess)),
                    "months_paid_twice": doubled,
                },
                enrollment_id=enrollment,
                amount=yuan(excess),
                evidence=(
                    {
                        "kind": "payment",
                        "enrollment_id": enrollment,
                        "external_ref": r["external_ref"],
                        "program": r["program"],
                        "period": r["period"],
                        "amount": str(yuan(r["amount_cents"])),
                        "standard": str(yuan(r["standard_cents"])),
                        "age": None if r["age"] is None else int(r["age"]),
                    }
                    for r in rows[-limit:]
                ),
            )


def _paid_twice(row: dict[str, Any]) -> bool:
    """A month paid twice: exactly twice the standard, and unlike the months around it (a
    steady amount of twice a tier is a wrong tier, not a month paid twice)."""
    amount = row["amount_cents"]
    return bool(
        amount == 2 * row["standard_cents"]
        and row["previous_cents"] != amount
        and row["next_cents"] != amount
    )


BUILTIN_RULES: tuple[FraudRule, ...] = (
    PaymentsWithoutStrongEvidence(),
    WeakActivityAfterDeath(),
    PaymentsAfterDeath(),
    DuplicateRegistration(),
    ExclusivePrograms(),
    PaymentAboveStandard(),
)


@hookimpl
def lifesign_fraud_rules() -> Iterable[FraudRule]:
    """The built-in rules, offered through the same hook as any plugin's."""
    return BUILTIN_RULES
