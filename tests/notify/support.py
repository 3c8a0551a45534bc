"""Helpers of the notification tests: people with phones, Beijing times, and a REAL flaky SMS
service on 127.0.0.1 (http.server in a thread) that dedupes on the idempotency key."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import random
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, insert, select

from lifesign.notify.config import NotifyConfig
from lifesign.notify.outbox import enqueue, outbox
from lifesign.store.models import Person

BEIJING = dt.timezone(dt.timedelta(hours=8))
TOKEN = "test-token-0123"


def at(text: str) -> dt.datetime:
    """A Beijing time, e.g. at('2026-03-05 10:00')."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def add_people(engine: Engine, count: int, *, first_id: int = 1, phone: bool = True) -> list[int]:
    """`count` synthetic recipients with phones 1390000xxxx; their person ids."""
    ids = list(range(first_id, first_id + count))
    with engine.begin() as connection:
        connection.execute(
            insert(Person),
            [
                {
                    "person_id": person_id,
                    "pseudonym": f"{person_id:032x}",
                    "name": f"测试{person_id}",
                    "phone": f"1390000{person_id:04d}" if phone else None,
                }
                for person_id in ids
            ],
        )
    return ids


def certified_params(person_id: int) -> dict[str, Any]:
    return {
        "name": f"测试{person_id}",
        "evidence_date": dt.date(2026, 3, 1),
        "evidence_name": "医保住院结算",
        "valid_until": dt.date(2027, 3, 1),
    }


def queue_certified(engine: Engine, person_ids: Iterable[int], now: dt.datetime) -> list[bool]:
    """A 'certified' SMS queued for each person (to their phone 1390000xxxx); what `enqueue`
    answered for each (False: one was already queued for that person, reason and period)."""
    with engine.begin() as connection:
        return [
            enqueue(
                connection,
                person_id=person_id,
                phone=f"1390000{person_id:04d}",
                reason="certified",
                period_key="2027-03-01",
                params=certified_params(person_id),
                now=now,
            )
            for person_id in person_ids
        ]


def outbox_rows(engine: Engine) -> list[Any]:
    """Every outbox row, in the order the messages were queued."""
    with engine.connect() as connection:
        return list(connection.execute(select(outbox).order_by(outbox.c.message_id)).all())


def with_retry(policy: NotifyConfig, **changes: Any) -> NotifyConfig:
    return dataclasses.replace(policy, retry=dataclasses.replace(policy.retry, **changes))


@dataclass
class SmsService:
    """What the flaky service saw. `processed` holds each message it sent to a phone (once per
    idempotency key); `deliveries` lists keys in the order phones got them."""

    token: str
    seed: int
    error_rate: float = 0.0  # 500 before processing
    slow_rate: float = 0.0  # processed, answered after the client's timeout
    drop_rate: float = 0.0  # processed, connection closed without an answer
    slow_seconds: float = 0.0
    message_error_rate: float = 0.0  # in a batch: this message refused (503), not processed
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[str] = field(default_factory=list)
    requests: int = 0
    repeats: int = 0  # requests for a key already processed
    outcomes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    batches: list[int] = field(default_factory=list)  # messages per batch request

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @property
    def batch_url(self) -> str:
        return self.url + "/batch"

    def message_failed(self) -> bool:
        with self.lock:
            return self._random.random() < self.message_error_rate

    def draw(self) -> str:
        """The outcome of the next request (error, slow, drop or ok), counted."""
        with self.lock:
            self.requests += 1
            roll = self._random.random()
            outcome = self._outcome_of(roll)
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return outcome

    def _outcome_of(self, roll: float) -> str:
        for outcome, rate in (
            ("error", self.error_rate),
            ("slow", self.slow_rate),
            ("drop", self.drop_rate),
        ):
            if roll < rate:
                return outcome
            roll -= rate
        return "ok"

    def process(self, payload: dict[str, Any]) -> str:
        key = str(payload["idempotency_key"])
        with self.lock:
            if key in self.processed:
                self.repeats += 1
            else:
                self.processed[key] = {**payload, "reference": f"ref-{len(self.processed) + 1}"}
                self.deliveries.append(key)
            return str(self.processed[key]["reference"])


def _handler(service: SmsService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.headers.get("Authorization") != f"Bearer {service.token}":
                self._answer(401, {"error": "bad token"})
                return
            if self.path.endswith("/batch"):
                self._batch(payload)
                return
            if not str(payload.get("to", "")).startswith("1"):
                self._answer(400, {"error": "bad phone number"})
                return
            outcome = service.draw()
            if outcome == "error":
                self._answer(500, {"error": "try later"})
                return
            reference = service.process(payload)
            if outcome == "drop":  # processed, but the answer never leaves
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if outcome == "slow":
                time.sleep(service.slow_seconds)
            with contextlib.suppress(OSError):  # a slow answer: the client may have gone
                self._answer(200, {"reference": reference})

        def _batch(self, payload: dict[str, Any]) -> None:
            """Many messages in one request: the request fails, is slow or dropped as a whole
            (one draw); within it, a message fails alone at `message_error_rate`."""
            messages = list(payload["messages"])
            with service.lock:
                service.batches.append(len(messages))
            outcome = service.draw()
            if outcome == "error":
                self._answer(500, {"error": "try later"})
                return
            results: list[dict[str, Any]] = []
            for message in messages:
                key = str(message["idempotency_key"])
                if not str(message.get("to", "")).startswith("1"):
                    results.append({"idempotency_key": key, "status": 400, "error": "bad phone"})
                elif service.message_failed():
                    results.append({"idempotency_key": key, "status": 503, "error": "busy"})
                else:
                    results.append({"idempotency_key": key, "reference": service.process(message)})
            if outcome == "drop":  # processed, but the answer never leaves
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if outcome == "slow":
                time.sleep(service.slow_seconds)
            with contextlib.suppress(OSError):
                self._answer(200, {"results": results})

    return Handler


@contextmanager
def running(service: SmsService) -> Iterator[SmsService]:
    """Serve `service` on 127.0.0.1 (a free port) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(service))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    service.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
