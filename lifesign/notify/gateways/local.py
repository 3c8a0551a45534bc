"""The embedded gateways: `file` (the default: nothing leaves the machine) and `console`."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from lifesign.config import Settings
from lifesign.notify.gateways.base import OutgoingMessage, SendResult
from lifesign.registry.ids import mask_phone


class FileGateway:
    """Appends each SMS as one JSON line to HOME/outbox/sms-YYYY-MM-DD.jsonl (the day of the
    delivery run). It remembers every key it wrote, so it deduplicates and can `lookup`."""

    name = "file"
    deduplicates = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seen: dict[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> FileGateway:
        return cls(settings.home / str(options.get("folder", "outbox")))

    def send(self, message: OutgoingMessage) -> SendResult:
        seen = self._keys()
        if message.idempotency_key in seen:
            return SendResult.ok(seen[message.idempotency_key])
        day = (message.at or dt.datetime.now(dt.UTC)).date()
        path = self.folder / f"sms-{day.isoformat()}.jsonl"
        record = {
            "idempotency_key": message.idempotency_key,
            "to": message.phone,
            "body": message.body,
            "reason": message.reason,
            "template": message.template,
            "params": dict(message.params),
            "at": message.at.isoformat() if message.at else None,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        # One write of one line in append mode, flushed to disk before we say "accepted".
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        reference = f"{path.name}#{message.idempotency_key}"
        seen[message.idempotency_key] = reference
        return SendResult.ok(reference)

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        self._seen = None  # another process may have written since: read the files again
        reference = self._keys().get(message.idempotency_key)
        return SendResult.ok(reference) if reference else None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every SMS written, in file order (for tests and `lifesign notify list`)."""
        for path in sorted(self.folder.glob("sms-*.jsonl")):
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        yield {**json.loads(line), "file": path.name}

    def _keys(self) -> dict[str, str]:
        if self._seen is None:
            self._seen = {
                str(record["idempotency_key"]): f"{record['file']}#{record['idempotency_key']}"
                for record in self.records()
            }
        return self._seen


class ConsoleGateway:
    """Prints each SMS with the phone masked (for trying things out; keeps no record)."""

    name = "console"
    deduplicates = False

    @classmethod
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> ConsoleGateway:
        return cls()

    def send(self, message: OutgoingMessage) -> SendResult:
        click.echo(f"SMS {message.idempotency_key} to {mask_phone(message.phone)}: {message.body}")
        return SendResult.ok(f"console#{message.idempotency_key}")
