"""Actions and checkers of the integrity rules (engineer 4's package).

Actions:
  - scan: {as_of: DATE}        deliver evidence arrived by then, run every registered rule
  - close_case: {person: P, rule: R, to: confirmed|dismissed|recovered, officer: NAME,
                 reason: TEXT, on: DATE}

Expect keys:
  cases:     EXACTLY these cases: {person, enrollment, kind, rule, status, amount,
             details: {subset}, evidence_records: [record ids]} (fields left out: not compared)
  no_cases:  no case of these rules
  scan:      counts of the last scan per rule: {rule: {found, opened, already_open,
             already_handled}} (fields left out: not compared)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select

from lifesign.integrity.cases import close_case
from lifesign.integrity.models import Case
from lifesign.integrity.scan import ScanReport, scan
from tests.policy.framework import CaseRun, action, as_date, checker, dumps

cases_t = cast(Table, Case.__table__)


@action("scan")
def run_scan(case: CaseRun, params: dict[str, Any]) -> None:
    as_of = as_date(params.get("as_of", case.as_of))
    case.deliver_evidence(as_of)
    case.outputs["scan"] = scan(case.settings, case.engine, case.catalog, as_of)


@action("close_case")
def run_close_case(case: CaseRun, params: dict[str, Any]) -> None:
    person = case.persons[str(params["person"])]
    with case.engine.begin() as connection:
        case_id = connection.execute(
            select(cases_t.c.case_id).where(
                cases_t.c.person_id == person,
                cases_t.c.rule == str(params["rule"]),
                cases_t.c.status.in_(("open", "confirmed")),
            )
        ).scalar_one()
        close_case(
            connection,
            int(case_id),
            to_status=str(params["to"]),  # type: ignore[arg-type]
            officer=str(params["officer"]),
            reason=str(params["reason"]),
            on=as_date(params.get("on", case.as_of)),
        )


def _actual(case: CaseRun) -> list[dict[str, Any]]:
    with case.engine.connect() as connection:
        rows = connection.execute(select(cases_t).order_by(cases_t.c.case_id)).all()
    out = []
    for r in rows:
        out.append(
            {
                "person": case.person_label(int(r.person_id)),
                "enrollment": case.enrollment_label(r.enrollment_id),
                "kind": r.kind,
                "rule": r.rule,
                "status": r.status,
                "amount": None if r.amount is None else f"{Decimal(r.amount):.2f}",
                "details": r.details or {},
                "evidence_records": sorted(
                    str(e["record_id"]) for e in (r.evidence or []) if "record_id" in e
                ),
            }
        )
    return out


def _matches(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for key, value in wanted.items():
        if key == "amount":
            if actual["amount"] != (None if value is None else f"{Decimal(str(value)):.2f}"):
                return False
        elif key == "details":
            for name, expected in value.items():
                if dumps(actual["details"].get(name)) != dumps(expected):
                    return False
        elif key == "evidence_records":
            if actual["evidence_records"] != sorted(str(v) for v in value):
                return False
        elif actual.get(key) != value:
            return False
    return True


@checker("cases")
def check_cases(case: CaseRun, expected: Any) -> None:
    actual = _actual(case)
    unmatched = list(actual)
    for wanted in expected or []:
        hit = next((a for a in unmatched if _matches(a, wanted)), None)
        assert hit is not None, (
            f"{case.name}: no case matches {dumps(wanted)}; cases: {dumps(actual)}"
        )
        unmatched.remove(hit)
    assert not unmatched, f"{case.name}: unexpected cases {dumps(unmatched)}"


@checker("no_cases")
def check_no_cases(case: CaseRun, expected: Any) -> None:
    rules = {a["rule"] for a in _actual(case)}
    assert not rules & set(expected), f"{case.name}: cases of {sorted(rules & set(expected))}"


@checker("scan")
def check_scan(case: CaseRun, expected: Any) -> None:
    report = case.outputs.get("scan")
    assert isinstance(report, ScanReport), f"{case.name}: no scan was run"
    for rule, counts in expected.items():
        got = report.rules[rule]
        for name, value in counts.items():
            assert getattr(got, name) == value, (
                f"{case.name}: scan {rule}.{name} = {getattr(got, name)}, expected {value}"
            )
