"""The outbox on SQLite and PostgreSQL: at most once per person/reason/period, quiet hours,
backoff, max attempts, rate, receipts, crash recovery, the transition table."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from lifesign.notify.config import NotifyConfig
from lifesign.notify.gateways.base import OutgoingMessage, SendResult
from lifesign.notify.gateways.local import FileGateway
from lifesign.notify.outbox import (
    OutboxError,
    _claim,
    backoff,
    deliver_due,
    enqueue,
    enqueue_message,
    from_db,
    outbox,
    quiet_hours_end,
    record_delivery,
    retry_failed,
    transition,
)
from lifesign.notify.templates import TemplateError
from tests.notify.support import BEIJING, add_people, at, certified_params, outbox_rows, with_retry


class ScriptedGateway:
    """A gateway answering from a script (then accepting): for the outbox's own policy."""

    name = "scripted"

    def __init__(self, script: Iterable[SendResult] = (), *, deduplicates: bool = True) -> None:
        self.script = list(script)
        self.deduplicates = deduplicates
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> SendResult:
        self.sent.append(message)
        if self.script:
            return self.script.pop(0)
        return SendResult.ok(f"scripted-{message.idempotency_key}-{len(self.sent)}")


def _queue(engine: Engine, person_id: int, now: dt.datetime, **overrides: Any) -> bool:
    arguments: dict[str, Any] = {
        "person_id": person_id,
        "phone": f"1390000{person_id:04d}",
        "reason": "certified",
        "period_key": "2027-03-01",
        "params": certified_params(person_id),
        "now": now,
    }
    arguments.update(overrides)
    with engine.begin() as connection:
        return enqueue(connection, **arguments)


_rows = outbox_rows


def test_one_message_per_person_reason_and_period(engine: Engine) -> None:
    add_people(engine, 2)
    now = at("2026-03-02 10:00")
    assert _queue(engine, 1, now) is True
    assert _queue(engine, 1, now + dt.timedelta(days=1)) is False  # the daily run asks again
    with engine.begin() as connection:
        again = enqueue_message(
            connection,
            person_id=1,
            phone="13900000001",
            reason="certified",
            period_key="2027-03-01",
            params=certified_params(1),
            now=now,
        )
    assert again == "duplicate"
    assert _queue(engine, 1, now, period_key="2028-03-01") is True  # the next certification
    assert _queue(
        engine, 1, now, reason="reminder_60", params={**certified_params(1), "days_left": 60}
    )
    assert _queue(engine, 2, now) is True
    rows = _rows(engine)
    assert [(r.person_id, r.reason, r.period_key) for r in rows] == [
        (1, "certified", "2027-03-01"),
        (1, "certified", "2028-03-01"),
        (1, "reminder_60", "2027-03-01"),
        (2, "certified", "2027-03-01"),
    ]


def test_no_phone_queues_nothing_and_says_so(engine: Engine) -> None:
    add_people(engine, 1, phone=False)
    now = at("2026-03-02 10:00")
    assert _queue(engine, 1, now, phone=None) is False
    assert _queue(engine, 1, now, phone="  ") is False
    with engine.begin() as connection:
        outcome = enqueue_message(
            connection,
            person_id=1,
            phone="",
            reason="certified",
            period_key="p",
            params=certified_params(1),
            now=now,
        )
    assert outcome == "no_phone"
    assert _rows(engine) == []


def test_body_is_rendered_when_queued_and_kept(engine: Engine) -> None:
    add_people(engine, 2)
    now = at("2026-03-02 10:00")
    _queue(engine, 1, now)
    _queue(
        engine, 2, now, lang="en", params={**certified_params(2), "evidence_name": "inpatient stay"}
    )
    chinese, english = _rows(engine)
    assert chinese.template == "zh-CN/certified"
    assert chinese.body == (
        "测试1您好：根据您2026年3月1日的医保住院结算记录，您的待遇领取资格已通过大数据比对"
        "自动认证，有效期至2027年3月1日，无需另行办理。"
    )
    assert chinese.params == {
        "name": "测试1",
        "evidence_date": "2026年3月1日",
        "evidence_name": "医保住院结算",
        "valid_until": "2027年3月1日",
    }
    assert english.template == "en/certified"
    assert "valid until 2027-03-01" in english.body
    assert chinese.status == "queued" and chinese.attempts == 0
    assert from_db(chinese.next_attempt_at) == now


def test_a_missing_parameter_is_a_clear_error_and_queues_nothing(engine: Engine) -> None:
    add_people(engine, 1)
    params = certified_params(1)
    del params["valid_until"]
    with pytest.raises(TemplateError, match=r"missing parameter\(s\) valid_until"):
        _queue(engine, 1, at("2026-03-02 10:00"), params=params)
    with pytest.raises(TemplateError, match="no SMS template for reason 'birthday'"):
        _queue(engine, 1, at("2026-03-02 10:00"), reason="birthday")
    assert _rows(engine) == []


def test_quiet_hours_hold_messages_until_they_end(engine: Engine, policy: NotifyConfig) -> None:
    add_people(engine, 2)
    _queue(engine, 1, at("2026-03-02 20:30"))
    _queue(engine, 2, at("2026-03-02 20:30"))
    gateway = ScriptedGateway()
    night = deliver_due(engine, gateway, at("2026-03-02 22:30"), config=policy)
    assert (night.sent, night.held_for_quiet_hours) == (0, 2)
    morning = at("2026-03-03 08:00")
    assert night.quiet_until == morning
    assert {from_db(r.next_attempt_at) for r in _rows(engine)} == {morning}
    assert deliver_due(engine, gateway, at("2026-03-03 07:59"), config=policy).sent == 0
    assert gateway.sent == []
    assert deliver_due(engine, gateway, morning, config=policy).sent == 2
    # A naive time is the city's local time.
    assert deliver_due(engine, gateway, dt.datetime(2026, 3, 3, 23, 0), config=policy).quiet_until


def test_quiet_hours_window(policy: NotifyConfig) -> None:
    eight = dt.time(8, 0)
    assert quiet_hours_end(at("2026-03-02 21:00"), policy) == at("2026-03-03 08:00")
    assert quiet_hours_end(at("2026-03-03 03:15"), policy) == at("2026-03-03 08:00")
    assert quiet_hours_end(at("2026-03-03 08:00"), policy) is None
    assert quiet_hours_end(at("2026-03-03 20:59"), policy) is None
    # The window is read in Beijing time, whatever zone the caller's time is in.
    utc_evening = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)  # 22:00 in Beijing
    end = quiet_hours_end(utc_evening, policy)
    assert end is not None and end.astimezone(BEIJING).time() == eight
    daytime = dataclasses.replace(policy, quiet_start=dt.time(12), quiet_end=dt.time(14))
    assert quiet_hours_end(at("2026-03-02 13:00"), daytime) == at("2026-03-02 14:00")
    assert quiet_hours_end(at("2026-03-02 14:00"), daytime) is None


def test_backoff_schedule(policy: NotifyConfig) -> None:
    retry = policy.retry
    assert (retry.base_seconds, retry.factor, retry.max_seconds) == (60, 2, 7200)
    nominal = [60, 120, 240, 480, 960, 1920, 3840, 7200, 7200]
    for attempts, expected in enumerate(nominal, start=1):
        delay = backoff(attempts, 42, retry).total_seconds()
        assert expected * (1 - retry.jitter) <= delay <= expected * (1 + retry.jitter)
        assert backoff(attempts, 42, retry) == backoff(attempts, 42, retry)  # replayable
    spread = {backoff(1, message_id, retry) for message_id in range(50)}
    assert len(spread) == 50  # jitter: messages failed together do not come back together
    reseeded = dataclasses.replace(retry, seed=1)
    assert backoff(3, 42, reseeded) != backoff(3, 42, retry)
    flat = dataclasses.replace(retry, jitter=0.0)
    assert [backoff(n, 1, flat).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]


def test_retried_with_backoff_until_the_gateway_accepts(
    engine: Engine, policy: NotifyConfig
) -> None:
    add_people(engine, 1)
    start = at("2026-03-02 10:00")
    _queue(engine, 1, start)
    gateway = ScriptedGateway([SendResult.retry("HTTP 503"), SendResult.retry("HTTP 503")])
    report = deliver_due(engine, gateway, start, config=policy)
    assert (report.sent, report.retry_scheduled) == (0, 1)
    (row,) = _rows(engine)
    first_wait = backoff(1, row.message_id, policy.retry)
    assert from_db(row.next_attempt_at) == start + first_wait
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "HTTP 503")
    early = start + first_wait - dt.timedelta(seconds=1)
    assert deliver_due(engine, gateway, early, config=policy).attempted == 0
    second = start + first_wait
    deliver_due(engine, gateway, second, config=policy)
    (row,) = _rows(engine)
    assert from_db(row.next_attempt_at) == second + backoff(2, row.message_id, policy.retry)
    third = from_db(row.next_attempt_at)
    assert third is not None
    assert deliver_due(engine, gateway, third, config=policy).sent == 1
    (row,) = _rows(engine)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    assert row.gateway == "scripted" and row.gateway_ref == "scripted-1-3"
    assert from_db(row.sent_at) == third
    assert [m.idempotency_key for m in gateway.sent] == ["1", "1", "1"]  # one key throughout


def test_max_attempts_then_failed_and_visible(engine: Engine, policy: NotifyConfig) -> None:
    add_people(engine, 1)
    config = with_retry(policy, max_attempts=3)
    now = at("2026-03-02 10:00")
    _queue(engine, 1, now)
    gateway = ScriptedGateway([SendResult.retry("HTTP 500")] * 10)
    for _ in range(5):
        deliver_due(engine, gateway, now, config=config)
        now += dt.timedelta(hours=1)
    (row,) = _rows(engine)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error == "gave up after 3 attempts: HTTP 500"
    assert len(gateway.sent) == 3
    assert retry_failed(engine, row.message_id, now)  # an operator tries again
    assert deliver_due(engine, gateway, now, config=config).retry_scheduled == 1


def test_a_permanent_rejection_fails_at_once(engine: Engine, policy: NotifyConfig) -> None:
    add_people(engine, 1)
    _queue(engine, 1, at("2026-03-02 10:00"))
    gateway = ScriptedGateway([SendResult.permanent("number does not exist")])
    report = deliver_due(engine, gateway, at("2026-03-02 10:00"), config=policy)
    assert (report.failed, report.errors) == (1, {"number does not exist": 1})
    (row,) = _rows(engine)
    assert (row.status, row.last_error) == ("failed", "number does not exist")


def test_at_most_n_per_run(engine: Engine, policy: NotifyConfig) -> None:
    add_people(engine, 7)
    now = at("2026-03-02 10:00")
    for person_id in range(1, 8):
        _queue(engine, person_id, now)
    gateway = ScriptedGateway()
    assert deliver_due(engine, gateway, now, limit=2, config=policy).sent == 2
    capped = dataclasses.replace(policy, max_per_run=3)
    assert deliver_due(engine, gateway, now, config=capped).sent == 3
    assert deliver_due(engine, gateway, now, config=capped).sent == 2
    assert [m.idempotency_key for m in gateway.sent] == [
        str(i) for i in range(1, 8)
    ]  # oldest first


def test_delivery_receipts(engine: Engine, policy: NotifyConfig) -> None:
    add_people(engine, 2)
    now = at("2026-03-02 10:00")
    _queue(engine, 1, now)
    _queue(engine, 2, now)
    gateway = ScriptedGateway([SendResult.ok("R-1"), SendResult.ok("R-2")])
    deliver_due(engine, gateway, now, config=policy)
    later = now + dt.timedelta(minutes=2)
    assert record_delivery(engine, "R-1", "delivered", later, gateway="scripted")
    assert record_delivery(engine, "R-2", "undeliverable", later, error="phone switched off")
    assert not record_delivery(engine, "R-1", "delivered", later)  # already final
    assert not record_delivery(engine, "R-404", "delivered", later)
    with pytest.raises(OutboxError, match="unknown delivery status 'read'"):
        record_delivery(engine, "R-1", "read", later)
    first, second = _rows(engine)
    assert (first.status, from_db(first.delivered_at)) == ("delivered", later)
    assert (second.status, second.last_error) == ("undeliverable", "phone switched off")


def test_the_transition_table_refuses_other_moves(engine: Engine) -> None:
    add_people(engine, 1)
    _queue(engine, 1, at("2026-03-02 10:00"))
    with engine.begin() as connection:
        with pytest.raises(OutboxError, match="cannot go from 'queued' to 'sent'"):
            transition(connection, 1, "queued", "sent")
        assert transition(connection, 1, "sending", "sent") is False  # not in 'sending'


def _crash_after_gateway_accepted(engine: Engine, gateway: Any, now: dt.datetime) -> None:
    """What a process killed right after the gateway accepted leaves: a committed claim
    ('sending') and a gateway that has the message; no outcome in the database."""
    (row,) = [r for r in _rows(engine) if r.status == "queued"]
    assert _claim(engine, row, gateway, now)
    result = gateway.send(
        OutgoingMessage(
            idempotency_key=str(row.message_id),
            phone=row.phone,
            body=row.body,
            reason=row.reason,
            template=row.template,
            lang=row.lang,
            params=row.params,
            at=now,
        )
    )
    assert result.accepted


def test_crash_recovery_asks_a_gateway_that_can_look_up(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    add_people(engine, 1)
    now = at("2026-03-02 10:00")
    _queue(engine, 1, now)
    gateway = FileGateway(tmp_path / "outbox")
    _crash_after_gateway_accepted(engine, gateway, now)
    # Within the lease the message may still be in a live process's hands: left alone.
    soon = now + dt.timedelta(seconds=60)
    assert deliver_due(engine, FileGateway(tmp_path / "outbox"), soon, config=policy).recovered == 0
    later = now + policy.sending_lease
    report = deliver_due(engine, FileGateway(tmp_path / "outbox"), later, config=policy)
    assert (report.recovered, report.sent) == (1, 1)
    (row,) = _rows(engine)
    assert (row.status, row.attempts) == ("sent", 1)
    assert row.gateway_ref == "sms-2026-03-02.jsonl#1"
    assert len(list(gateway.records())) == 1  # the SMS exists once


def test_crash_recovery_never_resends_through_a_gateway_that_cannot_tell(
    engine: Engine, policy: NotifyConfig
) -> None:
    add_people(engine, 1)
    now = at("2026-03-02 10:00")
    _queue(engine, 1, now)
    gateway = ScriptedGateway(deduplicates=False)
    _crash_after_gateway_accepted(engine, gateway, now)
    report = deliver_due(engine, gateway, now + dt.timedelta(hours=1), config=policy)
    assert (report.recovered, report.outcome_unknown, report.sent) == (1, 1, 0)
    (row,) = _rows(engine)
    assert row.status == "failed" and row.last_error.startswith("outcome unknown")
    assert len(gateway.sent) == 1  # not sent a second time


def test_crash_recovery_resends_with_the_same_key_to_a_deduplicating_gateway(
    engine: Engine, policy: NotifyConfig
) -> None:
    add_people(engine, 1)
    now = at("2026-03-02 10:00")
    _queue(engine, 1, now)
    gateway = ScriptedGateway(deduplicates=True)
    _crash_after_gateway_accepted(engine, gateway, now)
    report = deliver_due(engine, gateway, now + dt.timedelta(hours=1), config=policy)
    assert (report.recovered, report.sent) == (1, 1)
    assert [m.idempotency_key for m in gateway.sent] == ["1", "1"]
    (row,) = _rows(engine)
    assert (row.status, row.attempts) == ("sent", 2)


class RaisingGateway(ScriptedGateway):
    def send(self, message: OutgoingMessage) -> SendResult:
        self.sent.append(message)
        raise ConnectionResetError("peer reset")


@pytest.mark.parametrize(("deduplicates", "status"), [(True, "queued"), (False, "failed")])
def test_a_gateway_that_raises(
    engine: Engine, policy: NotifyConfig, deduplicates: bool, status: str
) -> None:
    add_people(engine, 1)
    _queue(engine, 1, at("2026-03-02 10:00"))
    gateway = RaisingGateway(deduplicates=deduplicates)
    deliver_due(engine, gateway, at("2026-03-02 10:00"), config=policy)
    (row,) = _rows(engine)
    assert row.status == status
    assert "ConnectionResetError: peer reset" in row.last_error


def test_outbox_counts(engine: Engine) -> None:
    add_people(engine, 3)
    for person_id in (1, 2, 3):
        _queue(engine, person_id, at("2026-03-02 10:00"))
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(outbox)).scalar() == 3
