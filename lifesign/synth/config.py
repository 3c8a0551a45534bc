"""Parameters of one synthetic city."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class SynthConfig:
    """What to generate and where.

    The window is fixed (not derived from today's date) so that the same seed always gives the
    same bytes. `window_end` is inclusive and is also the "as of" date of the ground truth.
    """

    recipients: int
    seed: int
    out: Path
    window_start: date = date(2024, 11, 1)  # 24 months of ledger and evidence
    window_end: date = date(2026, 10, 31)  # inclusive; the "as of" date of the truth
    non_recipient_ratio: float = 1.5  # non-recipients per recipient, whose records appear in feeds
    workers: int = 2

    @property
    def non_recipients(self) -> int:
        return round(self.recipients * self.non_recipient_ratio)

    @property
    def people(self) -> int:
        return self.recipients + self.non_recipients

    @property
    def months(self) -> int:
        """Number of calendar months in the window (24 by default)."""
        return (
            (self.window_end.year - self.window_start.year) * 12
            + self.window_end.month
            - self.window_start.month
            + 1
        )
