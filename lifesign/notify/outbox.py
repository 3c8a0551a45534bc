"""The SMS outbox: queue a message once, deliver it once.

    enqueue(connection, person_id=..., phone=..., reason="reminder_60", period_key="2026-05-04",
            params={...}, now=...)          # in the caller's transaction; False if already there
    enqueue_many(connection, [SmsRequest(...), ...], now=...)   # the same for many, in bulk
    deliver_due(engine, gateway, now)       # its own transactions, in batches if it can

At most once per person, reason and period: UNIQUE(person_id, reason, period_key). Delivery
(docs/notifications.md, "Guarantees"): a message is claimed ('sending', committed) before the
gateway is called with idempotency key = the outbox id, and its outcome is committed after.
A gateway with `send_batch` (the file gateway; the HTTP gateway with a batch URL) gets up to
notify.yaml's `delivery_batch` messages at once: they are claimed in one transaction, made
durable by the gateway, then recorded in one transaction; any other gateway one message per
claim.
A process that dies in between leaves it 'sending'; the next run recovers it once the lease
has passed: it asks the gateway (`lookup`) if it can, else re-sends with the same key if the
gateway deduplicates on it, else marks it failed with "outcome unknown" rather than risk a
second SMS.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import Connection, Engine, Row, Table, bindparam, select, update

from lifesign.errors import LifesignError
from lifesign.notify.config import NotifyConfig, RetryPolicy, load_notify_config
from lifesign.notify.gateways.base import Gateway, OutgoingMessage, SendResult
from lifesign.notify.models import OutboxMessage
from lifesign.notify.templates import DEFAULT_LANG, TemplateSet, load_templates
from lifesign.store.bulk import insert_new

log = logging.getLogger(__name__)

# Queued messages read per query, and the most claimed, sent and recorded together (one
# transaction to claim, one to record) through a gateway with `send_batch`. Not a policy
# value: any size keeps the guarantees; 500 keeps a batch's SQL statements small.

outbox = cast(Table, OutboxMessage.__table__)

# The one table of which status may follow which.
MESSAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"sending", "failed"}),
    "sending": frozenset({"sent", "queued", "failed"}),
    "sent": frozenset({"delivered", "undeliverable"}),
    "failed": frozenset({"queued"}),  # an operator's `lifesign notify retry`
    "delivered": frozenset(),
    "undeliverable": frozenset(),
}

EnqueueOutcome = Literal["queued", "duplicate", "no_phone"]


class OutboxError(LifesignError):
    """A message cannot be queued or moved as asked."""


# --------------------------------------------------------------------------------------------
# Time: stored in UTC; a naive time from a caller is the city's local time (notify.yaml).
# --------------------------------------------------------------------------------------------


def to_utc(moment: dt.datetime, config: NotifyConfig) -> dt.datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.timezone)
    return moment.astimezone(dt.UTC)


def from_db(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC; PostgreSQL an aware time."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def quiet_hours_end(moment: dt.datetime, config: NotifyConfig) -> dt.datetime | None:
    """When the quiet hours around `moment` end (UTC), or None if `moment` is not in them."""
    local = to_utc(moment, config).astimezone(config.timezone)
    clock = local.time().replace(tzinfo=None)
    start, end = config.quiet_start, config.quiet_end
    if start == end:
        return None
    if start > end:  # over midnight, e.g. 21:00-08:00
        if clock >= start:
            day = local.date() + dt.timedelta(days=1)
        elif clock < end:
            day = local.date()
        else:
            return None
    elif start <= clock < end:
        day = local.date()
    else:
        return None
    return dt.datetime.combine(day, end, tzinfo=config.timezone).astimezone(dt.UTC)


def backoff(attempts: int, message_id: int, policy: RetryPolicy) -> dt.timedelta:
    """Wait before the next attempt after `attempts` failed ones: exponential, capped, with a
    jitter drawn from (seed, message, attempt) so that a run can be replayed exactly."""
    delay = min(policy.base_seconds * policy.factor ** (attempts - 1), policy.max_seconds)
    spread = random.Random(f"{policy.seed}:{message_id}:{attempts}").uniform(-1, 1)
    return dt.timedelta(seconds=delay * (1 + policy.jitter * spread))


# --------------------------------------------------------------------------------------------
# Queueing
# --------------------------------------------------------------------------------------------


def enqueue(
    connection: Connection,
    *,
    person_id: int,
    phone: str | None,
    reason: str,
    period_key: str,
    params: Mapping[str, Any],
    lang: str = DEFAULT_LANG,
    now: dt.datetime,
) -> bool:
    """Queue one SMS in the caller's transaction. True if queued; False if this person already
    has a message for this reason and period, or has no phone (see `enqueue_message` for
    which). The body is rendered now (TemplateError if a parameter is missing)."""
    outcome = enqueue_message(
        connection,
        person_id=person_id,
        phone=phone,
        reason=reason,
        period_key=period_key,
        params=params,
        lang=lang,
        now=now,
    )
    return outcome == "queued"


def enqueue_message(
    connection: Connection,
    *,
    person_id: int,
    phone: str | None,
    reason: str,
    period_key: str,
    params: Mapping[str, Any],
    lang: str = DEFAULT_LANG,
    now: dt.datetime,
    config: NotifyConfig | None = None,
) -> EnqueueOutcome:
    """Like `enqueue`, saying why nothing was queued: 'duplicate' or 'no_phone'."""
    request = SmsRequest(person_id, phone, reason, period_key, params, lang)
    return enqueue_many(connection, [request], now=now, config=config)[0]


class SmsRequest(NamedTuple):
    """One SMS a step wants queued (see `enqueue_many`). A named tuple, not a frozen
    dataclass: a day makes tens of thousands, and a tuple is made five times faster."""

    person_id: int
    phone: str | None
    reason: str
    period_key: str
    params: Mapping[str, Any]
    lang: str = DEFAULT_LANG

    @property
    def key(self) -> tuple[int, str, str]:
        """The at-most-once key: UNIQUE(person_id, reason, period_key)."""
        return (self.person_id, self.reason, self.period_key)


def enqueue_many(
    connection: Connection,
    requests: Iterable[SmsRequest],
    *,
    now: dt.datetime,
    config: NotifyConfig | None = None,
) -> list[EnqueueOutcome]:
    """Queue many SMS in the caller's transaction; the outcome of each, in order.

    Every body is rendered first (a TemplateError queues nothing), then the new messages are
    written with one executemany (`lifesign.store.bulk.insert_new`: INSERT ... ON CONFLICT
    (person_id, reason, period_key) DO NOTHING). The UNIQUE constraint is what keeps a
    message at most once, here as in `enqueue`: a message already in the outbox, or repeated
    earlier in the same call, is 'duplicate'; one without a phone is 'no_phone'.
    """
    config = config or load_notify_config()
    outcomes: list[EnqueueOutcome] = []
    rows: list[dict[str, Any]] = []
    first_of: dict[tuple[int, str, str], int] = {}
    templates: dict[str, TemplateSet] = {}
    moment = to_utc(now, config)
    sms = config.sms
    for position, request in enumerate(requests):
        number = request.phone or ""
        if not number.isdigit():  # spaces inside a number are dropped ("139 0000 1234")
            number = "".join(number.split())
        if not number:
            outcomes.append("no_phone")
            continue
        template_set = templates.get(request.lang)
        if template_set is None:
            template_set = templates[request.lang] = load_templates(request.lang, sms=sms)
        rendered = template_set.render(request.reason, request.params)
        segments = sms.segments(rendered.body)
        if segments > sms.max_segments:
            log.warning(
                "SMS %s for person %s takes %d segments (limit %d)",
                rendered.template,
                request.person_id,
                segments,
                sms.max_segments,
            )
        outcomes.append("duplicate")  # until the insert says it went in
        if request.key in first_of:
            continue
        first_of[request.key] = position
        rows.append(
            {
                "person_id": request.person_id,
                "phone": number,
                "reason": request.reason,
                "period_key": request.period_key,
                "lang": request.lang,
                "template": rendered.template,
                "params": rendered.params,
                "body": rendered.body,
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": moment,
                "created_at": moment,
            }
        )
    if connection.dialect.name not in ("sqlite", "postgresql"):
        raise OutboxError(f"the outbox does not support database {connection.dialect.name!r}", "")
    for key in insert_new(connection, outbox, rows, unique=("person_id", "reason", "period_key")):
        outcomes[first_of[key]] = "queued"
    return outcomes


# --------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    gateway: str
    sent: int = 0
    retry_scheduled: int = 0
    failed: int = 0
    held_for_quiet_hours: int = 0
    recovered: int = 0  # left 'sending' by a dead process, resolved now
    outcome_unknown: int = 0  # ... and marked failed, because re-sending could duplicate
    quiet_until: dt.datetime | None = None
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return self.sent + self.retry_scheduled + self.failed


def _check_move(from_status: str, to_status: str) -> None:
    if to_status not in MESSAGE_TRANSITIONS.get(from_status, frozenset()):
        raise OutboxError(
            f"an SMS cannot go from {from_status!r} to {to_status!r}",
            f"allowed after {from_status!r}: "
            f"{', '.join(sorted(MESSAGE_TRANSITIONS.get(from_status, ()))) or 'nothing'}",
        )


def transition(
    connection: Connection,
    message_id: int,
    from_status: str,
    to_status: str,
    **values: Any,
) -> bool:
    """Move one message from `from_status` to `to_status` (checked against
    MESSAGE_TRANSITIONS). False if it was not in `from_status` any more (another run moved it)."""
    _check_move(from_status, to_status)
    # SQLite keeps a time's wall clock and drops its zone: store every time in UTC.
    values = {
        name: value.astimezone(dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo else value
        for name, value in values.items()
    }
    result = connection.execute(
        update(outbox)
        .where(outbox.c.message_id == message_id, outbox.c.status == from_status)
        .values(status=to_status, **values)
    )
    return result.rowcount == 1


def deliver_due(
    engine: Engine,
    gateway: Gateway,
    now: dt.datetime,
    *,
    limit: int | None = None,
    config: NotifyConfig | None = None,
) -> DeliveryReport:
    """Send what is due at `now` through `gateway`: recover abandoned sends, then up to `limit`
    (default: max_per_run of notify.yaml) queued messages, oldest first. Outside quiet hours
    only; in them, due messages are moved to the end of the quiet hours."""
    config = config or load_notify_config()
    moment = to_utc(now, config)
    report = DeliveryReport(gateway=gateway.name)
    budget = limit if limit is not None else config.max_per_run
    quiet_end = quiet_hours_end(moment, config)
    if quiet_end is not None:
        with engine.begin() as connection:
            held = connection.execute(
                update(outbox)
                .where(outbox.c.status == "queued", outbox.c.next_attempt_at < quiet_end)
                .values(next_attempt_at=quiet_end)
            )
        report.held_for_quiet_hours = held.rowcount
        report.quiet_until = quiet_end
        return report

    # A gateway that takes a batch (the file gateway: one write, one fsync; the HTTP gateway
    # with a batch URL: one request, one timeout) is handed up to `delivery_batch` messages at
    # once; any other one message per claim, as a batch of them sent one by one could outlast
    # the sending lease (one HTTP timeout each) and a crash would leave a whole batch's outcome
    # unknown.
    page = config.delivery_batch
    batch_size = page if callable(getattr(gateway, "send_batch", None)) else 1
    for row in _abandoned(engine, moment - config.sending_lease, budget):
        budget -= 1
        _recover(engine, gateway, row, moment, config, report)
    while budget > 0:
        with engine.connect() as connection:
            rows = connection.execute(
                select(outbox)
                .where(outbox.c.status == "queued", outbox.c.next_attempt_at <= moment)
                .order_by(outbox.c.next_attempt_at, outbox.c.message_id)
                .limit(min(budget, page))
            ).all()
        if not rows:
            break
        budget -= len(rows)
        for start in range(0, len(rows), batch_size):
            batch = list(rows[start : start + batch_size])
            claimed = _claim_batch(engine, batch, gateway, moment)
            if claimed:
                results = _send_batch(gateway, [_message(row, moment) for row in claimed])
                _record_batch(engine, claimed, results, moment, config, report)
    return report


def _abandoned(engine: Engine, before: dt.datetime, budget: int) -> list[Row[Any]]:
    if budget <= 0:
        return []
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(outbox)
                .where(outbox.c.status == "sending", outbox.c.sending_at <= before)
                .order_by(outbox.c.message_id)
                .limit(budget)
            ).all()
        )


def _claim(engine: Engine, row: Row[Any], gateway: Gateway, moment: dt.datetime) -> bool:
    """Mark the message 'sending' and COMMIT before the gateway is called: from here on a
    crash leaves a trace instead of a silent second send."""
    with engine.begin() as connection:
        return transition(
            connection,
            row.message_id,
            "queued",
            "sending",
            attempts=row.attempts + 1,
            sending_at=moment,
            gateway=gateway.name,
        )


def _claim_batch(
    engine: Engine, rows: list[Row[Any]], gateway: Gateway, moment: dt.datetime
) -> list[Row[Any]]:
    """Mark the messages 'sending' and COMMIT, in one transaction, before the gateway is
    called; the rows claimed here (another run may have claimed some first), in order."""
    if len(rows) == 1:
        return rows if _claim(engine, rows[0], gateway, moment) else []
    _check_move("queued", "sending")
    ids = [row.message_id for row in rows]
    with engine.begin() as connection:
        claimed = set(
            connection.execute(
                update(outbox)
                .where(outbox.c.message_id.in_(ids), outbox.c.status == "queued")
                .values(
                    status="sending",
                    attempts=outbox.c.attempts + 1,
                    sending_at=moment.astimezone(dt.UTC),
                    gateway=gateway.name,
                )
                .returning(outbox.c.message_id)
            ).scalars()
        )
    return [row for row in rows if row.message_id in claimed]


def _send_batch(gateway: Gateway, messages: list[OutgoingMessage]) -> list[SendResult]:
    """Each message's result, through the gateway's `send_batch` if it has one."""
    send_batch = getattr(gateway, "send_batch", None)
    if callable(send_batch) and len(messages) > 1:
        results = _call_many(lambda: list(send_batch(messages)), gateway, len(messages))
        if len(results) != len(messages):
            raise OutboxError(
                f"gateway {gateway.name!r} answered {len(results)} results for "
                f"{len(messages)} messages",
                "send_batch must return one SendResult per message, in order",
            )
        return results
    return [_call(partial(gateway.send, message), gateway) for message in messages]


def _call_many(
    action: Callable[[], list[SendResult]], gateway: Gateway, count: int
) -> list[SendResult]:
    """`_call` for a batch: a batch that raises has not told us any of its outcomes."""
    try:
        return action()
    except Exception as error:  # any failure of a third-party gateway is a failed attempt
        return [_unknown_outcome(error, gateway)] * count


def _record_batch(
    engine: Engine,
    rows: list[Row[Any]],
    results: list[SendResult],
    moment: dt.datetime,
    config: NotifyConfig,
    report: DeliveryReport,
) -> None:
    """Commit a batch's outcomes in one transaction (after the gateway made them durable)."""
    with engine.begin() as connection:
        sent = []
        for row, result in zip(rows, results, strict=True):
            if result.accepted:
                sent.append({"b_id": row.message_id, "b_ref": result.reference})
            else:
                _record_in(
                    connection, row.message_id, row.attempts + 1, result, moment, config, report
                )
        if sent:
            _check_move("sending", "sent")
            connection.execute(
                update(outbox)
                .where(outbox.c.message_id == bindparam("b_id"), outbox.c.status == "sending")
                .values(
                    status="sent",
                    gateway_ref=bindparam("b_ref"),
                    sent_at=moment.astimezone(dt.UTC),
                    last_error=None,
                ),
                sent,
            )
            report.sent += len(sent)


def _message(row: Row[Any], moment: dt.datetime) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=str(row.message_id),
        phone=row.phone,
        body=row.body,
        reason=row.reason,
        template=row.template,
        lang=row.lang,
        params=dict(row.params or {}),
        at=moment,
    )


def _call(action: Callable[[], SendResult], gateway: Gateway) -> SendResult:
    """A gateway that raises has not told us the outcome. If it dedupes, a retry with the same
    key is safe; if not, the message might have gone out: fail it rather than risk a second."""
    try:
        return action()
    except Exception as error:  # any failure of a third-party gateway is a failed attempt
        return _unknown_outcome(error, gateway)


def _unknown_outcome(error: Exception, gateway: Gateway) -> SendResult:
    log.warning("gateway %s raised %s", gateway.name, type(error).__name__)
    text = f"{type(error).__name__}: {error}"
    if gateway.deduplicates:
        return SendResult.retry(text)
    return SendResult.permanent(f"outcome unknown ({text}); gateway does not dedupe")


def _attempt(
    engine: Engine,
    gateway: Gateway,
    row: Row[Any],
    attempts: int,
    moment: dt.datetime,
    config: NotifyConfig,
    report: DeliveryReport,
) -> None:
    message = _message(row, moment)
    result = _call(lambda: gateway.send(message), gateway)
    _record(engine, row.message_id, attempts, result, moment, config, report)


def _record(
    engine: Engine,
    message_id: int,
    attempts: int,
    result: SendResult,
    moment: dt.datetime,
    config: NotifyConfig,
    report: DeliveryReport,
) -> None:
    with engine.begin() as connection:
        _record_in(connection, message_id, attempts, result, moment, config, report)


def _record_in(
    connection: Connection,
    message_id: int,
    attempts: int,
    result: SendResult,
    moment: dt.datetime,
    config: NotifyConfig,
    report: DeliveryReport,
) -> None:
    if result.accepted:
        transition(
            connection,
            message_id,
            "sending",
            "sent",
            gateway_ref=result.reference,
            sent_at=moment,
            last_error=None,
        )
        report.sent += 1
        return
    error = (result.error or "rejected without a reason")[:1000]
    report.errors[error.split(":")[0][:80]] = report.errors.get(error.split(":")[0][:80], 0) + 1
    if result.retryable and attempts < config.retry.max_attempts:
        transition(
            connection,
            message_id,
            "sending",
            "queued",
            next_attempt_at=moment + backoff(attempts, message_id, config.retry),
            last_error=error,
        )
        report.retry_scheduled += 1
    else:
        if result.retryable:
            error = f"gave up after {attempts} attempts: {error}"
        transition(connection, message_id, "sending", "failed", last_error=error)
        report.failed += 1


def _recover(
    engine: Engine,
    gateway: Gateway,
    row: Row[Any],
    moment: dt.datetime,
    config: NotifyConfig,
    report: DeliveryReport,
) -> None:
    """A message a dead process left 'sending': find out, re-send safely, or give up loudly."""
    report.recovered += 1
    if row.gateway != gateway.name:
        _give_up(engine, row, f"it was being sent through gateway {row.gateway!r}", report)
        return
    message = _message(row, moment)
    lookup = getattr(gateway, "lookup", None)
    if callable(lookup):
        found = _call(lambda: lookup(message) or SendResult.permanent("not found"), gateway)
        if found.accepted:
            _record(engine, row.message_id, row.attempts, found, moment, config, report)
            return
        if found.retryable:  # the gateway could not answer: ask again on a later run
            with engine.begin() as connection:
                connection.execute(
                    update(outbox)
                    .where(outbox.c.message_id == row.message_id, outbox.c.status == "sending")
                    .values(sending_at=moment, last_error=found.error)
                )
            return
        # the gateway has never seen it: sending it now is the first send
    elif not gateway.deduplicates:
        _give_up(engine, row, f"gateway {gateway.name!r} cannot tell and does not dedupe", report)
        return
    with engine.begin() as connection:
        claimed = connection.execute(
            update(outbox)
            .where(outbox.c.message_id == row.message_id, outbox.c.status == "sending")
            .values(attempts=row.attempts + 1, sending_at=moment)
        )
    if claimed.rowcount == 1:
        _attempt(engine, gateway, row, row.attempts + 1, moment, config, report)


def _give_up(engine: Engine, row: Row[Any], why: str, report: DeliveryReport) -> None:
    with engine.begin() as connection:
        transition(
            connection,
            row.message_id,
            "sending",
            "failed",
            last_error=f"outcome unknown: the sending process stopped and {why}; not re-sent, "
            "so that nobody gets it twice — check the gateway's records, then "
            "`lifesign notify retry` if it never arrived",
        )
    report.outcome_unknown += 1


# --------------------------------------------------------------------------------------------
# Receipts and operator actions
# --------------------------------------------------------------------------------------------

RECEIPT_STATUSES = ("delivered", "undeliverable")


def record_delivery(
    engine: Engine,
    gateway_ref: str,
    status: str,
    at: dt.datetime,
    *,
    gateway: str | None = None,
    error: str | None = None,
    config: NotifyConfig | None = None,
) -> bool:
    """A delivery receipt from the gateway: the message it knows as `gateway_ref` reached the
    phone ('delivered') or never will ('undeliverable'). False if no sent message has it."""
    if status not in RECEIPT_STATUSES:
        raise OutboxError(
            f"unknown delivery status {status!r}", f"expected {' or '.join(RECEIPT_STATUSES)}"
        )
    config = config or load_notify_config()
    moment = to_utc(at, config)
    with engine.begin() as connection:
        query = select(outbox.c.message_id).where(
            outbox.c.gateway_ref == gateway_ref, outbox.c.status == "sent"
        )
        if gateway is not None:
            query = query.where(outbox.c.gateway == gateway)
        message_id = connection.execute(query).scalar()
        if message_id is None:
            return False
        values: dict[str, Any] = {"delivered_at": moment}
        if status == "undeliverable":
            values = {"last_error": error or "undeliverable (receipt)"}
        return transition(connection, message_id, "sent", status, **values)


def retry_failed(engine: Engine, message_id: int, now: dt.datetime) -> bool:
    """An operator sends a failed message again (after checking it never arrived)."""
    config = load_notify_config()
    with engine.begin() as connection:
        return transition(
            connection,
            message_id,
            "failed",
            "queued",
            attempts=0,
            next_attempt_at=to_utc(now, config),
        )
