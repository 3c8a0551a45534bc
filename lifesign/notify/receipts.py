"""Delivery receipts from an SMS provider, read from a file (CSV or JSON lines) and applied to
the outbox: `lifesign notify receipts FILE`.

A receipt names the message by the reference the gateway gave it when it accepted it
(`gateway_ref`), says whether it reached the phone, and when. Field names and status words of
the providers are mapped by data/receipts.yaml. A bad receipt is reported with its file, line
and field and skipped; every good one is applied (`record_delivery`, one transaction each, so
a file can be given again: receipts already applied are counted, not applied twice).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select

from lifesign.errors import FileProblem, LifesignError, Location
from lifesign.notify.config import NotifyConfig, load_notify_config
from lifesign.notify.outbox import outbox, record_delivery

RECEIPTS_CONFIG = Path(__file__).resolve().parent / "data" / "receipts.yaml"
FINAL_STATUSES = ("delivered", "undeliverable")


@dataclass(frozen=True)
class Receipt:
    line: int
    gateway_ref: str
    status: str  # 'delivered' | 'undeliverable'
    at: dt.datetime
    gateway: str | None = None
    error: str | None = None


@dataclass
class ReceiptsReport:
    file: str
    applied: int = 0
    already: int = 0  # the message already had its final status
    unknown: int = 0  # no message sent with that reference (another system's, or not sent)
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.applied + self.already + self.unknown


@dataclass(frozen=True)
class ReceiptMapping:
    fields: Mapping[str, tuple[str, ...]]
    statuses: Mapping[str, str]  # provider word (lower case) → delivered | undeliverable


@functools.cache
def receipt_mapping(path: Path = RECEIPTS_CONFIG) -> ReceiptMapping:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        fields = {name: tuple(str(a) for a in aliases) for name, aliases in data["fields"].items()}
        statuses = {
            str(word).lower(): status
            for status, words in data["statuses"].items()
            for word in words
        }
    except (KeyError, AttributeError, TypeError) as error:
        raise LifesignError(
            "the receipt mapping is incomplete",
            f"it needs `fields` and `statuses` mappings ({error})",
            Location(file=str(path)),
        ) from error
    for status in statuses.values():
        if status not in FINAL_STATUSES:
            raise LifesignError(
                f"unknown receipt status {status!r}",
                f"statuses map words onto {' or '.join(FINAL_STATUSES)}",
                Location(file=str(path), key="statuses"),
            )
    return ReceiptMapping(fields, statuses)


def _records(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line, record) of a CSV file with a header, or of a JSON-lines file."""
    text = path.read_bytes().decode("utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, {"__error__": f"not valid JSON ({error.msg})"}
                continue
            yield number, record if isinstance(record, dict) else {"__error__": "not an object"}
        return
    reader = csv.DictReader(io.StringIO(text))
    for record in reader:
        yield reader.line_num, record


def _field(record: Mapping[str, Any], mapping: ReceiptMapping, name: str) -> Any:
    for alias in mapping.fields.get(name, (name,)):
        value = record.get(alias)
        if value is not None and str(value).strip() != "":
            return value
    return None


def parse_receipts(
    path: Path, mapping: ReceiptMapping | None = None
) -> tuple[list[Receipt], list[FileProblem]]:
    """The good receipts of a file, and a problem (line, field, why) for each bad one."""
    mapping = mapping or receipt_mapping()
    receipts: list[Receipt] = []
    problems: list[FileProblem] = []

    def problem(line: int, key: str, why: str) -> None:
        problems.append(FileProblem(file=str(path), key=key, problem=why, line=line))

    for line, record in _records(path):
        if "__error__" in record:
            problem(line, "", str(record["__error__"]))
            continue
        ref = _field(record, mapping, "gateway_ref")
        word = _field(record, mapping, "status")
        when = _field(record, mapping, "at")
        if ref is None:
            problem(line, "gateway_ref", "missing: the gateway's reference of the message")
            continue
        status = None if word is None else mapping.statuses.get(str(word).strip().lower())
        if status is None:
            problem(
                line,
                "status",
                "missing" if word is None else f"unknown status {str(word)[:20]!r}",
            )
            continue
        try:
            moment = dt.datetime.fromisoformat(str(when).strip().replace("Z", "+00:00"))
        except (TypeError, ValueError):
            problem(
                line,
                "at",
                "missing" if when is None else f"not a time like 2026-03-05T09:00 ({when!s:.25})",
            )
            continue
        gateway = _field(record, mapping, "gateway")
        error = _field(record, mapping, "error")
        receipts.append(
            Receipt(
                line=line,
                gateway_ref=str(ref).strip(),
                status=status,
                at=moment,
                gateway=None if gateway is None else str(gateway),
                error=None if error is None or status == "delivered" else str(error)[:200],
            )
        )
    return receipts, problems


def apply_receipts(
    engine: Engine,
    path: Path,
    *,
    gateway: str | None = None,
    config: NotifyConfig | None = None,
) -> ReceiptsReport:
    """Read a receipts file and move each sent message it names to its final status."""
    config = config or load_notify_config()
    receipts, problems = parse_receipts(path)
    report = ReceiptsReport(file=str(path), problems=problems)
    for receipt in receipts:
        named_gateway = receipt.gateway or gateway
        if record_delivery(
            engine,
            receipt.gateway_ref,
            receipt.status,
            receipt.at,
            gateway=named_gateway,
            error=receipt.error,
            config=config,
        ):
            report.applied += 1
            continue
        query = select(outbox.c.status).where(outbox.c.gateway_ref == receipt.gateway_ref)
        if named_gateway is not None:
            query = query.where(outbox.c.gateway == named_gateway)
        with engine.connect() as connection:
            statuses = set(connection.execute(query).scalars())
        if statuses & set(FINAL_STATUSES):
            report.already += 1
        else:
            report.unknown += 1
    return report
