"""The event model: how often each person produces each kind of evidence record.

Every evidence type has a rule (`RATES`): which people can produce it, a base yearly rate
and how age, health, mobility and urban/rural life change it. Three kinds of process:

- ``poisson``: records arrive at random at the person's yearly rate while they are active;
- ``annual``: at most one record per 12-month block, with probability `base` (yearly
  programmes: the over-65 health check, the dibao home check, the veterans' visit...);
- ``monthly``: a utility account bills every month; accounts belong to one person of a
  household (the holder), and only a fraction `base` of households' accounts carry an ID.

Every person has a latent engagement factor (gamma distributed, mean 1) multiplying the
Poisson rates: some people simply meet institutions less often. Two scale factors are then
solved for (`calibrate`): one multiplies the strong-alive rates so that the expected share of
living recipients with a strong record in 12 months is the target (80%); the other scales the
weak rates so that the expected total volume is the target (25.7 records per recipient, as in
Bozhou: 34.9 M records for 1.36 M recipients).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
BOOL = npt.NDArray[np.bool_]

DAYS_PER_YEAR = 365.25
ENGAGEMENT_SHAPE = 1.6  # gamma shape of the engagement factor (higher: more alike)
COVERAGE_TARGET = 0.80
RECORDS_PER_RECIPIENT = 25.7


@dataclass(frozen=True)
class Rate:
    kind: str  # poisson | annual | monthly
    base: float  # yearly rate; probability per year (annual); account share (monthly)
    who: str = "all"  # eligibility (see `eligible`)
    age: str = "flat"  # age curve: flat | elder | working
    health: float = 0.0  # multiplier 1 + health * h (h: 0 healthy .. 1 frail)
    mobility: float = 0.0  # multiplier m ** mobility (m: 0 bedridden .. 1 travels)
    urban: float = 1.0  # multiplier for urban residents
    rural: float = 1.0  # multiplier for rural residents
    hours: str = "office"  # office | day | any: time of day of the records


# Yearly rates per person. Strong-alive rates are multiplied by the calibrated strong scale,
# weak ones by the calibrated weak scale.
RATES: dict[str, Rate] = {
    # medical insurance
    "mi_inpatient": Rate("poisson", 0.10, age="elder", health=5.0, hours="day"),
    "mi_chronic_outpatient": Rate("poisson", 1.6, who="chronic", age="elder", health=1.0),
    "mi_pharmacy_face": Rate(
        "poisson", 0.35, who="adult", mobility=1.0, urban=1.8, rural=0.5, hours="day"
    ),
    "mi_outpatient": Rate("poisson", 0.55, health=1.5, mobility=0.5, hours="day"),
    # health
    "hc_elderly_checkup": Rate("annual", 0.45, who="elder65", mobility=0.3, rural=1.15),
    "hc_family_doctor": Rate("poisson", 0.30, who="elder60", health=2.0, rural=1.3),
    "hc_chronic_followup": Rate("poisson", 1.0, who="chronic", rural=1.2),
    # public security
    "ps_id_card": Rate("poisson", 0.05),
    "ps_household_business": Rate("poisson", 0.03, who="adult"),
    "ps_hotel_checkin": Rate(
        "poisson", 0.35, who="adult", age="working", mobility=2.0, urban=1.4, hours="any"
    ),
    "ps_driving_licence": Rate("poisson", 0.06, who="adult", age="working", mobility=1.0),
    # travel
    "rail_boarding": Rate(
        "poisson", 0.40, who="adult", age="working", mobility=2.0, urban=1.3, hours="day"
    ),
    "flight_boarding": Rate(
        "poisson", 0.06, who="adult", age="working", mobility=2.0, urban=2.0, rural=0.5, hours="day"
    ),
    "senior_bus_ride": Rate("poisson", 3.0, who="senior_card", mobility=1.5, hours="day"),
    # civil affairs
    "ca_nursing_home_check": Rate("poisson", 4.0, who="nursing"),
    "ca_home_care_checkin": Rate("poisson", 6.0, who="home_care"),
    "ca_dibao_home_check": Rate("annual", 0.85, who="dibao"),
    # hrss
    "hrss_card_counter": Rate("poisson", 0.06, who="adult", mobility=1.0),
    "hrss_app_face_login": Rate(
        "poisson", 0.25, who="phone_adult", age="working", urban=1.4, hours="any"
    ),
    # bank, post
    "bank_counter": Rate("poisson", 0.30, who="adult", mobility=0.7),
    "bank_card_replacement": Rate("poisson", 0.02, who="adult"),
    "post_pension_counter": Rate("poisson", 4.0, who="post_pensioner", mobility=1.0),
    # other counters
    "tax_in_person": Rate("poisson", 0.04, who="adult", age="working"),
    "hpf_withdrawal": Rate("poisson", 0.10, who="adult", age="working", urban=1.8, rural=0.3),
    "real_estate_registration": Rate("poisson", 0.02, who="adult"),
    "business_registration": Rate("poisson", 0.03, who="adult", age="working"),
    "notarisation": Rate("poisson", 0.01, who="adult"),
    "court_appearance": Rate("poisson", 0.005, who="adult", age="working"),
    "scenic_senior_entry": Rate(
        "poisson", 0.20, who="elder60", mobility=2.0, urban=1.5, hours="day"
    ),
    "veteran_annual_visit": Rate("annual", 0.90, who="veteran"),
    "disability_assessment": Rate("annual", 0.15, who="disabled"),
    "gsc_in_person": Rate("poisson", 0.07, who="adult", mobility=1.0),
    "ag_poverty_visit": Rate("poisson", 2.0, who="poverty"),
    # weak
    "power_use": Rate("monthly", 0.12),
    "water_use": Rate("monthly", 0.07),
    "gas_use": Rate("monthly", 0.25, urban=1.0, rural=0.0),
    "telecom_activity": Rate("poisson", 0.50, who="phone", hours="any"),
    "bank_atm_withdrawal": Rate("poisson", 0.9, who="adult", hours="any"),
    "mi_pharmacy_swipe": Rate("poisson", 1.2, health=1.0, hours="day"),
    "cable_tv_payment": Rate("poisson", 0.20, who="adult40", hours="day"),
    "community_signin": Rate("poisson", 0.30, who="elder60", mobility=1.0),
    "gsc_hotline_call": Rate("poisson", 0.04, who="phone_adult", hours="day"),
}

# Status records: which of them a recorded death produces, with what probability, and the lag
# (days after death) of the department's business date: (probability, min lag, median lag).
DEATH_RECORDS: dict[str, tuple[float, int, float]] = {
    "funeral_cremation": (0.80, 1, 3.0),
    "hc_death_certificate": (0.65, 0, 1.5),
    "ps_household_cancellation": (0.85, 3, 25.0),
    "hrss_funeral_grant": (0.55, 10, 45.0),  # pensioners only
}


@dataclass
class People:
    """The per-person attributes the model needs (views of the Population arrays)."""

    n: int
    age: F32  # years at the middle of the window
    health: F32
    mobility: F32
    urban: BOOL
    has_phone: BOOL
    is_recipient: BOOL
    groups: dict[str, BOOL]  # named eligibility groups
    engagement: F32


def _program_codes(catalog: Any) -> list[str]:
    progs = catalog.programs
    if isinstance(progs, Mapping):
        return [str(k) for k in progs]
    return [str(getattr(p, "code", p)) for p in progs]


def people_from(population: Any, catalog: Any, mid_day: int, seed: int) -> People:
    """Derive the model's per-person attributes from a Population."""
    pop = population
    n = int(pop.n)
    birth = np.asarray(pop.birth_date).astype("datetime64[D]").astype(np.int64)
    age = ((mid_day - birth) / DAYS_PER_YEAR).astype(np.float32)
    health = np.asarray(pop.health, dtype=np.float32)
    mobility = np.asarray(pop.mobility, dtype=np.float32)
    urban = np.asarray(pop.urban, dtype=bool)
    is_rec = np.asarray(pop.is_recipient, dtype=bool)
    phone_valid = pop.phone.is_valid()
    has_phone = np.asarray(phone_valid.to_numpy(zero_copy_only=False), dtype=bool)
    mask = np.asarray(pop.program_mask, dtype=np.uint32)
    codes = _program_codes(catalog)

    def enrolled(*progs: str) -> BOOL:
        bits = np.uint32(0)
        for p in progs:
            if p in codes:
                bits |= np.uint32(1 << codes.index(p))
        return np.asarray((mask & bits) != 0, dtype=bool)

    rng = np.random.default_rng([seed, 0xE9A6E])
    engagement = (rng.gamma(ENGAGEMENT_SHAPE, 1.0 / ENGAGEMENT_SHAPE, n)).astype(np.float32)
    # A person's own draws, stable across departments: chronic illness, home care, cards.
    u = rng.random((3, n), dtype=np.float32)
    adult = age >= 18
    groups = {
        "all": np.ones(n, dtype=bool),
        "adult": adult,
        "adult40": age >= 40,
        "elder60": age >= 60,
        "elder65": age >= 65,
        "phone": has_phone,
        "phone_adult": has_phone & adult,
        "chronic": u[0] < 0.08 + 0.8 * health * np.clip(age / 70.0, 0.2, 1.3),
        "nursing": np.asarray(pop.in_nursing_home, dtype=bool),
        "home_care": (age >= 70) & (health > 0.45) & (u[1] < 0.35),
        "senior_card": (age >= 60) & urban & (u[2] < 0.45),
        "veteran": np.asarray(pop.veteran, dtype=bool),
        "disabled": np.asarray(pop.disabled, dtype=bool),
        "dibao": enrolled("dibao", "tekun"),
        "poverty": enrolled("poverty_monitoring") & ~urban,
        "post_pensioner": enrolled("resident_pension", "landless_farmer") & ~urban & (u[2] < 0.35),
        "pensioner": enrolled(
            "resident_pension", "employee_pension", "civil_servant_pension", "landless_farmer"
        ),
    }
    return People(n, age, health, mobility, urban, has_phone, is_rec, groups, engagement)


def _age_curve(kind: str, age: F32) -> F32:
    if kind == "elder":
        return np.asarray(np.clip(0.3 + (age - 20.0) / 45.0, 0.3, 1.8), dtype=np.float32)
    if kind == "working":
        return np.asarray(np.clip(1.0 - (age - 60.0) / 25.0, 0.15, 1.0), dtype=np.float32)
    return np.ones_like(age)


def raw_rate(code: str, people: People) -> F32:
    """The uncalibrated yearly rate (or probability, or account share) of `code` per person."""
    r = RATES[code]
    p = people
    out = _age_curve(r.age, p.age)
    if r.health:
        out = out * np.maximum(1.0 + r.health * p.health, 0.05)
    if r.mobility:
        out = out * np.power(np.clip(p.mobility, 0.0, 1.0), r.mobility)
    if r.urban != 1.0 or r.rural != 1.0:
        out = out * np.where(p.urban, np.float32(r.urban), np.float32(r.rural))
    out = out * np.float32(r.base) * p.groups[r.who]
    out = out * p.engagement if r.kind == "poisson" else np.clip(out, 0.0, 1.0)
    return out.astype(np.float32)


@dataclass(frozen=True)
class Calibration:
    strong_scale: float
    weak_scale: float
    expected_coverage: float
    expected_records: float


def calibrate(
    people: People,
    strength: Mapping[str, str],
    establishes: Mapping[str, str],
    active_years: F32,
    holders: BOOL,
    recipients: int,
) -> tuple[dict[str, F32], Calibration]:
    """Compute every type's rates, solve the two scale factors and apply them."""
    rates = {code: raw_rate(code, people) for code in RATES}
    rec = people.is_recipient & (active_years > 0.999)  # alive recipients all along
    lam = np.zeros(people.n, dtype=np.float64)
    miss_annual = np.ones(people.n, dtype=np.float64)
    for code, rate in rates.items():
        if strength.get(code) != "strong" or establishes.get(code) != "alive":
            continue
        if RATES[code].kind == "poisson":
            lam += rate
        else:
            miss_annual *= 1.0 - rate
    lam_r, miss_r = lam[rec], miss_annual[rec]

    def coverage(k: float) -> float:
        return float(1.0 - np.mean(np.exp(-k * lam_r) * miss_r)) if lam_r.size else 0.0

    lo, hi = 0.01, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if coverage(mid) < COVERAGE_TARGET else (lo, mid)
    strong_scale = (lo + hi) / 2
    years = active_years.astype(np.float64)
    strong_vol = weak_vol = 0.0
    for code, rate in rates.items():
        kind = RATES[code].kind
        if kind == "monthly":
            vol = float(np.sum(rate * holders * (years * 12.0)))
        elif kind == "annual":
            vol = float(np.sum(rate * years))
        else:
            vol = float(np.sum(rate * years))
        if strength.get(code) == "weak":
            weak_vol += vol
        elif kind == "poisson" and establishes.get(code) == "alive":
            strong_vol += vol * strong_scale
        else:
            strong_vol += vol
    target = RECORDS_PER_RECIPIENT * recipients
    weak_scale = float(np.clip((target - strong_vol) / max(weak_vol, 1.0), 0.1, 3.0))
    for code in rates:
        if strength.get(code) == "weak":
            scaled = rates[code] * np.float32(weak_scale)
            if RATES[code].kind == "monthly":
                scaled = np.clip(scaled, 0.0, 1.0)
            rates[code] = scaled.astype(np.float32)
        elif RATES[code].kind == "poisson" and establishes.get(code) == "alive":
            rates[code] = (rates[code] * np.float32(strong_scale)).astype(np.float32)
    cal = Calibration(
        strong_scale=strong_scale,
        weak_scale=weak_scale,
        expected_coverage=coverage(strong_scale),
        expected_records=strong_vol + weak_vol * weak_scale,
    )
    return rates, cal
