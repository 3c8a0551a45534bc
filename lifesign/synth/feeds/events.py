"""Drawing the events: who produces which record on which day, vectorised with numpy.

Days are int64 day numbers since 1970-01-01; `stop` bounds are exclusive. Nothing here writes a
file: `generate` returns the events of one feed as arrays, sorted by event time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lifesign.synth.feeds.model import DAYS_PER_YEAR, RATES

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F32 = npt.NDArray[np.float32]
BOOL = npt.NDArray[np.bool_]

HOURS = {"office": (8 * 3600, 9 * 3600 + 1800), "day": (6 * 3600, 16 * 3600), "any": (0, 86400)}


@dataclass
class Exposure:
    """When each person can produce records: [start, stop) for everything, [start,
    weak_stop) for weak records (later than `stop` for the 冒领 cases)."""

    start: I64
    stop: I64
    weak_stop: I64


@dataclass
class Events:
    person: I64
    type_index: npt.NDArray[np.int16]
    day: I64
    second: I32
    death_day: I64  # for death records, else -1

    @property
    def size(self) -> int:
        return int(self.person.size)


def empty_events() -> Events:
    return Events(
        np.zeros(0, np.int64),
        np.zeros(0, np.int16),
        np.zeros(0, np.int64),
        np.zeros(0, np.int32),
        np.zeros(0, np.int64),
    )


def concat(parts: list[Events]) -> Events:
    if not parts:
        return empty_events()
    return Events(
        np.concatenate([p.person for p in parts]),
        np.concatenate([p.type_index for p in parts]),
        np.concatenate([p.day for p in parts]),
        np.concatenate([p.second for p in parts]),
        np.concatenate([p.death_day for p in parts]),
    )


def _seconds(rng: np.random.Generator, n: int, hours: str) -> I32:
    lo, span = HOURS[hours]
    return (lo + rng.integers(0, span, n)).astype(np.int32)


def _make(
    rng: np.random.Generator, person: I64, day: I64, t: int, hours: str, death: I64 | None = None
) -> Events:
    n = person.size
    return Events(
        person.astype(np.int64),
        np.full(n, t, np.int16),
        day.astype(np.int64),
        _seconds(rng, n, hours),
        death if death is not None else np.full(n, -1, np.int64),
    )


def poisson(
    rng: np.random.Generator, rate: F32, start: I64, stop: I64, t: int, hours: str
) -> Events:
    """Records at a yearly `rate` while the person is active."""
    who = np.flatnonzero(rate > 0)
    expo = np.maximum(stop[who] - start[who], 0)
    counts = rng.poisson(rate[who] * (expo / DAYS_PER_YEAR))
    idx = np.repeat(np.arange(who.size), counts)
    person = who[idx]
    day = start[person] + (rng.random(idx.size) * expo[idx]).astype(np.int64)
    return _make(rng, person, day, t, hours)


def annual(
    rng: np.random.Generator,
    prob: F32,
    start: I64,
    stop: I64,
    w0: int,
    w1x: int,
    t: int,
    hours: str,
) -> Events:
    """At most one record per 12-month block of the window, with probability `prob`."""
    who = np.flatnonzero(prob > 0)
    parts: list[Events] = []
    block = w0
    while block < w1x:
        end = min(block + 365, w1x)
        if w1x - end < 30:  # fold a short tail into the last block
            end = w1x
        lo = np.maximum(start[who], block)
        hi = np.minimum(stop[who], end)
        frac = np.clip((hi - lo) / (end - block), 0.0, 1.0)
        hit = rng.random(who.size) < prob[who] * frac
        person = who[hit]
        day = lo[hit] + (rng.random(person.size) * (hi[hit] - lo[hit])).astype(np.int64)
        parts.append(_make(rng, person, day, t, hours))
        block = end
    return concat(parts)


def monthly(
    rng: np.random.Generator,
    share: F32,
    holders: I64,
    start: I64,
    stop: I64,
    month_starts: I64,
    t: int,
) -> Events:
    """Monthly bills of the utility accounts held (with an ID) by household holders."""
    has = rng.random(holders.size) < share[holders]
    acct = holders[has]
    meter_day = rng.integers(0, 28, acct.size)
    persons: list[I64] = []
    days: list[I64] = []
    for ms in month_starts:
        day = ms + meter_day
        ok = (day >= start[acct]) & (day < stop[acct])
        persons.append(acct[ok])
        days.append(day[ok])
    person = np.concatenate(persons) if persons else np.zeros(0, np.int64)
    day = np.concatenate(days) if days else np.zeros(0, np.int64)
    return _make(rng, person, day, t, "office")


def alive_events(
    rng: np.random.Generator,
    code: str,
    t: int,
    rate: F32,
    exposure: Exposure,
    weak: bool,
    holders: I64,
    w0: int,
    w1x: int,
    month_starts: I64,
) -> Events:
    """The records of one alive/weak evidence type for everybody."""
    r = RATES[code]
    stop = exposure.weak_stop if weak else exposure.stop
    if r.kind == "poisson":
        return poisson(rng, rate, exposure.start, stop, t, r.hours)
    if r.kind == "annual":
        return annual(rng, rate, exposure.start, stop, w0, w1x, t, r.hours)
    return monthly(rng, rate, holders, exposure.start, stop, month_starts, t)


def status_events(
    rng: np.random.Generator, person: I64, day: I64, death: I64 | None, t: int, w1x: int
) -> Events:
    """Pre-planned status records (deaths, prison, emigration) that fall inside the window."""
    keep = day < w1x
    return _make(rng, person[keep], day[keep], t, "office", None if death is None else death[keep])


def sort_events(ev: Events) -> Events:
    """Sort by event time (day, then second of day); ties by person for determinism."""
    key = (ev.day - ev.day.min()) * 86400 + ev.second if ev.size else ev.day
    order = np.argsort(key, kind="stable")
    return Events(
        ev.person[order],
        ev.type_index[order],
        ev.day[order],
        ev.second[order],
        ev.death_day[order],
    )
