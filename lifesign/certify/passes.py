"""The certification pass: evidence lake → per-person summary → decisions (full or incremental).

See docs/certification.md. Public API: `run_pass(settings, engine, catalog, as_of, mode)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Engine

from lifesign.catalog import Catalog
from lifesign.config import Settings

Mode = Literal["full", "incremental"]


@dataclass
class PassReport:
    """What one pass did."""

    as_of: dt.date
    mode: Mode
    run_id: int | None = None
    batches_applied: int = 0  # batches whose records were merged (new or partly applied)
    records: int = 0  # evidence records read
    persons_touched: int = 0  # persons whose summary changed
    certified: int = 0
    deceased: int = 0
    terminated: int = 0  # enrollment terminations (death, emigration...)
    suspended: int = 0  # enrollment suspensions by status records (imprisonment...)
    status_changes: int = 0  # person status changes other than death (imprisoned...)
    reviews_opened: int = 0
    decisions: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase


def run_pass(
    settings: Settings,
    engine: Engine,
    catalog: Catalog,
    as_of: dt.date,
    mode: Mode = "incremental",
    *,
    run_id: int | None = None,
) -> PassReport:
    """Run the pass as of `as_of` (evidence dated on or before that day only)."""
    raise NotImplementedError("the pass internals land in the next commit")
