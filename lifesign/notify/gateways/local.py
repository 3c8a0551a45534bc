"""The embedded gateways: `file` (the default: nothing leaves the machine) and `console`."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping, Sequence
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
        self._read_signature: tuple[tuple[str, int], ...] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> FileGateway:
        return cls(settings.home / str(options.get("folder", "outbox")))

    def send(self, message: OutgoingMessage) -> SendResult:
        return self.send_batch([message])[0]

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Write the new messages with one write and one fsync per day's file, before any is
        said "accepted": the outbox commits 'sent' only after this returns, so a crash never
        leaves a message recorded as sent that is not in the file."""
        seen = self._keys()
        references: list[str] = []
        lines: dict[Path, list[str]] = {}
        written: dict[str, str] = {}
        for message in messages:
            key = message.idempotency_key
            if key in seen or key in written:
                references.append(seen.get(key) or written[key])
                continue
            day = (message.at or dt.datetime.now(dt.UTC)).date()
            path = self.folder / f"sms-{day.isoformat()}.jsonl"
            record = {
                "idempotency_key": key,
                "to": message.phone,
                "body": message.body,
                "reason": message.reason,
                "template": message.template,
                "params": dict(message.params),
                "at": message.at.isoformat() if message.at else None,
            }
            lines.setdefault(path, []).append(json.dumps(record, ensure_ascii=False) + "\n")
            written[key] = f"{path.name}#{key}"
            references.append(written[key])
        if lines:
            self.folder.mkdir(parents=True, exist_ok=True)
        for path, path_lines in lines.items():
            # Whole lines in append mode, flushed to disk before we say "accepted".
            with path.open("a", encoding="utf-8") as handle:
                handle.write("".join(path_lines))
                handle.flush()
                os.fsync(handle.fileno())
        seen.update(written)
        return [SendResult.ok(reference) for reference in references]

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        reference = self._keys().get(message.idempotency_key)
        if reference is None and self._files_signature() != self._read_signature:
            self._seen = None  # another process wrote since: read the files again
            reference = self._keys().get(message.idempotency_key)
        return SendResult.ok(reference) if reference else None

    def _files_signature(self) -> tuple[tuple[str, int], ...]:
        """The day files and their sizes: they only grow, so an unchanged signature means
        nothing was written since they were read (recovering a batch of 500 reads them once)."""
        return tuple(
            (path.name, path.stat().st_size) for path in sorted(self.folder.glob("sms-*.jsonl"))
        )

    def records(self) -> Iterator[dict[str, Any]]:
        """Every SMS written, in file order (for tests and `lifesign notify list`)."""
        for path in sorted(self.folder.glob("sms-*.jsonl")):
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        yield {**json.loads(line), "file": path.name}

    def _keys(self) -> dict[str, str]:
        if self._seen is None:
            self._read_signature = self._files_signature()
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
