"""The generic HTTP gateway: one JSON POST per SMS to the city's own SMS service.

    POST <url>   Authorization: Bearer <token>   Idempotency-Key: <outbox id>
    {"to": "138...", "body": "...", "idempotency_key": "42", "template": "zh-CN/certified",
     "params": {...}}
    → 2xx {"reference": "..."}     accepted (the same reference again for a key it has seen)
    → 4xx                          permanent failure (408, 425, 429: try again later)
    → 5xx, timeout, lost answer    try again later, with the same idempotency key

The service is expected to dedupe on the idempotency key (notify.yaml `deduplicates: true`):
then an answer lost on the way back (timeout, dropped connection) is harmless, the message is
sent again with the same key and still reaches the phone once. A service that does not dedupe
must say `deduplicates: false`: then a lost answer is not retried (outcome unknown, failed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from lifesign.config import Settings
from lifesign.errors import Location
from lifesign.notify.gateways.base import GatewayConfigError, OutgoingMessage, SendResult

RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})


class HttpGateway:
    """POSTs each SMS as JSON to a URL, with a bearer token."""

    name = "http"

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout_seconds: float = 10.0,
        deduplicates: bool = True,
    ) -> None:
        self.url = url
        self.deduplicates = deduplicates
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(timeout=timeout_seconds, headers=headers)

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
        return cls(
            str(url),
            os.environ.get(token_env),
            timeout_seconds=float(options.get("timeout_seconds", 10)),
            deduplicates=bool(options.get("deduplicates", True)),
        )

    def send(self, message: OutgoingMessage) -> SendResult:
        payload = {
            "to": message.phone,
            "body": message.body,
            "idempotency_key": message.idempotency_key,
            "template": message.template,
            "params": dict(message.params),
        }
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
        detail = response.text[:200].strip()
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
