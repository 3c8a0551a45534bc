"""The people of the synthetic city: recipients and the larger non-recipient population.

NOTE for the feeds engineer: the fields of `Population` are the contract. Fields may be added
(at the end, with a note here), never removed or renamed. Added so far: none.

Everything is vectorised with numpy / pyarrow: a Bozhou-scale city (3.4 million people) takes
a few seconds. Randomness comes from one `SeedSequence(seed)` spawned into independent streams
per stage, so a change in one stage does not shift the draws of another.

The model, in short (rates are *illustrative*; docs/synthetic-city.md has the table):

- Ages at the window start: recipients are mostly 60+ following a Gompertz life table with
  cohort effects (the 1959-61 famine dip, the 1962-75 baby boom), a tail past 100; a few are
  children (orphans, dibao families) or working-age adults (disability, dibao, veterans...).
  Non-recipients are of all ages, mostly under 60.
- Deaths during the window at a Gompertz hazard (about 1 %/year at 65, 5 % at 80, 15 % at 90,
  35 % at 100; men x1.2, women x0.83), times a personal frailty tied to `health`.
- ID numbers: the county of residence for most, another Anhui county or another province for
  some; sequence odd for men, even for women; the GB 11643-1999 check character.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lifesign.registry.ids import CHECK_CHARACTERS, WEIGHTS
from lifesign.synth.config import SynthConfig
from lifesign.synth.names import make_names

if TYPE_CHECKING:
    from lifesign.catalog import Catalog

NAT = np.datetime64("NaT", "D")

# Region codes of people born outside the county they live in.
ANHUI_ELSEWHERE = (
    "340102", "340104", "340111", "340202", "340302", "340321", "340402", "340503",
    "340602", "340621", "340702", "340802", "341002", "341102", "341202", "341203",
    "341204", "341221", "341222", "341225", "341226", "341282", "341302", "341321",
    "341322", "341323", "341324", "341502", "341522", "341524",
)  # fmt: skip
CHINA_ELSEWHERE = (
    "410102", "411602", "411621", "411622", "411625", "411627", "411628", "412702",
    "320102", "320311", "321302", "370102", "371702", "110101", "310101", "330102",
    "440103", "420102", "510104", "130102", "610102", "430102",
)  # fmt: skip
SHARE_BORN_IN_COUNTY = 0.86
SHARE_BORN_IN_ANHUI = 0.09  # the rest: another province

MOBILE_PREFIXES = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157,
    158, 159, 173, 176, 177, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 198, 199,
)  # fmt: skip

# Gompertz-Makeham hazard per year: MAKEHAM + GOMPERTZ_A * exp(GOMPERTZ_B * (age - 65)).
MAKEHAM = 0.0004
GOMPERTZ_A = 0.0096
GOMPERTZ_B = 0.105
SEX_FACTOR = {1: 1.2, 0: 0.83}
FRAILTY_SIGMA = 0.5  # log-normal frailty, mean 1

# Recipient kinds: 0 elderly (60+), 1 child, 2 working-age adult.
RECIPIENT_KIND_SHARES = (0.905, 0.02, 0.075)
SHARE_URBAN = {True: 0.25, False: 0.40}  # recipients, non-recipients

# Over the whole 24-month window.
P_IMPRISONED = {True: 0.0002, False: 0.0015}
P_EMIGRATED = {True: 0.0002, False: 0.001}
P_DEATH_RECORDED = 0.95
P_MAOLING_GIVEN_UNRECORDED_PENSIONER = 0.45


@dataclass
class Population:
    """Every array has length n; index i is one person, stable for a seed."""

    n: int
    id_number: pa.StringArray  # canonical 18-char resident ID numbers, unique
    name: pa.StringArray  # Chinese names
    sex: npt.NDArray[np.int8]  # 1 male, 0 female (agrees with the ID's sequence digit)
    birth_date: npt.NDArray[np.datetime64]  # datetime64[D] (agrees with the ID)
    phone: pa.StringArray  # nullable; a household often shares one
    grid_index: npt.NDArray[np.int32]  # index into cat.regions.grids
    county_index: npt.NDArray[np.int8]  # index into cat.regions.counties
    urban: npt.NDArray[np.bool_]
    household: npt.NDArray[np.int64]
    is_recipient: npt.NDArray[np.bool_]
    health: npt.NDArray[np.float32]  # 0 (healthy) .. 1 (frail, chronic disease)
    mobility: npt.NDArray[np.float32]  # 0 (bedridden) .. 1 (travels, goes to the bank)
    death_date: npt.NDArray[np.datetime64]  # datetime64[D]; NaT = alive at window_end
    death_recorded: npt.NDArray[np.bool_]  # False = no department will ever send a death record
    maoling: npt.NDArray[np.bool_]  # planted 冒领: dead, unrecorded, pension still paid
    imprisoned_on: npt.NDArray[np.datetime64]  # datetime64[D] NaT; rare
    emigrated_on: npt.NDArray[np.datetime64]  # datetime64[D] NaT; rare
    in_nursing_home: npt.NDArray[np.bool_]
    disabled: npt.NDArray[np.bool_]  # has a disability certificate
    veteran: npt.NDArray[np.bool_]
    program_mask: npt.NDArray[np.uint32]  # bit k = enrolled in the k-th program of cat.programs

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "n":
                value: Any = getattr(self, f.name)
                if len(value) != self.n:
                    raise ValueError(f"Population.{f.name} has {len(value)} rows, not {self.n}")

    def age_on(self, on: date) -> npt.NDArray[np.int16]:
        """Age in whole years on a date (vectorised)."""
        return age_on(self.birth_date, np.datetime64(on, "D"))


# ---------------------------------------------------------------- date helpers (vectorised)


def ymd(
    d: npt.NDArray[np.datetime64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Year, month (1-12), day (1-31) of datetime64[D] values."""
    months = d.astype("datetime64[M]")
    year = months.astype(np.int64) // 12 + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def age_on(birth: npt.NDArray[np.datetime64], on: np.datetime64) -> npt.NDArray[np.int16]:
    by, bm, bd = ymd(birth)
    oy, om, od = (int(x[0]) for x in ymd(np.array([on], dtype="datetime64[D]")))
    age = oy - by - ((om < bm) | ((om == bm) & (od < bd)))
    return age.astype(np.int16)


def age_between(
    birth: npt.NDArray[np.datetime64], on: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.int16]:
    """Age in whole years on per-person dates."""
    by, bm, bd = ymd(birth)
    oy, om, od = ymd(on)
    return np.asarray(oy - by - ((om < bm) | ((om == bm) & (od < bd))), dtype=np.int16)


def add_years(d: npt.NDArray[np.datetime64], years: int | npt.NDArray[Any]) -> Any:
    """The same day `years` later (29 February -> 28 February in common years)."""
    months = d.astype("datetime64[M]")
    day = (d - months.astype("datetime64[D]")).astype(np.int64)
    target = months + np.asarray(years, dtype=np.int64) * 12
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    return target.astype("datetime64[D]") + np.minimum(day, month_len - 1)


# ---------------------------------------------------------------- mortality


def annual_hazard(age: npt.NDArray[Any], sex: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Death hazard per year at `age` (float years) for sex 1 male / 0 female."""
    base = MAKEHAM + GOMPERTZ_A * np.exp(GOMPERTZ_B * (np.asarray(age, np.float64) - 65.0))
    factor = np.where(np.asarray(sex) == 1, SEX_FACTOR[1], SEX_FACTOR[0])
    return np.asarray(base * factor, dtype=np.float64)


def annual_death_probability(age: float, sex: int | None = None) -> float:
    """Target probability of dying within a year at `age` (both sexes averaged if None)."""
    if sex is None:
        return 0.5 * (annual_death_probability(age, 1) + annual_death_probability(age, 0))
    h = annual_hazard(np.array([age + 0.5]), np.array([sex]))[0]
    return float(1.0 - np.exp(-h))


def _survival(ages: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Stationary life-table survival to each integer age (both sexes averaged)."""
    h = 0.5 * (annual_hazard(ages, np.ones_like(ages)) + annual_hazard(ages, np.zeros_like(ages)))
    return np.asarray(np.exp(-np.concatenate([[0.0], np.cumsum(h)[:-1]])), dtype=np.float64)


def _age_weights_elderly(reference_year: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    ages = np.arange(60, 108, dtype=np.int64)
    born = reference_year - ages
    cohort = np.ones(len(ages))
    cohort[(born >= 1959) & (born <= 1961)] = 0.7  # the famine
    cohort[(born >= 1962) & (born <= 1975)] = 1.15  # the baby boom
    cohort *= np.exp(-0.06 * np.clip(ages - 68, 0, None))  # smaller, harder-hit old cohorts
    w = _survival(np.arange(0, 108, dtype=np.float64))[60:] * cohort
    return ages, w / w.sum()


def _age_weights_general(reference_year: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Non-recipients: all ages, a rural Anhui pyramid (few 20-35s: they work elsewhere)."""
    ages = np.arange(0, 100, dtype=np.int64)
    w = _survival(ages.astype(np.float64))
    born = reference_year - ages
    w = w * np.where((ages >= 20) & (ages < 36), 0.75, 1.0)
    w = w * np.where((born >= 1962) & (born <= 1975), 1.25, 1.0)
    w = w * np.where(ages < 10, 0.8, 1.0)
    w = w * np.where(ages >= 60, 0.06, 1.0)  # most people of 60+ receive a pension
    return ages, w / w.sum()


# ---------------------------------------------------------------- strings (vectorised)


def fixed_width_strings(
    chars: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_] | None = None
) -> pa.StringArray:
    """A pyarrow string array from an (n, width) matrix of ASCII codes, without a Python loop."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    bitmap = None
    null_count = 0
    if valid is not None:
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int(n - valid.sum())
    arr = pa.StringArray.from_buffers(
        n,
        pa.py_buffer(offsets),
        pa.py_buffer(np.ascontiguousarray(chars).tobytes()),
        bitmap,
        null_count,
    )
    return arr


_TRIPLES = np.array([[i // 100, i // 10 % 10, i % 10] for i in range(1000)], dtype=np.uint8)


def digits_matrix(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """The decimal digits of `values`, zero-padded to `width` (three digits per division)."""
    chunks = -(-width // 3)
    out = np.empty((len(values), chunks * 3), dtype=np.uint8)
    rest = values.astype(np.int64)
    for k in range(chunks - 1, -1, -1):
        rest, triple = np.divmod(rest, 1000)
        out[:, 3 * k : 3 * k + 3] = _TRIPLES[triple]
    return out[:, chunks * 3 - width :]


def id_numbers(
    region: npt.NDArray[np.int64], birth: npt.NDArray[np.datetime64], seq: npt.NDArray[np.int64]
) -> pa.StringArray:
    """18-character ID numbers with their check characters."""
    y, m, d = ymd(birth)
    first17 = region * 10**11 + (y * 10000 + m * 100 + d) * 1000 + seq
    digits = digits_matrix(first17, 17)
    check = (digits.astype(np.int64) @ np.array(WEIGHTS, dtype=np.int64)) % 11
    table = np.frombuffer(CHECK_CHARACTERS.encode(), dtype=np.uint8)
    chars = np.empty((len(seq), 18), dtype=np.uint8)
    chars[:, :17] = digits + ord("0")
    chars[:, 17] = table[check]
    return fixed_width_strings(chars)


def old_id_numbers(
    region: npt.NDArray[np.int64], birth: npt.NDArray[np.datetime64], seq: npt.NDArray[np.int64]
) -> pa.StringArray:
    """15-digit pre-1999 ID numbers (two-digit year, no check character)."""
    y, m, d = ymd(birth)
    first15 = region * 10**9 + ((y % 100) * 10000 + m * 100 + d) * 1000 + seq
    return fixed_width_strings(digits_matrix(first15, 15) + ord("0"))


# ---------------------------------------------------------------- the generator


def _streams(seed: int, names: tuple[str, ...]) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(s) for name, s in zip(names, children, strict=True)}


STREAMS = (
    "kind", "age", "place", "id", "name", "phone", "household", "health", "death",
    "status", "flags", "programs", "plant",
)  # fmt: skip


@dataclass
class _Draft:
    """Intermediate arrays shared by the stages of `generate_population`."""

    kind: npt.NDArray[np.int8]  # -1 non-recipient, 0 elderly, 1 child, 2 adult


def generate_population(config: SynthConfig, catalog: Catalog) -> Population:
    """Draw the whole population of the city for `config.seed` (same seed, same arrays)."""
    from lifesign.synth.programs import assign_programs

    rng = _streams(config.seed, STREAMS)
    n_rec = config.recipients
    n = config.people
    t0 = np.datetime64(config.window_start, "D")
    t_end = np.datetime64(config.window_end, "D")
    is_recipient = np.zeros(n, dtype=bool)
    is_recipient[:n_rec] = True

    # --- kind and age at the window start
    kind = np.full(n, -1, dtype=np.int8)
    kind[:n_rec] = rng["kind"].choice(3, size=n_rec, p=RECIPIENT_KIND_SHARES)
    sex = (rng["kind"].random(n) < 0.5).astype(np.int8)
    # elderly women outnumber men: they live longer
    old_age_years = config.window_start.year
    age_years = np.zeros(n, dtype=np.int64)
    r_age = rng["age"]
    elderly = kind == 0
    a, w = _age_weights_elderly(old_age_years)
    age_years[elderly] = r_age.choice(a, size=int(elderly.sum()), p=w)
    child = kind == 1
    age_years[child] = r_age.integers(0, 18, size=int(child.sum()))
    adult = kind == 2
    adult_ages = np.arange(18, 60)
    adult_w = np.where(adult_ages >= 40, 2.0, 1.0)
    age_years[adult] = r_age.choice(adult_ages, size=int(adult.sum()), p=adult_w / adult_w.sum())
    non = kind == -1
    a, w = _age_weights_general(old_age_years)
    age_years[non] = r_age.choice(a, size=int(non.sum()), p=w)
    # Women are more numerous among the very old (men die earlier).
    old = age_years >= 75
    sex[old] = (r_age.random(int(old.sum())) < 0.5 - 0.006 * (age_years[old] - 75)).astype(np.int8)
    age_days = (age_years * 365.2425 + r_age.random(n) * 365.0).astype(np.int64)
    birth_date = t0 - age_days.astype("timedelta64[D]")

    # --- place: grid, county, urban
    grids = catalog.regions.grids
    counties = catalog.regions.counties
    county_pos = {c.code: i for i, c in enumerate(counties)}
    grid_urban = np.array([g.urban for g in grids], dtype=bool)
    grid_county = np.array(
        [county_pos[catalog.regions.county_of(g.code).code] for g in grids], dtype=np.int8
    )
    r_place = rng["place"]
    grid_size = r_place.lognormal(0.0, 0.5, size=len(grids))
    urban_share = np.where(is_recipient, SHARE_URBAN[True], SHARE_URBAN[False])
    urban = r_place.random(n) < urban_share
    if not grid_urban.any():
        urban[:] = False
    if grid_urban.all():
        urban[:] = True
    grid_index = np.empty(n, dtype=np.int32)
    for flag in (True, False):
        candidates = np.flatnonzero(grid_urban == flag)
        who = urban == flag
        if candidates.size and who.any():
            p = grid_size[candidates] / grid_size[candidates].sum()
            grid_index[who] = candidates[r_place.choice(len(candidates), size=int(who.sum()), p=p)]
    county_index = grid_county[grid_index]

    # --- ID numbers
    id_number = _draw_id_numbers(rng["id"], counties, county_index, birth_date, sex)

    # --- names
    by = ymd(birth_date)[0].astype(np.int32)
    name = make_names(rng["name"], sex, by)

    # --- households and phones
    household, head = _households(rng["household"], grid_index)
    phone = _phones(rng["phone"], head, age_years)

    # --- health, mobility, frailty
    r_h = rng["health"]
    z = r_h.standard_normal(n)
    health = 1.0 / (1.0 + np.exp(-(0.09 * (age_years - 72) + 0.9 * z)))
    frailty = np.exp(FRAILTY_SIGMA * z - FRAILTY_SIGMA**2 / 2)
    mobility = np.clip(1.05 - health**1.6 + r_h.normal(0, 0.12, n), 0.0, 1.0)
    mobility[age_years < 6] = np.minimum(mobility[age_years < 6], 0.3)

    # --- flags
    r_f = rng["flags"]
    p_disabled = np.select([kind == 0, kind == 1, kind == 2], [0.07, 0.12, 0.45], 0.03)
    disabled = r_f.random(n) < p_disabled
    mobility[disabled] *= 0.6
    p_veteran = np.select(
        [kind == 0, kind == 2, (kind == -1) & (age_years >= 18)], [0.06, 0.12, 0.01], 0.0
    )
    veteran = (sex == 1) & (r_f.random(n) < p_veteran)
    p_home = np.where(age_years >= 80, 0.03, 0.004) * (kind == 0) + 0.3 * (
        (kind == 0) & (health > 0.9)
    ) * (r_f.random(n) < 0.1)
    in_nursing_home = r_f.random(n) < p_home
    bedridden = in_nursing_home & (r_f.random(n) < 0.4)
    mobility[bedridden] = np.minimum(mobility[bedridden], 0.05)

    # --- deaths in the window (hazard over two years at the mid-window age), other statuses
    r_d = rng["death"]
    span_days = int((t_end - t0).astype(np.int64)) + 1
    span_years = span_days / 365.2425
    hazard = annual_hazard(age_years + age_days % 366 / 365.2425 + span_years / 2, sex) * frailty
    exposure = r_d.exponential(1.0, n) / hazard  # years until death
    dies = exposure < span_years
    death_date = np.full(n, NAT)
    death_date[dies] = t0 + (exposure[dies] * 365.2425).astype(np.int64).astype("timedelta64[D]")
    death_recorded = np.ones(n, dtype=bool)
    death_recorded[dies] = r_d.random(int(dies.sum())) < P_DEATH_RECORDED

    r_s = rng["status"]
    adult_now = age_years >= 18
    imprisoned = adult_now & (
        r_s.random(n) < np.where(is_recipient, P_IMPRISONED[True], P_IMPRISONED[False])
    )
    imprisoned &= ~dies | (r_s.random(n) < 0.0)
    imprisoned_on = np.full(n, NAT)
    imprisoned_on[imprisoned] = t0 + r_s.integers(0, span_days, int(imprisoned.sum())).astype(
        "timedelta64[D]"
    )
    emigrated = (
        (r_s.random(n) < np.where(is_recipient, P_EMIGRATED[True], P_EMIGRATED[False]))
        & ~dies
        & ~imprisoned
    )
    emigrated_on = np.full(n, NAT)
    emigrated_on[emigrated] = t0 + r_s.integers(0, span_days, int(emigrated.sum())).astype(
        "timedelta64[D]"
    )

    pop = Population(
        n=n,
        id_number=id_number,
        name=name,
        sex=sex,
        birth_date=birth_date,
        phone=phone,
        grid_index=grid_index,
        county_index=county_index,
        urban=urban,
        household=household,
        is_recipient=is_recipient,
        health=health.astype(np.float32),
        mobility=mobility.astype(np.float32),
        death_date=death_date,
        death_recorded=death_recorded,
        maoling=np.zeros(n, dtype=bool),
        imprisoned_on=imprisoned_on,
        emigrated_on=emigrated_on,
        in_nursing_home=in_nursing_home,
        disabled=disabled,
        veteran=veteran,
        program_mask=np.zeros(n, dtype=np.uint32),
    )
    pop.program_mask = assign_programs(pop, kind, catalog, config, rng["programs"])
    _plant_maoling(pop, catalog, rng["plant"])
    return pop


def _draw_id_numbers(
    rng: np.random.Generator,
    counties: Any,
    county_index: npt.NDArray[np.int8],
    birth: npt.NDArray[np.datetime64],
    sex: npt.NDArray[np.int8],
) -> pa.StringArray:
    n = len(sex)
    county_codes = np.array([int(c.code) for c in counties], dtype=np.int64)
    region = county_codes[county_index.astype(np.int64)]
    u = rng.random(n)
    anhui = (u >= SHARE_BORN_IN_COUNTY) & (u < SHARE_BORN_IN_COUNTY + SHARE_BORN_IN_ANHUI)
    china = u >= SHARE_BORN_IN_COUNTY + SHARE_BORN_IN_ANHUI
    anhui_codes = np.array([int(c) for c in ANHUI_ELSEWHERE], dtype=np.int64)
    china_codes = np.array([int(c) for c in CHINA_ELSEWHERE], dtype=np.int64)
    region[anhui] = anhui_codes[rng.integers(0, len(anhui_codes), int(anhui.sum()))]
    region[china] = china_codes[rng.integers(0, len(china_codes), int(china.sum()))]
    # Sequence numbers are handed out in order by the police station of the place of birth:
    # within one (region, birth date, sex), consecutive numbers from a random start, so
    # they are unique without a retry loop (odd for men 1..997, even for women 2..998).
    y, m, d = ymd(birth)
    key = (region * 10**8 + y * 10000 + m * 100 + d) * 2 + sex
    order = np.argsort(key)
    sorted_key = key[order]
    start = np.ones(n, dtype=bool)
    start[1:] = sorted_key[1:] != sorted_key[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    rank = np.arange(n) - group_start
    if rank.max(initial=0) >= 499:  # pragma: no cover - needs an absurdly crowded birthday
        raise RuntimeError("more than 499 people of one sex born on one day in one region")
    offset = rng.integers(0, 499, n)[group_start]
    seq = np.empty(n, dtype=np.int64)
    seq[order] = 2 * ((offset + rank) % 499) + np.where(sex[order] == 1, 1, 2)
    return id_numbers(region, birth, seq)


def _households(
    rng: np.random.Generator, grid_index: npt.NDArray[np.int32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Households of 1-6 people inside one grid: (household id, index of its first member)."""
    n = len(grid_index)
    key = (grid_index.astype(np.int64) << 32) | rng.integers(0, 2**32, n, dtype=np.int64)
    order = np.argsort(key)
    sizes = rng.choice(np.arange(1, 7), size=n // 2 + 2, p=[0.22, 0.36, 0.18, 0.13, 0.07, 0.04])
    starts = np.cumsum(sizes)
    starts = starts[starts < n]
    boundary = np.zeros(n, dtype=bool)
    boundary[0] = True
    boundary[starts] = True
    g = grid_index[order]
    boundary[1:] |= g[1:] != g[:-1]
    household = np.empty(n, dtype=np.int64)
    household[order] = np.cumsum(boundary)
    head = np.empty(n, dtype=np.int64)
    head[order] = order[np.maximum.accumulate(np.where(boundary, np.arange(n), 0))]
    return household, head


def _phones(
    rng: np.random.Generator, head: npt.NDArray[np.int64], age: npt.NDArray[np.int64]
) -> pa.StringArray:
    """Own mobile numbers, shared household numbers, missing ones (more often for the old)."""
    n = len(head)
    prefixes = np.array(MOBILE_PREFIXES, dtype=np.int64)
    number = prefixes[rng.integers(0, len(prefixes), n)] * 10**8 + rng.integers(0, 10**8, n)
    p_missing = np.select(
        [age < 14, age >= 85, age >= 75, age >= 65], [0.92, 0.4, 0.18, 0.07], 0.03
    )
    has_own = rng.random(n) >= p_missing
    p_share = np.select([age < 18, age >= 80, age >= 65], [0.85, 0.55, 0.3], 0.1)
    shares = rng.random(n) < p_share
    # The household's number: its first member's own number (if any).
    is_head = head == np.arange(n)
    use_head = shares & ~is_head & has_own[head]
    number = np.where(use_head, number[head], number)
    valid = np.where(use_head, True, has_own)
    return fixed_width_strings(digits_matrix(number, 11) + ord("0"), valid)


def _plant_maoling(pop: Population, catalog: Catalog, rng: np.random.Generator) -> None:
    """Among unrecorded deaths of pensioners, some keep being paid: 冒领."""
    codes = list(catalog.programs)
    pension_bits = np.uint32(0)
    for code in ("resident_pension", "employee_pension", "civil_servant_pension"):
        if code in codes:
            pension_bits |= np.uint32(1 << codes.index(code))
    dead_unrecorded = ~np.isnat(pop.death_date) & ~pop.death_recorded
    candidates = dead_unrecorded & pop.is_recipient & ((pop.program_mask & pension_bits) != 0)
    pop.maoling = candidates & (rng.random(pop.n) < P_MAOLING_GIVEN_UNRECORDED_PENSIONER)
