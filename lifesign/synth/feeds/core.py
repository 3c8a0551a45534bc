"""`write_feeds`: 24 months of evidence from every department, each in its own shape.

The parent process prepares what all feeds share (exposure windows, calibrated rates, the
planned death / prison / emigration records, a pool of unknown people's ID numbers), then
forks `config.workers` processes that each take whole feeds, largest first. A feed's random
stream is seeded from (seed, source name), so the bytes do not depend on scheduling.
"""

from __future__ import annotations

import csv
import multiprocessing as mp
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lifesign.synth.feeds import events as ev
from lifesign.synth.feeds import render
from lifesign.synth.feeds.model import (
    DEATH_RECORDS,
    RATES,
    Calibration,
    calibrate,
    people_from,
)
from lifesign.synth.feeds.shapes import FeedShape, check_shapes, load_shapes

I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]
Progress = Callable[[str, int, int], None]

DIRT_RATE = 0.005
BATCH_ROWS = 1_000_000  # rows rendered at once (bounds a worker's memory)
SLICE_RECORDS = 1_500_000  # feeds expected larger are cut into month slices (parallel tasks)
# kind -> share of the planted dirt
DIRT_KINDS: dict[str, float] = {
    "bad_check_character": 0.14,
    "wrong_length": 0.08,
    "letters_in_id": 0.05,
    "old_15_digit": 0.10,
    "lowercase_x": 0.08,
    "duplicate": 0.20,
    "missing_field": 0.12,
    "future_date": 0.08,
    "unknown_person": 0.15,
}
_KIND_CODES = {k: i + 1 for i, k in enumerate(DIRT_KINDS)}
_KIND_NAMES = {i + 1: k for i, k in enumerate(DIRT_KINDS)}
_ID_MUTATIONS = ("bad_check_character", "wrong_length", "letters_in_id", "old_15_digit")


@dataclass
class FeedReport:
    """What `write_feeds` wrote."""

    records: int = 0
    files: int = 0
    records_by_department: dict[str, int] = field(default_factory=dict)
    records_by_source: dict[str, int] = field(default_factory=dict)
    seconds_by_source: dict[str, float] = field(default_factory=dict)
    dirt: dict[str, int] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)  # window -> share of recipients
    expected_coverage: float = 0.0
    strong_scale: float = 0.0
    weak_scale: float = 0.0
    death_records: int = 0
    seconds: float = 0.0


def _days(d: date) -> int:
    return (d - render.EPOCH).days


def _dates(a: Any, fill: int) -> I64:
    arr = np.asarray(a).astype("datetime64[D]")
    out = arr.astype(np.int64)
    return np.where(np.isnat(arr), fill, out)


def _seed(seed: int, name: str) -> list[int]:
    return [seed, zlib.crc32(name.encode("utf-8"))]


@dataclass
class _Plan:
    """A planned status record per person: `person`, business `day`, `death` day or -1."""

    person: I64
    day: I64
    death: I64 | None = None


@dataclass
class _Context:
    pop: Any
    config: Any
    shapes: tuple[FeedShape, ...]
    strength: dict[str, str]
    establishes: dict[str, str]
    rates: dict[str, npt.NDArray[np.float32]]
    exposure: ev.Exposure
    holders: I64
    plans: dict[str, _Plan]
    unknown_ids: pa.StringArray
    ends_x: BOOL
    born_1900s: BOOL
    birth_day: I64
    w0: int
    w1x: int
    month_starts: I64
    windows: list[tuple[str, int, int]]
    living: list[BOOL]


_CTX: _Context | None = None


@dataclass
class _FeedResult:
    index: int
    part: int
    records: int
    manifest: list[list[Any]]
    dirt: list[list[Any]]
    status: list[list[Any]]
    covered: list[npt.NDArray[np.uint8]]
    seconds: float


# ------------------------------------------------------------------ preparation (parent)


def _month_starts(w0: date, w1: date) -> list[date]:
    out, y, m = [], w0.year, w0.month
    while date(y, m, 1) <= w1:
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _plans(pop: Any, seed: int, w0: int, pensioner: BOOL) -> dict[str, _Plan]:
    rng = np.random.default_rng(_seed(seed, "status-plans"))
    big = np.iinfo(np.int64).max // 4
    death = _dates(pop.death_date, big)
    recorded = np.asarray(pop.death_recorded, bool) & ~np.asarray(pop.maoling, bool)
    dead = np.flatnonzero((death < big) & recorded)
    plans: dict[str, _Plan] = {}
    chosen = np.zeros((len(DEATH_RECORDS), dead.size), bool)
    for k, (code, (p, _lo, _med)) in enumerate(DEATH_RECORDS.items()):
        ok = pensioner[dead] if code == "hrss_funeral_grant" else np.ones(dead.size, bool)
        chosen[k] = ok & (rng.random(dead.size) < p)
    none = ~chosen.any(axis=0)
    chosen[np.where(rng.random(dead.size) < 0.5, 0, 2)[none], np.flatnonzero(none)] = True
    for k, (code, (_p, lo, med)) in enumerate(DEATH_RECORDS.items()):
        person = dead[chosen[k]]
        lag = lo + np.floor(rng.lognormal(np.log(max(med - lo, 0.5)), 0.8, person.size))
        plans[code] = _Plan(person, death[person] + lag.astype(np.int64), death[person])
    imp = _dates(pop.imprisoned_on, big)
    jailed = np.flatnonzero((imp >= w0) & (imp < big))
    plans["justice_prison_admission"] = _Plan(jailed, imp[jailed] + rng.integers(0, 4, jailed.size))
    court_day = imp[jailed] - rng.integers(15, 120, jailed.size)
    keep = court_day >= w0
    plans["court_appearance"] = _Plan(jailed[keep], court_day[keep])
    emi = _dates(pop.emigrated_on, big)
    gone = np.flatnonzero((emi >= w0) & (emi < big))
    plans["ps_emigration_cancellation"] = _Plan(gone, emi[gone] + rng.integers(5, 61, gone.size))
    return plans


def _unknown_ids(pop: Any, seed: int, count: int) -> pa.StringArray:
    """Valid ID numbers of people who are not in the population."""
    from lifesign.registry.ids import check_character

    rng = np.random.default_rng(_seed(seed, "unknown-people"))
    regions = ("341602", "341621", "341622", "341623", "340102", "341202", "320322", "410526")
    out: list[str] = []
    while len(out) < count:
        m = count * 2 + 16
        born = (np.datetime64("1935-01-01") + rng.integers(0, 365 * 70, m)).astype("datetime64[D]")
        seq = rng.integers(0, 1000, m)
        reg = rng.integers(0, len(regions), m)
        cands = []
        for b, s, r in zip(born.tolist(), seq.tolist(), reg.tolist(), strict=True):
            first17 = f"{regions[r]}{b:%Y%m%d}{s:03d}"
            cands.append(first17 + check_character(first17))
        arr = pa.array(cands, pa.string())
        fresh = pc.invert(pc.is_in(arr, value_set=pop.id_number)).to_numpy(zero_copy_only=False)
        out.extend(v for v, ok in zip(cands, fresh.tolist(), strict=True) if ok)
        out = list(dict.fromkeys(out))
    return pa.array(out[:count], pa.string())


def _prepare(
    population: Any, catalog: Any, config: Any
) -> tuple[_Context, Calibration, dict[str, float]]:
    shapes = load_shapes()
    ets = catalog.evidence_types
    strength = {c: str(e.strength) for c, e in ets.items()}
    establishes = {c: str(e.establishes) for c, e in ets.items()}
    check_shapes(shapes, list(catalog.departments), {c: e.department for c, e in ets.items()})
    pop = population
    w0, w1x = _days(config.window_start), _days(config.window_end) + 1
    big = np.iinfo(np.int64).max // 4
    birth = _dates(pop.birth_date, 0)
    death = _dates(pop.death_date, big)
    imp = _dates(pop.imprisoned_on, big)
    emi = _dates(pop.emigrated_on, big)
    start = np.maximum(birth, w0)
    stop = np.minimum(np.minimum(death, imp), np.minimum(emi, w1x))
    maoling = np.asarray(pop.maoling, bool)
    weak_stop = np.where(maoling, np.minimum(np.minimum(imp, emi), w1x), stop)
    exposure = ev.Exposure(start, stop, weak_stop)
    people = people_from(pop, catalog, (w0 + w1x) // 2, config.seed)
    household = np.asarray(pop.household)
    _, first = np.unique(household, return_index=True)
    holders = np.sort(first).astype(np.int64)
    holder_mask = np.zeros(pop.n, bool)
    holder_mask[holders] = True
    years = (np.maximum(stop - start, 0) / 365.25).astype(np.float32)
    rates, cal = calibrate(
        people, strength, establishes, years, holder_mask, int(np.sum(pop.is_recipient))
    )
    plans = _plans(pop, config.seed, w0, people.groups["pensioner"])
    ids = pop.id_number
    ends_x = pc.ends_with(ids, "X").to_numpy(zero_copy_only=False)
    by = np.asarray(pop.birth_date).astype("datetime64[Y]").astype(np.int64) + 1970
    windows = [
        ("last 12 months", w1x - 365, w1x),
        ("middle 12 months", w0 + 182, w0 + 182 + 365),
    ]
    rec = np.asarray(pop.is_recipient, bool)
    living = [rec & (stop >= hi) & (start <= lo) for _, lo, hi in windows]
    n_unknown = max(64, int(people.n * 25.7 / 2.5 * DIRT_RATE * DIRT_KINDS["unknown_person"] * 1.3))
    ctx = _Context(
        pop=pop,
        config=config,
        shapes=shapes,
        strength=strength,
        establishes=establishes,
        rates=rates,
        exposure=exposure,
        holders=holders,
        plans=plans,
        unknown_ids=_unknown_ids(pop, config.seed, n_unknown),
        ends_x=np.asarray(ends_x, bool),
        born_1900s=(by >= 1900) & (by <= 1999),
        birth_day=birth,
        w0=w0,
        w1x=w1x,
        month_starts=np.array(
            [_days(m) for m in _month_starts(config.window_start, config.window_end)], np.int64
        ),
        windows=windows,
        living=living,
    )
    # expected volume per feed: to schedule the largest first
    expected: dict[str, float] = {}
    for s in shapes:
        vol = 0.0
        for code in s.evidence_types:
            if code in RATES and code in rates:
                mult = 12.0 if RATES[code].kind == "monthly" else 1.0
                vol += float(np.sum(rates[code] * years)) * mult
            elif code in plans:
                vol += plans[code].person.size
        expected[s.source] = vol
    return ctx, cal, expected


# ------------------------------------------------------------------ one feed (worker)


def _generate(
    ctx: _Context, shape: FeedShape, rng: np.random.Generator, lo: int, hi: int
) -> ev.Events:
    """The events of one feed in the days [lo, hi) (a slice of the window)."""
    x = ctx.exposure
    exposure = ev.Exposure(
        np.maximum(x.start, lo), np.minimum(x.stop, hi), np.minimum(x.weak_stop, hi)
    )
    months = ctx.month_starts[(ctx.month_starts >= lo) & (ctx.month_starts < hi)]
    parts: list[ev.Events] = []
    for t, code in enumerate(shape.evidence_types):
        if code in ctx.plans:
            plan = ctx.plans[code]
            inside = plan.day >= lo
            death = None if plan.death is None else plan.death[inside]
            parts.append(ev.status_events(rng, plan.person[inside], plan.day[inside], death, t, hi))
        if code in RATES:
            weak = ctx.strength.get(code) == "weak"
            parts.append(
                ev.alive_events(
                    rng, code, t, ctx.rates[code], exposure, weak, ctx.holders,
                    ctx.w0, ctx.w1x, months,
                )
            )  # fmt: skip
    return ev.sort_events(ev.concat(parts))


def _mutate(value: str, kind: str, r: int) -> str:
    if kind == "bad_check_character":
        chars = "0123456789X"
        return value[:17] + chars[(chars.index(value[17]) + 1 + r % 10) % 11]
    if kind == "wrong_length":
        return value[:-1] if r % 2 else value + str(r % 10)
    if kind == "letters_in_id":
        p = 6 + r % 11
        return value[:p] + "OIlB"[r % 4] + value[p + 1 :]
    if kind == "old_15_digit":
        return value[:6] + value[8:17]
    if kind == "lowercase_x":
        return value[:17] + "x"
    return value


@dataclass
class _Rows:
    """The rows of a feed as they will be written, in file order."""

    person: I64  # who the record is about (unknown people: -1)
    type_index: npt.NDArray[np.int16]
    day: I64  # event day as written
    second: npt.NDArray[np.int32]
    death_day: I64
    file_day: I64  # decides the file
    seq: I64  # record number (re-sent duplicates repeat it)
    id_index: I64  # into the id dictionary
    name_person: I64  # whose name / birth date / phone is written
    dirt: npt.NDArray[np.int8]
    missing: npt.NDArray[np.int8]  # column index left empty, or -1


def _plant_dirt(
    ctx: _Context,
    shape: FeedShape,
    e: ev.Events,
    rng: np.random.Generator,
    hi: int,
    seq0: int,
) -> tuple[_Rows, pa.StringArray]:
    n_pop = ctx.pop.n
    n = e.size
    status = np.array(
        [ctx.establishes.get(c) not in ("alive", None) for c in shape.evidence_types], bool
    )
    eligible = np.flatnonzero(~status[e.type_index]) if n else np.zeros(0, np.int64)
    kinds = [k for k in DIRT_KINDS if k != "lowercase_x"]
    weights = np.array([DIRT_KINDS[k] for k in kinds])
    n_dirt = int(rng.binomial(eligible.size, DIRT_RATE * weights.sum())) if eligible.size else 0
    rows = np.sort(rng.choice(eligible, n_dirt, replace=False)) if n_dirt else np.zeros(0, np.int64)
    kind = rng.choice(len(kinds), rows.size, p=weights / weights.sum())
    dirt = np.zeros(n, np.int8)
    dirt[rows] = np.array([_KIND_CODES[k] for k in kinds], np.int8)[kind]
    # lowercase x: only ID numbers that end in X
    xs = eligible[ctx.ends_x[e.person[eligible]] & (dirt[eligible] == 0)] if n else eligible
    n_lx = int(rng.binomial(eligible.size, DIRT_RATE * DIRT_KINDS["lowercase_x"])) if n else 0
    n_lx = min(n_lx, xs.size)
    if n_lx:
        dirt[rng.choice(xs, n_lx, replace=False)] = _KIND_CODES["lowercase_x"]
    # 15-digit numbers only for people born in the 1900s
    old = dirt == _KIND_CODES["old_15_digit"]
    dirt[old & ~ctx.born_1900s[e.person]] = _KIND_CODES["wrong_length"]

    id_index = e.person.copy()
    name_person = e.person.copy()
    person = e.person.copy()
    unknown = np.flatnonzero(dirt == _KIND_CODES["unknown_person"])
    if unknown.size:
        id_index[unknown] = n_pop + rng.integers(0, len(ctx.unknown_ids), unknown.size)
        name_person[unknown] = rng.integers(0, n_pop, unknown.size)
        person[unknown] = -1
    mutated_rows = np.flatnonzero(
        np.isin(dirt, [_KIND_CODES[k] for k in (*_ID_MUTATIONS, "lowercase_x")])
    )
    originals = pc.take(ctx.pop.id_number, pa.array(e.person[mutated_rows])).to_pylist()
    rs = rng.integers(0, 1 << 30, mutated_rows.size).tolist()
    names = [_KIND_NAMES[int(k)] for k in dirt[mutated_rows]]
    mutated = [_mutate(v, k, r) for v, k, r in zip(originals, names, rs, strict=True)]
    extra_base = n_pop + len(ctx.unknown_ids)
    id_index[mutated_rows] = extra_base + np.arange(mutated_rows.size)
    id_dict = pa.concat_arrays([ctx.pop.id_number, ctx.unknown_ids, pa.array(mutated, pa.string())])

    day = e.day.copy()
    future = np.flatnonzero(dirt == _KIND_CODES["future_date"])
    day[future] = ctx.w1x - 1 + rng.integers(1, 366, future.size)
    missing = np.full(n, -1, np.int8)
    miss_rows = np.flatnonzero(dirt == _KIND_CODES["missing_field"])
    if miss_rows.size:
        choices = [
            i for i, c in enumerate(shape.columns)
            if c.field in ("id_number", "event_time", "name", "evidence_type")
        ]  # fmt: skip
        missing[miss_rows] = np.array(choices, np.int8)[
            rng.integers(0, len(choices), miss_rows.size)
        ]
    seq = np.arange(seq0 + 1, seq0 + n + 1, dtype=np.int64)
    file_day = e.day.copy()
    # re-sent duplicates: a copy of the record in a later file
    dup = np.flatnonzero(dirt == _KIND_CODES["duplicate"])
    later = e.day[dup] + rng.integers(1, 46, dup.size)
    if shape.period == "monthly":
        ms = ctx.month_starts
        nxt = np.searchsorted(ms, e.day[dup], side="right")  # index of the next month
        ok = nxt < ms.size
        later = np.where(
            ok, ms[np.minimum(nxt, ms.size - 1)] + rng.integers(0, 20, dup.size), ctx.w1x
        )
    ok = later < hi  # the copy goes in a later file of the same slice
    dirt[dup[~ok]] = 0  # nothing later to re-send it in
    dup, later = dup[ok], later[ok]
    dirt_src = dirt.copy()
    dirt[dup] = 0  # the first sending is clean; the copy carries the mark

    def cat(a: Any, extra: Any) -> Any:
        return np.concatenate([a, extra])

    rows_all = _Rows(
        person=cat(person, person[dup]),
        type_index=cat(e.type_index, e.type_index[dup]),
        day=cat(day, day[dup]),
        second=cat(e.second, e.second[dup]),
        death_day=cat(e.death_day, e.death_day[dup]),
        file_day=cat(file_day, later),
        seq=cat(seq, seq[dup]),
        id_index=cat(id_index, id_index[dup]),
        name_person=cat(name_person, name_person[dup]),
        dirt=cat(dirt, dirt_src[dup]),
        missing=cat(missing, missing[dup]),
    )
    order = np.lexsort((rows_all.seq, rows_all.file_day))
    for f in rows_all.__dataclass_fields__:
        setattr(rows_all, f, getattr(rows_all, f)[order])
    return rows_all, id_dict


def _period_keys(shape: FeedShape, days: I64) -> tuple[I64, list[str]]:
    """Group key per row and the period label of each key."""
    d = days.astype("datetime64[D]")
    if shape.period == "daily":
        keys = days
        uniq = np.unique(keys)
        labels = [str(x).replace("-", "") for x in uniq.astype("datetime64[D]")]
    else:
        keys = d.astype("datetime64[M]").astype(np.int64)
        uniq = np.unique(keys)
        labels = [str(x).replace("-", "") for x in uniq.astype("datetime64[M]")]
    return keys, labels


def _columns(
    ctx: _Context,
    shape: FeedShape,
    r: _Rows,
    sl: slice,
    id_dict: pa.StringArray,
    rng: np.random.Generator,
) -> list[pa.Array]:
    pop = ctx.pop
    n = sl.stop - sl.start
    out: list[pa.Array] = []
    person = r.name_person[sl]
    for j, col in enumerate(shape.columns):
        null = r.missing[sl] == j
        role = col.role
        if role == "record_id":
            arr = render.padded(col.prefix, r.seq[sl], col.width)
        elif role == "id_number":
            arr = pc.take(id_dict, pa.array(r.id_index[sl], mask=null))
        elif role == "name":
            arr = pc.take(pop.name, pa.array(person, mask=null))
        elif role == "phone":
            arr = pc.take(pop.phone, pa.array(person))
        elif role == "evidence_type":
            arr = pc.take(pa.array(shape.type_values), pa.array(r.type_index[sl], mask=null))
        elif role == "event_time":
            assert col.format
            arr = render.date_strings(col.format, r.day[sl], r.second[sl], null)
        elif role == "birth_date":
            assert col.format
            arr = render.date_strings(col.format, ctx.birth_day[person], None, None)
        elif role == "death_date":
            assert col.format
            dd = r.death_day[sl]
            arr = render.date_strings(col.format, np.maximum(dd, 0), None, dd < 0)
        elif role == "sex":
            arr = pc.take(
                pa.array(["女", "男"]), pa.array(np.asarray(pop.sex)[person].astype(np.int64))
            )
        elif role in ("place", "choice"):
            values = col.values or ("",)
            arr = pc.take(pa.array(values), pa.array(rng.integers(0, len(values), n)))
        elif role == "amount":
            lo, hi = int(col.min * 100), int(col.max * 100)
            u = rng.random(n) ** 2  # small amounts are common
            arr = render.amount_strings((lo + u * (hi - lo)).astype(np.int64), col.decimals)
        elif role == "code":
            arr = render.padded(col.prefix, rng.integers(1, 10**col.width, n), col.width)
        elif role == "account":
            acct = (person * 7919 + 104729) % (10**col.width)
            arr = render.padded(col.prefix, acct, col.width)
        else:  # pragma: no cover - shapes are validated
            raise ValueError(role)
        out.append(arr)
    return out


def _xlsx_dates(
    ctx: _Context, shape: FeedShape, r: _Rows, sl: slice
) -> dict[int, npt.NDArray[np.float64]]:
    """Excel serial numbers of the date columns of an XLSX feed (NaN where missing)."""
    out: dict[int, npt.NDArray[np.float64]] = {}
    for j, col in enumerate(shape.columns):
        if col.format != "excel":
            continue
        if col.role == "event_time":
            days = r.day[sl].astype(np.float64)
            days[r.missing[sl] == j] = np.nan
        elif col.role == "birth_date":
            days = ctx.birth_day[r.name_person[sl]].astype(np.float64)
        else:
            dd = r.death_day[sl]
            days = np.where(dd < 0, np.nan, dd.astype(np.float64))
        out[j] = days + render.EXCEL_EPOCH_OFFSET
    return out


def _dirt_column(shape: FeedShape, kind: str, missing: int) -> str:
    """The column a planted dirt record is wrong in."""
    if kind == "missing_field":
        return shape.columns[missing].name
    role = {"future_date": "event_time", "duplicate": "record_id"}.get(kind, "id_number")
    col = shape.column(role)
    return col.name if col else ""


def _slice_bounds(ctx: _Context, part: int, parts: int) -> tuple[int, int]:
    """Days [lo, hi) of slice `part` of `parts`: whole months of the window."""
    ms = ctx.month_starts
    a, b = part * ms.size // parts, (part + 1) * ms.size // parts
    lo = ctx.w0 if part == 0 else int(ms[a])
    hi = ctx.w1x if b >= ms.size else int(ms[b])
    return lo, hi


def _run_feed(task: tuple[int, int, int]) -> _FeedResult:
    """Write slice `part` of `parts` of feed `index`: its own files, its own random stream."""
    index, part, parts = task
    ctx = _CTX
    assert ctx is not None
    t0 = time.perf_counter()
    shape = ctx.shapes[index]
    out_dir: Path = ctx.config.out / "feeds"
    name = shape.source if parts == 1 else f"{shape.source}#{part}/{parts}"
    rng = np.random.default_rng(_seed(ctx.config.seed, name))
    lo, hi = _slice_bounds(ctx, part, parts)
    e = _generate(ctx, shape, rng, lo, hi)
    rid = shape.column("record_id")
    assert rid is not None
    seq0 = 0 if parts == 1 else part * 10 ** max(rid.width - 2, 1)
    rows, id_dict = _plant_dirt(ctx, shape, e, rng, hi, seq0)
    # coverage: clean strong-alive records of the population's own people
    strong = np.array(
        [
            ctx.strength.get(c) == "strong" and ctx.establishes.get(c) == "alive"
            for c in shape.evidence_types
        ],
        bool,
    )
    clean = (rows.dirt == 0) & (rows.person >= 0) & strong[rows.type_index]
    covered: list[npt.NDArray[np.uint8]] = []
    for _, lo, hi in ctx.windows:
        hit = np.zeros(ctx.pop.n, bool)
        sel = clean & (rows.day >= lo) & (rows.day < hi)
        hit[rows.person[sel]] = True
        covered.append(np.packbits(hit))
    keys, labels = _period_keys(shape, rows.file_day)
    bounds = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate([[0], bounds]) if keys.size else np.zeros(0, np.int64)
    ends = np.concatenate([bounds, [keys.size]]) if keys.size else np.zeros(0, np.int64)
    header = 0 if shape.format == "jsonl" else 1
    manifest: list[list[Any]] = []
    dirt_rows: list[list[Any]] = []
    status_rows: list[list[Any]] = []
    status_types = {
        t: ctx.establishes[c]
        for t, c in enumerate(shape.evidence_types)
        if ctx.establishes.get(c) not in ("alive", None)
    }
    made: set[Path] = set()
    files = list(zip(labels, starts.tolist(), ends.tolist(), strict=True))
    # Render a batch of consecutive files at once (bounded rows), then cut it per file.
    batches: list[list[tuple[str, int, int]]] = []
    for f in files:
        if batches and f[2] - batches[-1][0][1] <= BATCH_ROWS:
            batches[-1].append(f)
        else:
            batches.append([f])
    for batch in batches:
        ba, bb = batch[0][1], batch[-1][2]
        cols = _columns(ctx, shape, rows, slice(ba, bb), id_dict, rng)
        rid_col = next(k for k, c in enumerate(shape.columns) if c.field == "record_id")
        lines = None
        if shape.format == "csv":
            lines = render.csv_lines(cols)
        elif shape.format == "jsonl":
            lines = render.jsonl_lines(shape, cols)
        for label, a, b in batch:
            rel = shape.file_for(label)
            path = out_dir / rel
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            sl = slice(a, b)
            if lines is not None:
                body = render.slice_bytes(lines, a - ba, b - ba)
                head = render.csv_header(shape) if shape.format == "csv" else b""
                path.write_bytes(render.encode(head + body, shape.encoding))
            else:
                fcols = [c.slice(a - ba, b - a) for c in cols]
                path.write_bytes(render.xlsx_bytes(shape, fcols, _xlsx_dates(ctx, shape, rows, sl)))
            ok_days = rows.day[sl][(rows.dirt[sl] != _KIND_CODES["future_date"])]
            first = str(ok_days.min().astype("datetime64[D]")) if ok_days.size else ""
            last = str(ok_days.max().astype("datetime64[D]")) if ok_days.size else ""
            manifest.append(
                [shape.department, shape.source, rel, shape.format, shape.encoding, b - a,
                 first, last]
            )  # fmt: skip
            d = rows.dirt[sl]
            for i in np.flatnonzero(d).tolist():
                kind = _KIND_NAMES[int(d[i])]
                dirt_rows.append(
                    [shape.department, shape.source, rel, i + 1 + header, kind,
                     _dirt_column(shape, kind, int(rows.missing[a + i])),
                     cols[rid_col][a - ba + i].as_py()]
                )  # fmt: skip
            for t, status in status_types.items():
                for i in np.flatnonzero(rows.type_index[sl] == t).tolist():
                    k = a + i
                    if rows.dirt[k]:
                        continue
                    dd = int(rows.death_day[k])
                    status_rows.append(
                        [
                            int(rows.person[k]), shape.department, shape.evidence_types[t],
                            status, str(np.datetime64(dd, "D")) if dd >= 0 else "",
                            str(np.datetime64(int(rows.day[k]), "D")),
                            (int(rows.day[k]) - dd) if dd >= 0 else "",
                            rel, i + 1 + header,
                        ]
                    )  # fmt: skip
    return _FeedResult(
        index=index,
        part=part,
        records=int(rows.person.size),
        manifest=manifest,
        dirt=dirt_rows,
        status=status_rows,
        covered=covered,
        seconds=time.perf_counter() - t0,
    )


# ------------------------------------------------------------------ entry point


def write_feeds(
    population: Any, catalog: Any, config: Any, progress: Progress | None = None
) -> FeedReport:
    """Write every department's feeds under `config.out/feeds/`, the manifest, and the truth
    files `truth/dirt.csv`, `truth/death_records.csv`, `truth/status_records.csv`."""
    global _CTX
    t0 = time.perf_counter()
    ctx, cal, expected = _prepare(population, catalog, config)
    out = Path(config.out)
    (out / "feeds").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    # Big feeds are cut into month slices written in parallel, largest tasks first.
    tasks: list[tuple[int, int, int]] = []
    for i, shape in enumerate(ctx.shapes):
        parts = max(1, min(8, int(np.ceil(expected[shape.source] / SLICE_RECORDS))))
        tasks.extend((i, k, parts) for k in range(parts))
    order = sorted(tasks, key=lambda t: -expected[ctx.shapes[t[0]].source] / t[2])
    total = len(order)
    results: list[_FeedResult] = []
    _CTX = ctx
    try:
        workers = max(1, int(getattr(config, "workers", 1)))
        if workers == 1:
            for task in order:
                results.append(_run_feed(task))
                if progress:
                    progress(ctx.shapes[task[0]].source, len(results), total)
        else:
            with mp.get_context("fork").Pool(workers) as pool:
                for res in pool.imap_unordered(_run_feed, order):
                    results.append(res)
                    if progress:
                        progress(ctx.shapes[res.index].source, len(results), total)
    finally:
        _CTX = None
    results.sort(key=lambda r: (r.index, r.part))
    report = FeedReport(
        expected_coverage=cal.expected_coverage,
        strong_scale=cal.strong_scale,
        weak_scale=cal.weak_scale,
    )
    n = population.n
    covered = [np.zeros(n, bool) for _ in ctx.windows]
    for res in results:
        shape = ctx.shapes[res.index]
        report.records += res.records
        report.records_by_source[shape.source] = (
            report.records_by_source.get(shape.source, 0) + res.records
        )
        report.records_by_department[shape.department] = (
            report.records_by_department.get(shape.department, 0) + res.records
        )
        report.seconds_by_source[shape.source] = (
            report.seconds_by_source.get(shape.source, 0.0) + res.seconds
        )
        report.files += len(res.manifest)
        for k, bits in enumerate(res.covered):
            covered[k] |= np.unpackbits(bits, count=n).astype(bool)
        for row in res.dirt:
            report.dirt[row[4]] = report.dirt.get(row[4], 0) + 1
    for (label, _, _), cov, living in zip(ctx.windows, covered, ctx.living, strict=True):
        report.coverage[label] = float(cov[living].mean()) if living.any() else 0.0
    _write_truth(out, population, results)
    report.death_records = sum(1 for r in results for s in r.status if s[3] == "deceased")
    report.seconds = time.perf_counter() - t0
    return report


def _write_truth(out: Path, population: Any, results: list[_FeedResult]) -> None:
    with (out / "feeds" / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["department", "source", "file", "format", "encoding", "records",
                    "first_event", "last_event"])  # fmt: skip
        for res in results:
            w.writerows(res.manifest)
    with (out / "truth" / "dirt.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["department", "source", "file", "line", "kind", "column", "record_id"])
        for res in results:
            w.writerows(res.dirt)
    status = [s for r in results for s in r.status]
    ids = pc.take(population.id_number, pa.array([s[0] for s in status], pa.int64())).to_pylist()
    header = ["id_number", "department", "evidence_type", "status", "death_date", "record_date",
              "lag_days", "file", "line"]  # fmt: skip
    with (
        (out / "truth" / "status_records.csv").open("w", newline="", encoding="utf-8") as fs,
        (out / "truth" / "death_records.csv").open("w", newline="", encoding="utf-8") as fd,
    ):
        ws, wd = csv.writer(fs, lineterminator="\n"), csv.writer(fd, lineterminator="\n")
        ws.writerow(header)
        wd.writerow([h for h in header if h != "status"])
        for idn, s in zip(ids, status, strict=True):
            ws.writerow([idn, *s[1:]])
            if s[3] == "deceased":
                wd.writerow([idn, s[1], s[2], *s[4:]])
