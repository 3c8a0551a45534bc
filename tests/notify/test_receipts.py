"""Delivery receipts read from a provider's file and applied to the outbox, on SQLite and
PostgreSQL: provider field names and words, bad lines named by line and field, re-applying a
file counts instead of changing anything."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, select

from lifesign.cli import cli
from lifesign.notify.config import NotifyConfig
from lifesign.notify.gateways.base import OutgoingMessage, SendResult
from lifesign.notify.outbox import deliver_due, outbox
from lifesign.notify.receipts import apply_receipts, parse_receipts
from tests.notify.support import add_people, at, queue_certified


class NumberingGateway:
    """Accepts every message and answers the reference R-<idempotency key>."""

    name = "numbering"
    deduplicates = True

    def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult.ok(f"R-{message.idempotency_key}")


def _sent_messages(engine: Engine, count: int, policy: NotifyConfig) -> None:
    now = at("2026-03-02 10:00")
    queue_certified(engine, add_people(engine, count), now)
    assert deliver_due(engine, NumberingGateway(), now, config=policy).sent == count


def _statuses(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(outbox.c.gateway_ref, outbox.c.status, outbox.c.last_error)
        ).all()
    return {ref: (status, error) for ref, status, error in rows}


def test_provider_files_in_both_formats(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    _sent_messages(engine, 4, policy)
    aliyun = tmp_path / "aliyun-report.jsonl"  # Aliyun's SmsReport field names
    aliyun.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                {"biz_id": "R-1", "success": True, "report_time": "2026-03-02 10:01:05"},
                {
                    "biz_id": "R-2",
                    "success": False,
                    "err_code": "MOBILE_NOT_ON_SERVICE",
                    "report_time": "2026-03-02 10:01:09",
                },
            )
        )
        + "\n",
        encoding="utf-8",
    )
    report = apply_receipts(engine, aliyun, config=policy)
    assert (report.applied, report.already, report.unknown, report.problems) == (2, 0, 0, [])
    tencent = tmp_path / "tencent.csv"  # Tencent's callback names, written with a BOM
    tencent.write_text(
        "sid,report_status,user_receive_time,errmsg\n"
        "R-3,SUCCESS,2026-03-02 10:02:00,DELIVRD\n"
        "R-4,FAIL,2026-03-02 10:02:30,phone switched off\n",
        encoding="utf-8-sig",
    )
    assert apply_receipts(engine, tencent, config=policy).applied == 2
    statuses = _statuses(engine)
    assert statuses["R-1"] == ("delivered", None)
    assert statuses["R-2"] == ("undeliverable", "MOBILE_NOT_ON_SERVICE")
    assert statuses["R-3"] == ("delivered", None)
    assert statuses["R-4"] == ("undeliverable", "phone switched off")
    with engine.connect() as connection:
        delivered_at = connection.execute(
            select(outbox.c.delivered_at).where(outbox.c.gateway_ref == "R-1")
        ).scalar_one()
    assert delivered_at is not None

    again = apply_receipts(engine, tencent, config=policy)  # the same file twice
    assert (again.applied, again.already, again.unknown) == (0, 2, 0)
    assert _statuses(engine) == statuses


def test_bad_lines_are_named_and_good_ones_applied(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    _sent_messages(engine, 2, policy)
    path = tmp_path / "receipts.csv"
    path.write_text(
        "gateway_ref,status,at\n"
        "R-1,delivered,2026-03-02T10:05:00\n"
        ",delivered,2026-03-02T10:05:00\n"
        "R-2,read,2026-03-02T10:05:00\n"
        "R-2,delivered,yesterday\n"
        "R-999,delivered,2026-03-02T10:05:00\n",
        encoding="utf-8",
    )
    receipts, problems = parse_receipts(path)
    assert [r.gateway_ref for r in receipts] == ["R-1", "R-999"]
    assert [(p.line, p.key) for p in problems] == [(3, "gateway_ref"), (4, "status"), (5, "at")]
    assert "unknown status 'read'" in str(problems[1])
    assert str(problems[2]).startswith(f"{path}:5: at: not a time")
    report = apply_receipts(engine, path, config=policy)
    assert (report.applied, report.unknown, len(report.problems)) == (1, 1, 3)
    assert _statuses(engine)["R-2"][0] == "sent"  # its bad receipts changed nothing


def test_cli(engine: Engine, policy: NotifyConfig, tmp_path: Path) -> None:
    _sent_messages(engine, 1, policy)
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"gateway_ref": "R-1", "status": "delivered", "at": "2026-03-02T10:09"}\nnot json\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["--home", str(tmp_path / "home"), "notify", "receipts", str(path)],
        env={"LIFESIGN_DATABASE_URL": engine.url.render_as_string(hide_password=False)},
    )
    assert result.exit_code == 0, result.output
    assert "1 applied, 0 already recorded, 0 unknown reference(s), 1 rejected" in result.output
    assert "r.jsonl:2: not valid JSON" in result.output
    assert _statuses(engine)["R-1"][0] == "delivered"
