"""What an ingest did, as tables for the terminal: per file or per source, and by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lifesign.ingest.pipeline import BatchReport

SHOWN_SAMPLES = 10
NUMBER_COLUMNS = ("read", "accepted", "rejected", "duplicates", "not recipients", "kept others")


@dataclass
class SourceTotals:
    source: str
    files: int = 0
    already: int = 0
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    not_recipient: int = 0
    kept_non_recipient: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, report: BatchReport) -> None:
        self.files += 1
        if report.already_ingested:
            self.already += 1
            return
        self.read += report.read
        self.accepted += report.accepted
        self.rejected += report.rejected
        self.duplicate += report.duplicate
        self.not_recipient += report.not_recipient
        self.kept_non_recipient += report.kept_non_recipient
        self.reasons.update(report.rejected_by_reason)


def totals_by_source(reports: Sequence[BatchReport]) -> list[SourceTotals]:
    totals: dict[str, SourceTotals] = {}
    for report in reports:
        totals.setdefault(report.source, SourceTotals(report.source)).add(report)
    return [totals[code] for code in sorted(totals)]


def _numbers(item: BatchReport | SourceTotals) -> list[str]:
    return [
        f"{item.read:,}",
        f"{item.accepted:,}",
        f"{item.rejected:,}",
        f"{item.duplicate:,}",
        f"{item.not_recipient:,}",
        f"{item.kept_non_recipient:,}",
    ]


def file_table(reports: Sequence[BatchReport]) -> Table:
    """One row per file (for `ingest files`)."""
    table = Table(title="ingest")
    table.add_column("source")
    table.add_column("file")
    table.add_column("batch", justify="right")
    for name in NUMBER_COLUMNS:
        table.add_column(name, justify="right", style="red" if name == "rejected" else None)
    for report in reports:
        name = Path(report.origin).name if report.kind == "file" else report.origin
        if report.already_ingested:
            table.add_row(
                report.source, name, f"= {report.batch_id}", "already ingested", *[""] * 5
            )
        else:
            table.add_row(report.source, name, str(report.batch_id), *_numbers(report))
    return table


def source_table(reports: Sequence[BatchReport]) -> Table:
    """One row per source, plus a total (for `ingest all`)."""
    table = Table(title="ingest (by source)")
    table.add_column("source")
    table.add_column("files", justify="right")
    table.add_column("already ingested", justify="right")
    for name in NUMBER_COLUMNS:
        table.add_column(name, justify="right", style="red" if name == "rejected" else None)
    everything = SourceTotals("total")
    for totals in totals_by_source(reports):
        table.add_row(totals.source, f"{totals.files:,}", f"{totals.already:,}", *_numbers(totals))
        for attribute in (
            "files",
            "already",
            "read",
            "accepted",
            "rejected",
            "duplicate",
            "not_recipient",
            "kept_non_recipient",
        ):
            setattr(
                everything, attribute, getattr(everything, attribute) + getattr(totals, attribute)
            )
    table.add_section()
    table.add_row(
        "total", f"{everything.files:,}", f"{everything.already:,}", *_numbers(everything)
    )
    return table


def reason_table(reports: Sequence[BatchReport]) -> Table | None:
    """Rejected records by source and reason, or None when nothing was rejected."""
    rows = [
        (totals.source, reason, count)
        for totals in totals_by_source(reports)
        for reason, count in sorted(totals.reasons.items())
    ]
    if not rows:
        return None
    table = Table(title="rejected by reason (in quarantine: lifesign quarantine list)")
    table.add_column("source")
    table.add_column("reason")
    table.add_column("records", justify="right")
    for source, reason, count in rows:
        table.add_row(source, reason, f"{count:,}")
    return table


def sample_table(reports: Sequence[BatchReport]) -> Table | None:
    samples = [(r, s) for r in reports for s in r.samples][:SHOWN_SAMPLES]
    if not samples:
        return None
    table = Table(title=f"rejected records (first {len(samples)}; values masked)")
    for name in ("file", "row", "field", "value", "reason", "message"):
        table.add_column(name)
    for report, sample in samples:
        table.add_row(
            Path(report.origin).name,
            str(sample.row or ""),
            sample.field or "",
            sample.value or "",
            sample.reason,
            sample.message,
        )
    return table


def print_summary(console: Console, reports: Sequence[BatchReport], *, by_source: bool) -> None:
    console.print(source_table(reports) if by_source else file_table(reports))
    for extra in (reason_table(reports), sample_table(reports)):
        if extra is not None:
            console.print(extra)
    if not by_source:
        for report in reports:
            if report.already_ingested:
                console.print(f"{Path(report.origin).name}: {report.message}")
