"""The demo's closing report: what a year of the platform did for a city.

Read from the state database only (the score adds the comparison with the truth):
recipients; how each was certified in the replayed year (the channel of the person's latest
certification: silently from data, by face on a phone, at a counter, by a home visit) or not;
suspended, terminated; deaths and the days to detect them; overpayments found as recovery
cases; fraud cases; SMS sent.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

CHANNELS = ("auto", "self_service", "counter", "home_visit")
CHANNEL_LABELS = {
    "auto": "silently, from data (静默认证)",
    "self_service": "by face on a phone (自助认证)",
    "counter": "at a service counter (窗口认证)",
    "home_visit": "by a home visit (上门认证)",
    None: "not certified in the year",
}


@dataclass
class YearReport:
    first: dt.date
    last: dt.date
    recipients: int
    certified_by: dict[str | None, int]  # channel of the latest certification in the year
    deceased: int  # people decided deceased in the year (their benefits end)
    suspended_people: int  # people with a suspended enrollment on the last day
    suspended_in_year: int  # people suspended at least once in the year
    resumed_in_year: int
    terminated_enrollments: int  # enrollments terminated in the year
    back_pay_amount: Decimal
    recovery_cases: int
    recovery_amount: Decimal
    fraud_cases: dict[str, int]  # by rule
    other_cases: dict[str, int]  # by kind (duplicate, excess)
    messages: dict[str, int]  # sent, by reason
    messages_queued: int
    visit_tasks: int
    reviews_open: int
    extra: dict[str, Any] = field(default_factory=dict)


def _scalar(connection: Any, sql: str, **params: Any) -> Any:
    try:
        return connection.execute(text(sql), params).scalar()
    except Exception:  # a table of a package this database does not have yet
        connection.rollback()
        return None


def _rows(connection: Any, sql: str, **params: Any) -> list[Any]:
    try:
        return list(connection.execute(text(sql), params))
    except Exception:
        connection.rollback()
        return []


def year_report(engine: Engine, first: dt.date, last: dt.date) -> YearReport:
    """What happened between `first` and `last` (the replayed period)."""
    span = {"first": first, "last": last}
    with engine.connect() as connection:
        recipients = int(
            _scalar(connection, "SELECT count(DISTINCT person_id) FROM enrollments") or 0
        )
        latest = _rows(
            connection,
            "SELECT d.person_id, d.channel FROM decisions d WHERE d.kind = 'certified' "
            "AND d.decided_on BETWEEN :first AND :last AND d.decision_id = ("
            "  SELECT max(d2.decision_id) FROM decisions d2 WHERE d2.person_id = d.person_id"
            "  AND d2.kind = 'certified' AND d2.decided_on BETWEEN :first AND :last)",
            **span,
        )
        by_channel: Counter[str | None] = Counter(
            str(row.channel) if row.channel else "auto" for row in latest
        )
        deceased = int(
            _scalar(
                connection,
                "SELECT count(DISTINCT person_id) FROM decisions WHERE kind = 'deceased' "
                "AND decided_on BETWEEN :first AND :last",
                **span,
            )
            or 0
        )
        by_channel[None] = max(recipients - sum(by_channel.values()), 0)
        report = YearReport(
            first=first,
            last=last,
            recipients=recipients,
            certified_by={c: by_channel.get(c, 0) for c in (*CHANNELS, None)},
            deceased=deceased,
            suspended_people=int(
                _scalar(
                    connection,
                    "SELECT count(DISTINCT person_id) FROM enrollments WHERE status = 'suspended'",
                )
                or 0
            ),
            suspended_in_year=_count_people(connection, "suspended", span),
            resumed_in_year=_count_people(connection, "resumed", span),
            terminated_enrollments=int(
                _scalar(
                    connection,
                    "SELECT count(DISTINCT enrollment_id) FROM status_events "
                    "WHERE to_status = 'terminated' AND target = 'enrollment' "
                    "AND at BETWEEN :first AND :last",
                    **span,
                )
                or 0
            ),
            back_pay_amount=Decimal(
                str(
                    _scalar(
                        connection,
                        "SELECT coalesce(sum(amount), 0) FROM back_pay "
                        "WHERE decided_on BETWEEN :first AND :last",
                        **span,
                    )
                    or 0
                )
            ),
            recovery_cases=int(
                _scalar(connection, "SELECT count(*) FROM cases WHERE kind = 'recovery'") or 0
            ),
            recovery_amount=Decimal(
                str(
                    _scalar(
                        connection,
                        "SELECT coalesce(sum(amount), 0) FROM cases WHERE kind = 'recovery'",
                    )
                    or 0
                )
            ),
            fraud_cases={
                str(row.rule): int(row.n)
                for row in _rows(
                    connection,
                    "SELECT rule, count(*) AS n FROM cases WHERE kind = 'fraud' GROUP BY rule",
                )
            },
            other_cases={
                str(row.kind): int(row.n)
                for row in _rows(
                    connection,
                    "SELECT kind, count(*) AS n FROM cases "
                    "WHERE kind NOT IN ('fraud', 'recovery') GROUP BY kind",
                )
            },
            messages={
                str(row.reason): int(row.n)
                for row in _rows(
                    connection,
                    "SELECT reason, count(*) AS n FROM outbox "
                    "WHERE status IN ('sent', 'delivered') GROUP BY reason ORDER BY reason",
                )
            },
            messages_queued=int(
                _scalar(connection, "SELECT count(*) FROM outbox WHERE status = 'queued'") or 0
            ),
            visit_tasks=int(
                _scalar(
                    connection,
                    "SELECT count(*) FROM visit_tasks WHERE created_on BETWEEN :first AND :last",
                    **span,
                )
                or 0
            ),
            reviews_open=int(
                _scalar(connection, "SELECT count(*) FROM reviews WHERE status = 'open'") or 0
            ),
        )
    return report


def _count_people(connection: Any, kind: str, span: dict[str, dt.date]) -> int:
    return int(
        _scalar(
            connection,
            "SELECT count(DISTINCT person_id) FROM decisions WHERE kind = :kind "
            "AND decided_on BETWEEN :first AND :last",
            kind=kind,
            **span,
        )
        or 0
    )
