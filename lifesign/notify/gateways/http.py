"""The generic HTTP gateway: JSON POSTs to the city's own SMS service.

    POST <url>   Authorization: Bearer <token>   Idempotency-Key: <outbox id>
    {"to": "138...", "body": "...", "idempotency_key": "42", "template": "zh-CN/certified",
     "params": {...}}
    → 2xx {"reference": "..."}     accepted (the same reference again for a key it has seen)
    → 4xx                          permanent failure (408, 425, 429: try again later)
    → 5xx, timeout, lost answer    try again later, with the same idempotency key

A service that also takes many messages in one request (`batch_url`, optional) gets the
outbox's batches (notify.yaml `delivery_batch`) in one POST each:

    POST <batch_url>   {"messages": [<the message above>, ...]}
    → 2xx {"results": [{"idempotency_key": "42", "reference": "..."},
                       {"idempotency_key": "43", "status": 400, "error": "..."}, ...]}

Each result is read as the single request's answer would be: a reference is accepted, a
`status` is judged like an HTTP status (5xx, 408, 425, 429: try again; other 4xx:
permanent). A message the answer does not mention is a lost answer for that message; a request
that fails as a whole (cannot connect, timeout, dropped connection, non-2xx status) is that
outcome for every message in it. One request per batch means one timeout per batch: a batch
is settled well within the sending lease that claimed it.

The service is expected to dedupe on the idempotency key (notify.yaml `deduplicates: true`):
then an answer lost on the way back (timeout, dropped connection) is harmless, the message is
sent again with the same key and still reaches the phone once. A service that does not dedupe
must say `deduplicates: false`: then a lost answer is not retried (outcome unknown, failed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from lifesign.config import Settings
from lifesign.errors import Location
from lifesign.notify.gateways.base import GatewayConfigError, OutgoingMessage, SendResult

RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})


class HttpGateway:
    """POSTs each SMS as JSON to a URL, with a bearer token (and batches of them to
    `batch_url`, when the service has one)."""

    name = "http"
    # Present (not None) only with a batch URL: the outbox hands batches to a gateway whose
    # `send_batch` is callable, and one message at a time to any other.
    send_batch: Callable[[Sequence[OutgoingMessage]], list[SendResult]] | None = None

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout_seconds: float = 10.0,
        deduplicates: bool = True,
        batch_url: str | None = None,
    ) -> None:
        self.url = url
        self.batch_url = batch_url
        self.deduplicates = deduplicates
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(timeout=timeout_seconds, headers=headers)
        if batch_url:
            self.send_batch = self._send_batch

    @classmethod
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> HttpGateway:
        url_env = str(options.get("url_env", "LIFESIGN_SMS_HTTP_URL"))
        token_env = str(options.get("token_env", "LIFESIGN_SMS_HTTP_TOKEN"))
        url = os.environ.get(url_env) or options.get("url")
        if not url:
            raise GatewayConfigError(
                "the http SMS gateway has no URL",
                f"set {url_env} to the SMS service's address",
                Location(key="gateways.http.url_env"),
            )
        batch_url_env = str(options.get("batch_url_env", "LIFESIGN_SMS_HTTP_BATCH_URL"))
        batch_url = os.environ.get(batch_url_env) or options.get("batch_url")
        return cls(
            str(url),
            os.environ.get(token_env),
            timeout_seconds=float(options.get("timeout_seconds", 10)),
            deduplicates=bool(options.get("deduplicates", True)),
            batch_url=str(batch_url) if batch_url else None,
        )

    @staticmethod
    def _payload(message: OutgoingMessage) -> dict[str, Any]:
        return {
            "to": message.phone,
            "body": message.body,
            "idempotency_key": message.idempotency_key,
            "template": message.template,
            "params": dict(message.params),
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        payload = self._payload(message)
        try:
            response = self._client.post(
                self.url, json=payload, headers={"Idempotency-Key": message.idempotency_key}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            return SendResult.retry(f"cannot reach the SMS service: {type(error).__name__}")
        except httpx.HTTPError as error:
            # The request may have been processed and only the answer lost.
            return self._answer_lost(f"{type(error).__name__}: {error}")
        return self.interpret(response)

    def _send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Many messages in one POST to the batch URL; one result per message, in order."""
        assert self.batch_url is not None
        try:
            response = self._client.post(
                self.batch_url, json={"messages": [self._payload(m) for m in messages]}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            failed = SendResult.retry(f"cannot reach the SMS service: {type(error).__name__}")
            return [failed] * len(messages)
        except httpx.HTTPError as error:  # the batch may have been processed, the answer lost
            return [self._answer_lost(f"{type(error).__name__}: {error}")] * len(messages)
        if not 200 <= response.status_code < 300:
            return [self.interpret(response)] * len(messages)
        try:
            results = response.json().get("results")
            by_key = {str(r["idempotency_key"]): r for r in results if isinstance(r, dict)}
        except (ValueError, AttributeError, KeyError, TypeError):
            answer = self._answer_lost(f"HTTP {response.status_code} without results")
            return [answer] * len(messages)
        return [
            self._result_of(by_key.get(m.idempotency_key), response.status_code) for m in messages
        ]

    def _result_of(self, result: Mapping[str, Any] | None, status: int) -> SendResult:
        """One message's result in a batch's answer, read as its own request's answer."""
        if result is None:
            return self._answer_lost(f"HTTP {status} without a result for the message")
        if result.get("reference"):
            return SendResult.ok(str(result["reference"]))
        code = result.get("status")
        if isinstance(code, int) and not isinstance(code, bool) and code >= 300:
            return self._judge(code, str(result.get("error") or "")[:200].strip())
        return self._answer_lost(f"HTTP {status}: a result without a reference")

    def interpret(self, response: httpx.Response) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            try:
                reference = response.json().get("reference")
            except (ValueError, AttributeError):
                reference = None
            if reference:
                return SendResult.ok(str(reference))
            return self._answer_lost(f"HTTP {status} without a reference")
        return self._judge(status, response.text[:200].strip())

    @staticmethod
    def _judge(status: int, detail: str) -> SendResult:
        """A refusal: worth another try later (5xx, 408, 425, 429) or permanent (other 4xx)."""
        if status >= 500 or status in RETRYABLE_CLIENT_STATUSES:
            return SendResult.retry(f"HTTP {status}: {detail}")
        return SendResult.permanent(f"HTTP {status}: {detail}")

    def _answer_lost(self, error: str) -> SendResult:
        if self.deduplicates:
            return SendResult.retry(error)
        return SendResult.permanent(
            f"outcome unknown ({error}); the service does not dedupe, so not re-sent"
        )

    def close(self) -> None:
        self._client.close()
