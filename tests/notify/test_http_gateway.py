"""The HTTP gateway against a REAL SMS service on 127.0.0.1 that fails some requests (500s,
answers slower than the client waits, connections dropped after processing) and dedupes on the
idempotency key: every message reaches a phone exactly once, even across a killed process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from lifesign.config import load_settings
from lifesign.notify.config import NotifyConfig
from lifesign.notify.gateways import GatewayConfigError, open_gateway
from lifesign.notify.gateways.base import OutgoingMessage, SendResult
from lifesign.notify.gateways.http import HttpGateway
from lifesign.notify.outbox import deliver_due, outbox
from tests.notify.support import (
    TOKEN,
    SmsService,
    add_people,
    at,
    outbox_rows,
    queue_certified,
    with_retry,
)


def _queue_all(engine: Engine, person_ids: list[int], now: dt.datetime) -> None:
    assert all(queue_certified(engine, person_ids, now))


_rows = outbox_rows


def _no_quiet_hours(policy: NotifyConfig) -> NotifyConfig:
    return dataclasses.replace(policy, quiet_start=dt.time(0), quiet_end=dt.time(0))


def test_flaky_service_gets_every_message_exactly_once(
    engine: Engine, policy: NotifyConfig, sms_service: SmsService
) -> None:
    started = time.monotonic()
    people = add_people(engine, 30)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    sms_service.error_rate, sms_service.slow_rate, sms_service.drop_rate = 0.2, 0.1, 0.15
    sms_service.slow_seconds = 0.4
    gateway = HttpGateway(sms_service.url, TOKEN, timeout_seconds=0.25)
    # Enough attempts that 30 messages at a 45% failure rate all get through.
    config = _no_quiet_hours(with_retry(policy, max_attempts=30))
    runs = 0
    for _ in range(40):  # bounded: stops by itself
        runs += 1
        deliver_due(engine, gateway, now, config=config)
        if all(row.status == "sent" for row in _rows(engine)):
            break
        now += dt.timedelta(seconds=config.retry.max_seconds * (1 + config.retry.jitter))
    gateway.close()
    rows = _rows(engine)
    assert [row.status for row in rows] == ["sent"] * 30, f"after {runs} runs"
    keys = {str(row.message_id) for row in rows}
    assert set(sms_service.processed) == keys  # the service's received set is the outbox
    assert sorted(sms_service.deliveries) == sorted(keys)  # each reached a phone once
    for row in rows:
        received = sms_service.processed[str(row.message_id)]
        assert row.gateway_ref == received["reference"]
        assert received["to"] == row.phone and received["body"] == row.body
        assert received["template"] == "zh-CN/certified"
    # The failures really happened, and answers really were lost and re-sent with the same key.
    assert {"error", "slow", "drop", "ok"} <= set(sms_service.outcomes)
    assert sms_service.repeats == sms_service.outcomes["slow"] + sms_service.outcomes["drop"]
    assert sum(row.attempts for row in rows) == sms_service.requests
    assert time.monotonic() - started < 10


def test_permanent_answers_fail_at_once(
    engine: Engine, policy: NotifyConfig, sms_service: SmsService
) -> None:
    people = add_people(engine, 2)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    wrong_token = HttpGateway(sms_service.url, "not-the-token", timeout_seconds=2)
    report = deliver_due(engine, wrong_token, now, limit=1, config=policy)
    assert report.failed == 1
    with engine.begin() as connection:  # a number the service refuses
        connection.execute(outbox.update().where(outbox.c.message_id == 2).values(phone="999"))
    report = deliver_due(engine, HttpGateway(sms_service.url, TOKEN), now, config=policy)
    assert report.failed == 1
    first, second = _rows(engine)
    assert (first.status, first.attempts) == ("failed", 1)
    assert first.last_error.startswith("HTTP 401")
    assert second.last_error.startswith("HTTP 400")
    assert sms_service.processed == {}


def test_a_flaky_batch_service_gets_every_message_exactly_once(
    engine: Engine, policy: NotifyConfig, sms_service: SmsService
) -> None:
    """With a batch URL, messages go `delivery_batch` to a request: a request that fails,
    times out or is dropped as a whole, and single messages refused within one, are retried
    with the same keys until every message has reached its phone once."""
    people = add_people(engine, 60)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    sms_service.error_rate, sms_service.slow_rate, sms_service.drop_rate = 0.2, 0.25, 0.2
    sms_service.slow_seconds, sms_service.message_error_rate = 0.4, 0.1
    gateway = HttpGateway(
        sms_service.url, TOKEN, timeout_seconds=0.25, batch_url=sms_service.batch_url
    )
    config = dataclasses.replace(
        _no_quiet_hours(with_retry(policy, max_attempts=30)), delivery_batch=25
    )
    for _ in range(40):  # bounded: stops by itself
        deliver_due(engine, gateway, now, config=config)
        if all(row.status == "sent" for row in _rows(engine)):
            break
        now += dt.timedelta(seconds=config.retry.max_seconds * (1 + config.retry.jitter))
    gateway.close()
    rows = _rows(engine)
    assert [row.status for row in rows] == ["sent"] * 60
    keys = {str(row.message_id) for row in rows}
    assert set(sms_service.processed) == keys
    assert sorted(sms_service.deliveries) == sorted(keys)  # each reached a phone once
    for row in rows:
        assert row.gateway_ref == sms_service.processed[str(row.message_id)]["reference"]
    # batches really went out (25 at first), and every attempt was a message in one of them
    assert max(sms_service.batches) == 25 and len(sms_service.batches) < 60
    assert sum(row.attempts for row in rows) == sum(sms_service.batches)
    assert {"error", "slow", "drop", "ok"} <= set(sms_service.outcomes)
    assert sms_service.repeats > 0  # lost answers were re-sent with the same keys


def test_a_batch_answer_lost_by_a_service_that_does_not_dedupe_is_never_resent(
    engine: Engine, policy: NotifyConfig, sms_service: SmsService
) -> None:
    people = add_people(engine, 3)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    with engine.begin() as connection:  # a number the service refuses, in the same batch
        connection.execute(outbox.update().where(outbox.c.message_id == 3).values(phone="999"))
    gateway = HttpGateway(
        sms_service.url, TOKEN, deduplicates=False, batch_url=sms_service.batch_url
    )
    sms_service.drop_rate = 1.0  # processed, and the answer never arrives
    report = deliver_due(engine, gateway, now, config=policy)
    assert (report.sent, report.failed, report.retry_scheduled) == (0, 3, 0)
    assert sms_service.batches == [3]
    assert all("outcome unknown" in row.last_error for row in _rows(engine))
    sms_service.drop_rate = 0.0
    later = deliver_due(engine, gateway, now + dt.timedelta(hours=3), config=policy)
    assert later.attempted == 0 and sms_service.batches == [3]  # nothing sent again
    assert sorted(sms_service.deliveries) == ["1", "2"]  # each phone once; 999 never


def test_a_batch_result_is_judged_message_by_message(
    engine: Engine, policy: NotifyConfig, sms_service: SmsService
) -> None:
    people = add_people(engine, 3)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    with engine.begin() as connection:
        connection.execute(outbox.update().where(outbox.c.message_id == 2).values(phone="999"))
    gateway = HttpGateway(sms_service.url, TOKEN, batch_url=sms_service.batch_url)
    report = deliver_due(engine, gateway, now, config=policy)
    assert (report.sent, report.failed) == (2, 1)
    first, second, third = _rows(engine)
    assert (first.status, third.status) == ("sent", "sent")
    assert (second.status, second.attempts) == ("failed", 1)
    assert second.last_error.startswith("HTTP 400")
    assert sms_service.batches == [3]
    assert HttpGateway(sms_service.url, TOKEN).send_batch is None  # no batch URL: one by one


class RaisesAfterTheServiceProcessed:
    """The service took the message, then the process lost the answer (an exception)."""

    name = "http"
    deduplicates = True

    def __init__(self, inner: HttpGateway) -> None:
        self.inner = inner

    def send(self, message: OutgoingMessage) -> SendResult:
        result = self.inner.send(message)
        assert result.accepted
        raise RuntimeError("lost after the service processed it")


def test_an_answer_lost_after_processing_is_resent_with_the_same_key(
    engine: Engine, policy: NotifyConfig, sms_service: SmsService
) -> None:
    people = add_people(engine, 1)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    gateway = HttpGateway(sms_service.url, TOKEN)
    report = deliver_due(engine, RaisesAfterTheServiceProcessed(gateway), now, config=policy)
    assert report.retry_scheduled == 1
    report = deliver_due(engine, gateway, now + dt.timedelta(minutes=5), config=policy)
    assert report.sent == 1
    assert sms_service.deliveries == ["1"] and sms_service.repeats == 1


KILLED_SENDER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from lifesign.notify.gateways.http import HttpGateway
    from lifesign.notify.outbox import deliver_due
    from lifesign.store import make_engine

    database_url, service_url, token, now = sys.argv[1:5]

    class DiesAfterTheServiceAccepted:
        name = "http"
        deduplicates = True

        def __init__(self):
            self.inner = HttpGateway(service_url, token, timeout_seconds=5)

        def send(self, message):
            result = self.inner.send(message)
            if result.accepted:  # the SMS is on its way; the outcome never reaches the DB
                os.kill(os.getpid(), signal.SIGKILL)
            return result

    engine = make_engine(database_url)
    deliver_due(engine, DiesAfterTheServiceAccepted(), dt.datetime.fromisoformat(now))
    """
)


def _run_until_killed(tmp_path: Path, script_text: str, *arguments: str) -> None:
    """Runs the sender script in a process of its own; it must die by SIGKILL, as it means to."""
    script = tmp_path / "killed_sender.py"
    script.write_text(script_text, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr


def test_a_process_killed_between_accept_and_update_never_sends_twice(
    database_url: str,
    engine: Engine,
    policy: NotifyConfig,
    sms_service: SmsService,
    tmp_path: Path,
) -> None:
    people = add_people(engine, 2)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    _run_until_killed(
        tmp_path, KILLED_SENDER, database_url, sms_service.url, TOKEN, now.isoformat()
    )
    first, second = _rows(engine)
    assert (first.status, first.attempts, first.gateway) == ("sending", 1, "http")
    assert second.status == "queued"
    assert sms_service.deliveries == ["1"]
    # The next run, once the lease has passed: re-sent with the same key, deduped, recorded.
    gateway = HttpGateway(sms_service.url, TOKEN)
    report = deliver_due(engine, gateway, now + policy.sending_lease, config=policy)
    assert (report.recovered, report.sent) == (1, 2)
    assert [row.status for row in _rows(engine)] == ["sent", "sent"]
    assert sms_service.deliveries == ["1", "2"]  # each phone got its SMS once
    assert sms_service.repeats == 1
    assert _rows(engine)[0].gateway_ref == sms_service.processed["1"]["reference"]


KILLED_BATCH_SENDER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from lifesign.notify.gateways.http import HttpGateway
    from lifesign.notify.outbox import deliver_due
    from lifesign.store import make_engine

    database_url, service_url, batch_url, token, now = sys.argv[1:6]

    class DiesAfterTheServiceAcceptedABatch:
        name = "http"
        deduplicates = True

        def __init__(self):
            self.inner = HttpGateway(service_url, token, timeout_seconds=5, batch_url=batch_url)

        def send(self, message):
            return self.inner.send(message)

        def send_batch(self, messages):
            results = self.inner.send_batch(messages)
            if any(r.accepted for r in results):  # on their way; the outcomes never reach the DB
                os.kill(os.getpid(), signal.SIGKILL)
            return results

    engine = make_engine(database_url)
    deliver_due(engine, DiesAfterTheServiceAcceptedABatch(), dt.datetime.fromisoformat(now))
    """
)


def test_a_process_killed_after_a_batch_was_accepted_never_sends_twice(
    database_url: str,
    engine: Engine,
    policy: NotifyConfig,
    sms_service: SmsService,
    tmp_path: Path,
) -> None:
    people = add_people(engine, 4)
    now = at("2026-03-02 10:00")
    _queue_all(engine, people, now)
    _run_until_killed(
        tmp_path,
        KILLED_BATCH_SENDER,
        database_url,
        sms_service.url,
        sms_service.batch_url,
        TOKEN,
        now.isoformat(),
    )
    assert [row.status for row in _rows(engine)] == ["sending"] * 4  # claimed together
    assert sorted(sms_service.deliveries) == ["1", "2", "3", "4"]
    # Before the lease has passed nothing is touched; after it, each message is re-sent with
    # its key, deduped by the service, and recorded with the service's first reference.
    gateway = HttpGateway(sms_service.url, TOKEN, batch_url=sms_service.batch_url)
    early = deliver_due(engine, gateway, now + dt.timedelta(seconds=30), config=policy)
    assert early.attempted == 0 and early.recovered == 0
    report = deliver_due(engine, gateway, now + policy.sending_lease, config=policy)
    assert (report.recovered, report.sent) == (4, 4)
    assert sorted(sms_service.deliveries) == ["1", "2", "3", "4"]  # each phone once
    assert sms_service.repeats == 4
    for row in _rows(engine):
        assert row.status == "sent"
        assert row.gateway_ref == sms_service.processed[str(row.message_id)]["reference"]


def test_the_http_gateway_is_built_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sms_service: SmsService
) -> None:
    settings = load_settings(home=tmp_path)
    monkeypatch.delenv("LIFESIGN_SMS_HTTP_URL", raising=False)
    with pytest.raises(GatewayConfigError, match="set LIFESIGN_SMS_HTTP_URL"):
        open_gateway(settings, "http")
    monkeypatch.setenv("LIFESIGN_SMS_HTTP_URL", sms_service.url)
    monkeypatch.setenv("LIFESIGN_SMS_HTTP_TOKEN", TOKEN)
    gateway = open_gateway(settings, "http")
    message = OutgoingMessage("k-1", "13900000001", "您好", "certified", "zh-CN/certified", "zh-CN")
    assert gateway.send(message) == SendResult.ok("ref-1")
    assert gateway.send(message) == SendResult.ok("ref-1")  # same key, same reference
    assert sms_service.deliveries == ["k-1"]
    assert os.environ["LIFESIGN_SMS_HTTP_TOKEN"] not in str(gateway.__dict__.get("url"))
