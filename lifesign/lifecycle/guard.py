"""The guard against bad data days.

A suspension is the platform saying "we have not seen this person alive for a year". That is
only true if the departments kept sending what they normally send. The guard learns, per
source, how often its batches arrive and how many records they bring (from `source_arrivals`:
the as-of day each committed batch was first seen by a run), and before the day's suspensions
are applied it judges:

- **stale**: silent for longer than `stale_factor × p90 gap + stale_grace_days`;
- **collapsed**: the latest arrival day brought less than `collapse_ratio × median` records.

Then suspensions are held (not applied), each with its reason:

- `stale_source_person`: the person's latest automatic certification came from a source that
  is stale or collapsed — the missing records are exactly what would have certified them;
- `stale_major_source`: a stale or collapsed source brought more than `major_source_share` of
  the strong alive records in the window — every suspension of the day is held;
- `suspension_spike`: the day's due suspensions exceed `spike_factor ×` the median of recent
  runs and `spike_floor` — all wait for an officer (`lifesign run confirm-suspensions`).

The numbers live in `data/guard.yaml`, each with the reason for its value.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, select

from lifesign.lifecycle.models import Run, SourceArrival
from lifesign.lifecycle.parameters import GuardParameters

SourceState = Literal["learning", "ok", "stale", "collapsed"]
HoldRule = Literal["stale_source_person", "stale_major_source", "suspension_spike"]

HOLD_RULES: tuple[HoldRule, ...] = ("stale_source_person", "stale_major_source", "suspension_spike")


@dataclass(frozen=True)
class SourceHealth:
    """What the guard concluded about one source on one day, with the figures behind it."""

    source: str
    state: SourceState
    arrival_days: int
    last_arrival: dt.date | None
    days_silent: int | None
    usual_gap_days: float | None
    stale_after_days: float | None
    last_records: int | None
    median_records: float | None
    strong_share: float

    @property
    def is_problem(self) -> bool:
        return self.state in ("stale", "collapsed")

    def describe(self) -> str:
        """One line for the day report and the reason of a hold."""
        if self.state == "stale":
            return (
                f"{self.source} silent for {self.days_silent} days "
                f"(usually every {self.usual_gap_days:g} days at most; stale after "
                f"{self.stale_after_days:g})"
            )
        if self.state == "collapsed":
            return (
                f"{self.source} collapsed: {self.last_records:,} records on "
                f"{self.last_arrival} against a median of {self.median_records:g}"
            )
        if self.state == "learning":
            return f"{self.source}: learning its cadence ({self.arrival_days} arrival days)"
        return f"{self.source}: ok"

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["last_arrival"] = self.last_arrival.isoformat() if self.last_arrival else None
        return document


@dataclass(frozen=True)
class SpikeCheck:
    due: int
    baseline: float
    baseline_kind: Literal["median_of_runs", "recipients_per_365"]
    threshold: float
    is_spike: bool

    def describe(self) -> str:
        basis = (
            "median of recent runs"
            if self.baseline_kind == "median_of_runs"
            else ("active recipients / 365")
        )
        return (
            f"{self.due:,} suspensions due against a normal {self.baseline:.1f} ({basis}); "
            f"more than {self.threshold:.0f} waits for an officer"
        )


@dataclass
class GuardFindings:
    """The guard's view of the day: sources, and which hold rules are in force."""

    as_of: dt.date
    sources: list[SourceHealth] = field(default_factory=list)
    spike: SpikeCheck | None = None

    @property
    def problems(self) -> list[SourceHealth]:
        return [health for health in self.sources if health.is_problem]

    def problem_source(self, source: str | None) -> SourceHealth | None:
        for health in self.problems:
            if health.source == source:
                return health
        return None

    def major_problem(self, parameters: GuardParameters) -> SourceHealth | None:
        """The largest stale or collapsed source above the major share, if any."""
        major = [h for h in self.problems if h.strong_share > parameters.major_source_share]
        return max(major, key=lambda h: h.strong_share) if major else None

    def warnings(self, parameters: GuardParameters) -> list[str]:
        lines = [health.describe() for health in self.problems]
        major = self.major_problem(parameters)
        if major is not None:
            lines.append(
                f"all suspensions held: {major.source} brings {major.strong_share:.0%} of strong "
                f"alive records (more than {parameters.major_source_share:.0%})"
            )
        if self.spike is not None and self.spike.is_spike:
            lines.append("suspension spike: " + self.spike.describe())
        return lines

    def to_json(self, parameters: GuardParameters) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "warnings": self.warnings(parameters),
            "sources": [health.to_json() for health in self.problems],
            "learning": sorted(h.source for h in self.sources if h.state == "learning"),
            "spike": asdict(self.spike) if self.spike else None,
        }


# ----------------------------------------------------------------------------- sources


def _percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (no interpolation: a gap is a whole number of days)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.4999) - 1))
    return ordered[rank]


def judge_source(
    source: str,
    days: Mapping[dt.date, tuple[int, int]],
    as_of: dt.date,
    parameters: GuardParameters,
    strong_share: float,
) -> SourceHealth:
    """Judge one source from its arrival days (day → (records, strong alive records))."""
    ordered = sorted(day for day in days if day <= as_of)
    if not ordered:
        return SourceHealth(source, "learning", 0, None, None, None, None, None, None, 0.0)
    last = ordered[-1]
    window = [day for day in ordered if day > last - dt.timedelta(days=parameters.history_days)]
    silent = (as_of - last).days
    last_records = days[last][0]
    if len(window) < parameters.min_arrivals:
        return SourceHealth(
            source,
            "learning",
            len(window),
            last,
            silent,
            None,
            None,
            last_records,
            None,
            strong_share,
        )
    gaps = [float((b - a).days) for a, b in itertools.pairwise(window)]
    usual_gap = _percentile(gaps, 0.9)
    stale_after = parameters.stale_factor * usual_gap + parameters.stale_grace_days
    earlier = [days[day][0] for day in window[:-1]]
    median = float(statistics.median(earlier))
    state: SourceState = "ok"
    if silent > stale_after:
        state = "stale"
    elif (
        median >= parameters.collapse_min_median
        and last_records < parameters.collapse_ratio * median
    ):
        state = "collapsed"
    return SourceHealth(
        source,
        state,
        len(window),
        last,
        silent,
        usual_gap,
        stale_after,
        last_records,
        median,
        strong_share,
    )


def assess_sources(
    connection: Connection, as_of: dt.date, parameters: GuardParameters
) -> list[SourceHealth]:
    """Every source with arrivals on or before `as_of`, judged."""
    arrivals = SourceArrival.__table__
    # Anchored on each source's own last arrival, so a source silent for longer than the
    # window is still known (and stale), not forgotten. Bounded read: four windows back.
    since = as_of - dt.timedelta(days=4 * parameters.history_days)
    rows = connection.execute(
        select(
            arrivals.c.source,
            arrivals.c.arrived_on,
            arrivals.c.records,
            arrivals.c.strong_alive_records,
        ).where(arrivals.c.arrived_on <= as_of, arrivals.c.arrived_on > since)
    ).all()
    per_source: dict[str, dict[dt.date, list[int]]] = defaultdict(dict)
    for source, day, records, strong in rows:
        slot = per_source[source].setdefault(day, [0, 0])
        slot[0] += int(records)
        slot[1] += int(strong)
    window_start = as_of - dt.timedelta(days=parameters.history_days)
    strong_in_window = {
        source: sum(v[1] for day, v in days.items() if day > window_start)
        for source, days in per_source.items()
    }
    total_strong = sum(strong_in_window.values())
    return [
        judge_source(
            source,
            {day: (v[0], v[1]) for day, v in days.items()},
            as_of,
            parameters,
            strong_in_window[source] / total_strong if total_strong else 0.0,
        )
        for source, days in sorted(per_source.items())
    ]


# ----------------------------------------------------------------------------- spike


def check_spike(
    connection: Connection,
    as_of: dt.date,
    due: int,
    active_recipients: int | Callable[[], int],
    parameters: GuardParameters,
) -> SpikeCheck:
    """Whether `due` suspensions today is far above normal (see the module docstring).

    `active_recipients` may be a function: it is called only when the baseline needs it (a
    history of fewer than `spike_min_history` runs)."""
    runs = Run.__table__
    history = connection.execute(
        select(runs.c.counts)
        .where(runs.c.as_of < as_of, runs.c.status == "finished")
        .order_by(runs.c.as_of.desc())
        .limit(parameters.spike_history_runs)
    ).all()
    dues = [int((counts or {}).get("suspensions_due", 0)) for (counts,) in history]
    if len(dues) >= parameters.spike_min_history:
        baseline = float(statistics.median(dues))
        kind: Literal["median_of_runs", "recipients_per_365"] = "median_of_runs"
    else:
        recipients = active_recipients() if callable(active_recipients) else active_recipients
        baseline = recipients / 365.0
        kind = "recipients_per_365"
    threshold = max(parameters.spike_factor * baseline, float(parameters.spike_floor))
    return SpikeCheck(due, baseline, kind, threshold, due > threshold)


def hold_reason(
    findings: GuardFindings,
    parameters: GuardParameters,
    person_source: str | None,
) -> tuple[HoldRule, str] | None:
    """Why a person's due suspension is held today, or None to apply it."""
    if findings.spike is not None and findings.spike.is_spike:
        return "suspension_spike", findings.spike.describe()
    major = findings.major_problem(parameters)
    if major is not None:
        return "stale_major_source", (
            f"{major.describe()}; it brings {major.strong_share:.0%} of strong alive records"
        )
    problem = findings.problem_source(person_source)
    if problem is not None:
        return "stale_source_person", f"last certified from {problem.describe()}"
    return None


def summarize_sources(findings: Iterable[SourceHealth]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for health in findings:
        counts[health.state] += 1
    return dict(counts)
