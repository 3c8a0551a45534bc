"""Actions and checkers of the certification rules (engineer 1's package)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, cast

from sqlalchemy import Table, select

from lifesign.certify.ledger import current_state
from lifesign.certify.models import Decision, Review
from lifesign.certify.passes import run_pass
from lifesign.certify.reviews import resolve_review
from lifesign.store.models import Enrollment
from tests.policy.framework import CaseRun, action, as_date, checker, dumps

decisions_t = cast(Table, Decision.__table__)
reviews_t = cast(Table, Review.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


@action("pass")
def certification_pass(case: CaseRun, params: dict[str, Any]) -> None:
    """`- pass: {as_of: DATE, mode: incremental|full}`: deliver the evidence that has arrived
    by then, run the certification pass."""
    as_of = as_date(params.get("as_of", case.as_of))
    case.deliver_evidence(as_of)
    report = run_pass(
        case.settings, case.engine, case.catalog, as_of, params.get("mode", "incremental")
    )
    case.outputs.setdefault("pass", []).append(report)


@action("resolve_review")
def resolve(case: CaseRun, params: dict[str, Any]) -> None:
    """`- resolve_review: {person: P, kind: K, decision: alive|deceased|released|dismissed,
    reason: ..., on: DATE, death_date: DATE}`."""
    person_id = case.persons[str(params["person"])]
    with case.engine.begin() as connection:
        review_id = connection.execute(
            select(reviews_t.c.review_id).where(
                reviews_t.c.person_id == person_id,
                reviews_t.c.kind == str(params["kind"]),
                reviews_t.c.status == "open",
            )
        ).scalar_one()
        resolve_review(
            connection,
            review_id,
            decision=str(params["decision"]),
            reason=str(params.get("reason", "policy case")),
            resolved_by=str(params.get("by", "officer")),
            on=as_date(params.get("on", case.as_of)),
            catalog_version=case.catalog.version,
            death_date=as_date(params["death_date"]) if params.get("death_date") else None,
        )


def _actual_decisions(case: CaseRun) -> list[dict[str, Any]]:
    with case.engine.connect() as connection:
        rows = connection.execute(
            select(decisions_t).order_by(decisions_t.c.decision_id)
        ).mappings()
        return [
            {
                "person": case.person_label(row["person_id"]),
                "enrollment": case.enrollment_label(row["enrollment_id"]),
                "kind": row["kind"],
                "effective_date": row["effective_date"],
                "rule": row["rule"],
                "evidence": sorted(ref["record_id"] for ref in row["evidence"]),
                "valid_until": row["valid_until"],
                "channel": row["channel"],
            }
            for row in rows
        ]


def _matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    for key, value in expected.items():
        if key == "evidence":
            if sorted(str(v) for v in value) != actual["evidence"]:
                return False
        elif key in ("effective_date", "valid_until"):
            if (None if value is None else as_date(value)) != actual[key]:
                return False
        elif key not in actual:
            raise AssertionError(f"unknown decision field {key!r} in the case")
        elif (None if value is None else str(value)) != actual[key]:
            return False
    return True


def _check_decisions(case: CaseRun, expected: list[dict[str, Any]], exact: bool) -> None:
    actual = _actual_decisions(case)
    unmatched = list(actual)
    for want in expected or []:
        found = next((a for a in unmatched if _matches(want, a)), None)
        assert found is not None, (
            f"{case.name}: expected decision {dumps(want)} not found among\n"
            + "\n".join(dumps(a) for a in actual)
        )
        unmatched.remove(found)
    if exact:
        assert not unmatched, f"{case.name}: unexpected decisions:\n" + "\n".join(
            dumps(a) for a in unmatched
        )


@checker("decisions")
def decisions_exactly(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Every decision in the ledger, no more, no less (fields not given are not compared)."""
    _check_decisions(case, expected, exact=True)


@checker("decisions_include")
def decisions_include(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """These decisions are in the ledger (others may be too)."""
    _check_decisions(case, expected, exact=False)


@checker("no_decisions")
def no_decisions_of_kind(case: CaseRun, expected: list[str]) -> None:
    """No decision of these kinds (e.g. `[certified]` for weak-only evidence)."""
    kinds = Counter(d["kind"] for d in _actual_decisions(case))
    for kind in expected:
        assert kinds[kind] == 0, f"{case.name}: {kinds[kind]} decision(s) of kind {kind!r}"


@checker("statuses")
def statuses(case: CaseRun, expected: dict[str, Any]) -> None:
    """`persons: {P: alive}`, `enrollments: {E: terminated}`."""
    with case.engine.begin() as connection:
        for label, status in (expected.get("persons") or {}).items():
            state = current_state(connection, case.persons[str(label)])
            assert state.status == status, f"{case.name}: {label} is {state.status}, not {status}"
        for label, status in (expected.get("enrollments") or {}).items():
            actual = connection.execute(
                select(enrollments_t.c.status).where(
                    enrollments_t.c.enrollment_id == case.enrollments[str(label)]
                )
            ).scalar_one()
            assert actual == status, f"{case.name}: enrollment {label} is {actual}, not {status}"


@checker("person_state")
def person_state(case: CaseRun, expected: dict[str, dict[str, Any]]) -> None:
    """`{P: {valid_until: DATE, last_certified_on: DATE, channel: auto, death_date: DATE}}`."""
    with case.engine.begin() as connection:
        for label, fields in expected.items():
            state = current_state(connection, case.persons[str(label)])
            for name, value in fields.items():
                actual = getattr(state, name)
                if isinstance(actual, dt.date) or name.endswith(("_on", "_until", "_date")):
                    value = None if value is None else as_date(value)
                assert actual == value, f"{case.name}: {label}.{name} is {actual}, not {value}"


@checker("reviews")
def reviews(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Exactly these reviews: `[{person: P, kind: K, status: open, sides: {death: [ids], ...}}]`."""
    with case.engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(select(reviews_t)).mappings()]
    assert len(rows) == len(expected or []), (
        f"{case.name}: {len(rows)} review(s), expected {len(expected or [])}: "
        + dumps([(case.person_label(r["person_id"]), r["kind"]) for r in rows])
    )
    for want in expected or []:
        found = [
            r
            for r in rows
            if case.person_label(r["person_id"]) == str(want["person"])
            and r["kind"] == want["kind"]
            and r["status"] == want.get("status", r["status"])
        ]
        assert found, f"{case.name}: review {dumps(want)} not found"
        for side, record_ids in (want.get("sides") or {}).items():
            got = sorted(ref["record_id"] for ref in found[0]["sides"].get(side, []))
            assert got == sorted(map(str, record_ids)), (
                f"{case.name}: review side {side!r} holds {got}, expected {record_ids}"
            )
