"""What an SMS gateway is: the message it is handed, what it answers, and how it is built.

The outbox hands a gateway one `OutgoingMessage` at a time. `idempotency_key` is the outbox
message id: the same message always carries the same key, on every attempt and after a crash,
so a gateway (or the service behind it) that remembers keys delivers it once however often
it is handed over. A gateway says so with `deduplicates = True`; otherwise the outbox never
re-sends a message whose outcome is unknown (see docs/notifications.md, "Guarantees").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from lifesign.config import Settings
from lifesign.errors import LifesignError


@dataclass(frozen=True)
class OutgoingMessage:
    """One SMS as the gateway sees it. `params` are the template's values, already formatted
    as text (cloud gateways send them to templates registered with the SMS provider)."""

    idempotency_key: str
    phone: str
    body: str
    reason: str
    template: str
    lang: str
    params: Mapping[str, str] = field(default_factory=dict)
    at: dt.datetime | None = None  # the delivery run's time (file gateway: which day's file)


@dataclass(frozen=True)
class SendResult:
    """A gateway's answer. `accepted`: it took the message (`reference` is its id for it).
    Not accepted: `retryable` says whether trying again later can help; `error` says why."""

    accepted: bool
    reference: str | None = None
    retryable: bool = False
    error: str | None = None

    @classmethod
    def ok(cls, reference: str) -> SendResult:
        return cls(accepted=True, reference=reference)

    @classmethod
    def retry(cls, error: str) -> SendResult:
        return cls(accepted=False, retryable=True, error=error)

    @classmethod
    def permanent(cls, error: str) -> SendResult:
        return cls(accepted=False, retryable=False, error=error)


@runtime_checkable
class Gateway(Protocol):
    """An SMS gateway. Optional extras, found with getattr:

    - `lookup(message) -> SendResult | None`: did the gateway already accept this message
      (by its idempotency key)? None: it has never seen it. Used after a crash.
    - `status(reference) -> str | None`: 'delivered', 'undeliverable' or None (not known yet).
    - `send_batch(messages) -> list[SendResult]`: send many at once, one result per message in
      order (the file gateway: one write and one fsync). Every accepted message must be
      durable before it returns: the outbox records them 'sent' only after. The outbox then
      claims, sends and records up to 500 messages per transaction instead of one.
    """

    name: str
    deduplicates: bool

    def send(self, message: OutgoingMessage) -> SendResult: ...


class GatewayFactory(Protocol):
    """What a plugin's `lifesign_sms_gateways` returns: usually a gateway class."""

    name: str

    def from_settings(self, settings: Settings, options: Mapping[str, Any]) -> Gateway: ...


class GatewayConfigError(LifesignError):
    """A gateway cannot be built: missing credentials, URL, SDK or template mapping."""
