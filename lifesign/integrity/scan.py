"""The integrity scan: run every registered rule as of a date and open a case per new finding.

    report = scan(settings, engine, catalog, as_of=date(2026, 10, 31))

A finding already known is not opened again:
- an open case with the same kind, rule, person and enrollment → `already_open`;
- amounts of confirmed or recovered cases with the same identity are subtracted (they are
  being, or have been, recovered): only what is new since is opened, and nothing if nothing is;
- a dismissed case with the same identity covers findings up to its amount: an officer judged
  that finding; it comes back only if it grows (more payments since).
Findings without an amount come back only while no case with the same identity exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from sqlalchemy import Connection, Engine, select

from lifesign.catalog import Catalog
from lifesign.config import Settings
from lifesign.integrity.cases import open_case
from lifesign.integrity.context import build_context
from lifesign.integrity.models import Case
from lifesign.integrity.rules import CaseDraft, FraudRule, ScanContext

log = logging.getLogger(__name__)


@dataclass
class RuleReport:
    code: str
    found: int = 0
    opened: int = 0
    already_open: int = 0
    already_handled: int = 0
    amount_opened: Decimal = Decimal("0.00")


@dataclass
class ScanReport:
    as_of: dt.date
    rules: dict[str, RuleReport] = field(default_factory=dict)
    case_ids: list[int] = field(default_factory=list)

    @property
    def opened(self) -> int:
        return sum(r.opened for r in self.rules.values())

    @property
    def found(self) -> int:
        return sum(r.found for r in self.rules.values())


def registered_rules() -> list[FraudRule]:
    """Every rule from every plugin (built-ins first); two rules with one code is an error."""
    from lifesign.plugins import PluginError, fraud_rules

    rules: list[FraudRule] = []
    seen: set[str] = set()
    for rule in fraud_rules():
        if not isinstance(rule, FraudRule):
            raise PluginError(
                what=f"a plugin gives an unusable fraud rule {rule!r}",
                why="a rule needs code, kind, description_zh, description_en and detect(context)",
            )
        if rule.code in seen:
            raise PluginError(
                what=f"two plugins give a fraud rule with the code {rule.code!r}",
                why="a rule's code is written on every case: rename one",
            )
        seen.add(rule.code)
        rules.append(rule)
    return rules


def _settle(connection: Connection, draft: CaseDraft) -> tuple[str, CaseDraft]:
    """What to do with a draft given the cases of the same identity: ('open', draft with the
    new amount), or ('already_handled', draft)."""
    query = select(Case.status, Case.amount).where(
        Case.kind == draft.kind,
        Case.rule == draft.rule,
        Case.person_id == draft.person_id,
        Case.status != "open",
    )
    query = query.where(
        Case.enrollment_id.is_(None)
        if draft.enrollment_id is None
        else Case.enrollment_id == draft.enrollment_id
    )
    earlier = connection.execute(query).all()
    if not earlier:
        return "open", draft
    if draft.amount is None:
        return "already_handled", draft
    covered = sum(
        (Decimal(a) for s, a in earlier if s in ("confirmed", "recovered") and a is not None),
        Decimal("0.00"),
    )
    remaining = draft.amount - covered
    dismissed = [Decimal(a) for s, a in earlier if s == "dismissed" and a is not None]
    if remaining <= 0 or (dismissed and remaining <= max(dismissed)):
        return "already_handled", draft
    details = dict(draft.details)
    details["found_amount"] = str(draft.amount)
    details["already_in_recovery"] = str(covered)
    return "open", replace(draft, amount=remaining, details=details)


def open_drafts(
    connection: Connection, drafts: Iterable[CaseDraft], as_of: dt.date, report: ScanReport
) -> None:
    """Open a case for each new finding, counting in `report` what was done."""
    for draft in drafts:
        counts = report.rules.setdefault(draft.rule, RuleReport(draft.rule))
        counts.found += 1
        verdict, draft = _settle(connection, draft)
        if verdict == "already_handled":
            counts.already_handled += 1
            continue
        case_id = open_case(
            connection,
            kind=draft.kind,
            rule=draft.rule,
            person_id=draft.person_id,
            opened_on=as_of,
            amount=draft.amount,
            enrollment_id=draft.enrollment_id,
            evidence=draft.evidence,
            details=draft.details,
        )
        if case_id is None:
            counts.already_open += 1
        else:
            counts.opened += 1
            counts.amount_opened += draft.amount or Decimal("0.00")
            report.case_ids.append(case_id)


def scan_context(
    context: ScanContext, engine: Engine, rules: Sequence[FraudRule] | None = None
) -> ScanReport:
    """Run `rules` (default: every registered rule) on a prepared context; one transaction."""
    rules = registered_rules() if rules is None else list(rules)
    report = ScanReport(as_of=context.as_of)
    # Each rule reads the context first (DuckDB), then the cases are written in one
    # transaction: a scan that fails half-way opens nothing.
    drafts: list[CaseDraft] = []
    for rule in rules:
        report.rules.setdefault(rule.code, RuleReport(rule.code))
        found = list(rule.detect(context))
        log.info("integrity rule %s: %d findings", rule.code, len(found))
        drafts.extend(found)
    with engine.begin() as connection:
        open_drafts(connection, drafts, context.as_of, report)
    return report


def scan(
    settings: Settings,
    engine: Engine,
    catalog: Catalog,
    as_of: dt.date,
    rules: Sequence[FraudRule] | None = None,
) -> ScanReport:
    """Every registered rule over the lake and the state database as of `as_of`."""
    context = build_context(settings, engine, catalog, as_of)
    try:
        return scan_context(context, engine, rules)
    finally:
        context.duck.close()
