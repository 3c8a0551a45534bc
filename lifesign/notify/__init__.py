"""Notifications: the SMS outbox, its templates and its gateways.

from lifesign.notify import enqueue, deliver_due, record_delivery, gateway_for
"""

from lifesign.notify.gateways.base import Gateway, OutgoingMessage, SendResult
from lifesign.notify.outbox import (
    MESSAGE_TRANSITIONS,
    DeliveryReport,
    deliver_due,
    enqueue,
    enqueue_message,
    record_delivery,
    retry_failed,
)
from lifesign.notify.templates import REASON_PARAMS, REASONS, TemplateError, render

__all__ = [
    "MESSAGE_TRANSITIONS",
    "REASONS",
    "REASON_PARAMS",
    "DeliveryReport",
    "Gateway",
    "OutgoingMessage",
    "SendResult",
    "TemplateError",
    "deliver_due",
    "enqueue",
    "enqueue_message",
    "record_delivery",
    "render",
    "retry_failed",
]
