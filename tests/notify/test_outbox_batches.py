"""Delivery in batches through a gateway with `send_batch` (the file gateway): one claim and
one record per batch, the same guarantees as one message at a time (at most once, crash
recovery, a mixed batch's failures, max per run), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, update

from lifesign.notify.config import NotifyConfig
from lifesign.notify.gateways.base import OutgoingMessage, SendResult
from lifesign.notify.gateways.local import FileGateway
from lifesign.notify.outbox import (
    _claim_batch,
    _message,
    deliver_due,
    outbox,
)
from tests.notify.support import add_people, at, outbox_rows, queue_certified


def _queue_many(engine: Engine, count: int, now: dt.datetime) -> None:
    assert all(queue_certified(engine, add_people(engine, count), now))


_rows = outbox_rows


class CountingFileGateway(FileGateway):
    """The real file gateway, counting the batches it is handed."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.batches: list[int] = []

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.batches.append(len(messages))
        return super().send_batch(messages)


def test_a_batch_is_written_once_and_recorded_sent(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    now = at("2026-03-02 10:00")
    _queue_many(engine, 12, now)
    gateway = CountingFileGateway(tmp_path / "outbox")
    report = deliver_due(engine, gateway, now, config=policy)
    assert report.sent == 12 and gateway.batches == [12]
    rows = _rows(engine)
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert [r.gateway_ref for r in rows] == [f"sms-2026-03-02.jsonl#{i}" for i in range(1, 13)]
    assert [r["idempotency_key"] for r in gateway.records()] == [str(i) for i in range(1, 13)]
    # Nothing is due any more: a second run sends nothing.
    assert deliver_due(engine, gateway, now, config=policy).sent == 0
    assert len(list(gateway.records())) == 12


def test_max_per_run_cuts_a_batch(engine: Engine, policy: NotifyConfig, tmp_path: Path) -> None:
    now = at("2026-03-02 10:00")
    _queue_many(engine, 7, now)
    gateway = CountingFileGateway(tmp_path / "outbox")
    capped = dataclasses.replace(policy, max_per_run=3)
    assert deliver_due(engine, gateway, now, config=capped).sent == 3
    assert deliver_due(engine, gateway, now, limit=2, config=policy).sent == 2
    assert deliver_due(engine, gateway, now, config=capped).sent == 2
    assert gateway.batches == [3, 2, 2]
    assert [r["idempotency_key"] for r in gateway.records()] == [str(i) for i in range(1, 8)]


def test_a_batch_skips_what_another_run_claimed(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    now = at("2026-03-02 10:00")
    _queue_many(engine, 5, now)
    gateway = FileGateway(tmp_path / "outbox")
    rows = _rows(engine)
    first = _claim_batch(engine, rows[:2], gateway, now)
    assert [r.message_id for r in first] == [1, 2]
    # A second claim over all five gets only the three nobody holds.
    assert [r.message_id for r in _claim_batch(engine, rows, gateway, now)] == [3, 4, 5]
    assert [r.status for r in _rows(engine)] == ["sending"] * 5


def test_a_crash_after_the_batch_was_written_is_recovered_once(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    """Killed after the file gateway wrote (and fsynced) a batch, before the outcomes were
    committed: the batch is 'sending'; after the lease, lookup finds every message."""
    now = at("2026-03-02 10:00")
    _queue_many(engine, 6, now)
    gateway = FileGateway(tmp_path / "outbox")
    claimed = _claim_batch(engine, _rows(engine), gateway, now)
    results = gateway.send_batch([_message(row, now) for row in claimed])
    assert all(result.accepted for result in results)
    assert deliver_due(engine, FileGateway(tmp_path / "outbox"), now, config=policy).sent == 0
    later = now + policy.sending_lease
    report = deliver_due(engine, FileGateway(tmp_path / "outbox"), later, config=policy)
    assert (report.recovered, report.sent) == (6, 6)
    assert {(r.status, r.attempts) for r in _rows(engine)} == {("sent", 1)}
    assert len(list(gateway.records())) == 6  # each SMS exists once


class HalfRefusingFileGateway(FileGateway):
    """Refuses even-numbered keys (retryable) and writes the others."""

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        kept = [m for m in messages if int(m.idempotency_key) % 2]
        written = iter(super().send_batch(kept))
        return [
            next(written) if int(m.idempotency_key) % 2 else SendResult.retry("busy")
            for m in messages
        ]


def test_a_mixed_batch_records_each_outcome(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    now = at("2026-03-02 10:00")
    _queue_many(engine, 4, now)
    report = deliver_due(engine, HalfRefusingFileGateway(tmp_path / "outbox"), now, config=policy)
    assert (report.sent, report.retry_scheduled, report.errors) == (2, 2, {"busy": 2})
    rows = _rows(engine)
    assert [r.status for r in rows] == ["sent", "queued", "sent", "queued"]
    assert rows[1].next_attempt_at is not None and rows[1].last_error == "busy"


class BrokenFileGateway(FileGateway):
    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        raise OSError("disk full")


def test_a_batch_that_raises_is_retried_later(
    engine: Engine, policy: NotifyConfig, tmp_path: Path
) -> None:
    now = at("2026-03-02 10:00")
    _queue_many(engine, 3, now)
    report = deliver_due(engine, BrokenFileGateway(tmp_path / "outbox"), now, config=policy)
    assert (report.sent, report.retry_scheduled) == (0, 3)
    assert {r.status for r in _rows(engine)} == {"queued"}
    with engine.begin() as connection:  # due again now
        connection.execute(update(outbox).values(next_attempt_at=now.astimezone(dt.UTC)))
    later = deliver_due(engine, FileGateway(tmp_path / "outbox"), now, config=policy)
    assert later.sent == 3
    assert {(r.status, r.attempts) for r in _rows(engine)} == {("sent", 2)}
