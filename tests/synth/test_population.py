"""The population generator: ID numbers, names, ages, places, deaths, program rules."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from lifesign.catalog import Catalog
from lifesign.registry.ids import birth_date_of, normalize_id_number, sex_of
from lifesign.synth.config import SynthConfig
from lifesign.synth.population import (
    Population,
    annual_hazard,
    generate_population,
)
from lifesign.synth.programs import exclusion_pairs, has, program_bits

TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def pop(catalog: Catalog) -> tuple[SynthConfig, Population]:
    config = SynthConfig(recipients=4000, seed=11, out=Path("unused"))
    return config, generate_population(config, catalog)


@pytest.fixture(scope="module")
def big(catalog: Catalog) -> tuple[SynthConfig, Population]:
    """A larger sample for the statistics (no files written)."""
    config = SynthConfig(recipients=150_000, seed=5, out=Path("unused"))
    return config, generate_population(config, catalog)


def test_sizes(pop: tuple[SynthConfig, Population]) -> None:
    _config, p = pop
    assert p.n == 4000 + 6000
    assert int(p.is_recipient.sum()) == 4000
    assert all(p.is_recipient[:4000]) and not any(p.is_recipient[4000:])


def test_id_numbers_are_valid_unique_and_agree_with_sex_and_birth(
    pop: tuple[SynthConfig, Population],
) -> None:
    _, p = pop
    ids = p.id_number.to_pylist()
    assert len(set(ids)) == p.n
    births = p.birth_date.astype(object)
    for i, number in enumerate(ids):
        assert normalize_id_number(number, today=TODAY) == number
        assert birth_date_of(number) == births[i]
        assert sex_of(number) == ("M" if p.sex[i] == 1 else "F")


def test_region_codes_mostly_the_county_of_residence(
    pop: tuple[SynthConfig, Population], catalog: Catalog
) -> None:
    _, p = pop
    counties = [c.code for c in catalog.regions.counties]
    region = np.array([s[:6] for s in p.id_number.to_pylist()])
    home = np.array(counties)[p.county_index]
    share_home = float((region == home).mean())
    assert 0.8 < share_home < 0.92
    assert float(np.char.startswith(region.astype(str), "34").mean()) > 0.9
    grid_county = [catalog.regions.county_of(g.code).code for g in catalog.regions.grids]
    assert (np.array(grid_county)[p.grid_index] == home).all()


def test_names_are_chinese(pop: tuple[SynthConfig, Population]) -> None:
    _, p = pop
    names = p.name.to_pylist()
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", n) for n in names)
    surnames = [n[0] for n in names]
    top = {s for s in ("王", "李", "张", "刘", "陈")}
    assert 0.25 < sum(s in top for s in surnames) / len(names) < 0.45
    assert len(set(names)) > 0.6 * len(names)


def test_phones(pop: tuple[SynthConfig, Population]) -> None:
    _, p = pop
    phones = p.phone.to_pylist()
    present = [x for x in phones if x is not None]
    assert all(re.fullmatch(r"1[3-9]\d{9}", x) for x in present)
    assert 0.03 < 1 - len(present) / len(phones) < 0.5
    # shared by a household
    by_phone: dict[str, set[int]] = {}
    for i, x in enumerate(phones):
        if x is not None:
            by_phone.setdefault(x, set()).add(int(p.household[i]))
    shared = [h for h in by_phone.values() if len(h) == 1]
    assert len(present) - len(by_phone) > 0.05 * len(present)
    assert len(shared) > 0.9 * len(by_phone)
    # the very old lack a phone more often
    age = p.age_on(date(2024, 11, 1))
    missing = np.array([x is None for x in phones])
    assert missing[age >= 85].mean() > missing[(age >= 20) & (age < 60)].mean()


def test_recipients_mostly_elderly(big: tuple[SynthConfig, Population]) -> None:
    config, p = big
    age = p.age_on(config.window_start)[p.is_recipient]
    assert 0.85 < (age >= 60).mean() < 0.95
    assert ((age >= 60) & (age < 85)).mean() > 0.6
    assert (age >= 100).sum() > 0
    assert (age < 18).sum() > 0
    non = p.age_on(config.window_start)[~p.is_recipient]
    assert (non < 60).mean() > 0.9


def test_urban_share_and_grids(big: tuple[SynthConfig, Population], catalog: Catalog) -> None:
    _, p = big
    grid_urban = np.array([g.urban for g in catalog.regions.grids])
    assert (grid_urban[p.grid_index] == p.urban).all()
    assert 0.2 < p.urban[p.is_recipient].mean() < 0.3


@pytest.mark.parametrize("low,high", [(60, 70), (70, 80), (80, 90), (90, 100)])
def test_death_rates_by_age_band(big: tuple[SynthConfig, Population], low: int, high: int) -> None:
    """Observed deaths per person-year of the window match the Gompertz target (±20 %)."""
    config, p = big
    t0 = np.datetime64(config.window_start, "D")
    t1 = np.datetime64(config.window_end, "D") + 1
    age = p.age_on(config.window_start)
    band = (age >= low) & (age < high)
    dead = ~np.isnat(p.death_date)
    until = np.where(dead, p.death_date, t1)
    exposure_years = ((until - t0).astype(np.int64) / 365.2425)[band].sum()
    observed = dead[band].sum() / exposure_years
    mid_age = (age[band] + 0.5 + 1.0).astype(np.float64)  # at the middle of the window
    expected = annual_hazard(mid_age, p.sex[band]).mean()
    assert observed == pytest.approx(expected, rel=0.2)


def test_men_die_more_than_women(big: tuple[SynthConfig, Population]) -> None:
    config, p = big
    age = p.age_on(config.window_start)
    dead = ~np.isnat(p.death_date)
    old = (age >= 70) & (age < 90)
    assert dead[old & (p.sex == 1)].mean() > dead[old & (p.sex == 0)].mean()


def test_death_recording_and_maoling(big: tuple[SynthConfig, Population], catalog: Catalog) -> None:
    config, p = big
    dead = ~np.isnat(p.death_date)
    assert (p.death_date[dead] >= np.datetime64(config.window_start)).all()
    assert (p.death_date[dead] <= np.datetime64(config.window_end)).all()
    assert p.death_recorded[dead].mean() == pytest.approx(0.95, abs=0.02)
    bits = program_bits(catalog)
    pension = (
        has(p.program_mask, bits["resident_pension"])
        | has(p.program_mask, bits["employee_pension"])
        | has(p.program_mask, bits["civil_servant_pension"])
    )
    assert p.maoling.sum() > 0
    assert not (p.maoling & ~(dead & ~p.death_recorded & pension & p.is_recipient)).any()


def test_rare_statuses(big: tuple[SynthConfig, Population]) -> None:
    _config, p = big
    prison = ~np.isnat(p.imprisoned_on)
    gone = ~np.isnat(p.emigrated_on)
    assert 0 < prison.sum() < 0.005 * p.n
    assert 0 < gone.sum() < 0.005 * p.n
    assert not (prison & gone).any()


def test_program_rules(big: tuple[SynthConfig, Population], catalog: Catalog) -> None:
    config, p = big
    bits = program_bits(catalog)
    mask = p.program_mask
    assert (mask[~p.is_recipient] == 0).all()
    assert (mask[p.is_recipient] != 0).all()
    age_start = p.age_on(config.window_start)
    age_end = p.age_on(config.window_end)
    for code, program in catalog.programs.items():
        enrolled = has(mask, bits[code])
        assert enrolled.sum() > 0, code
        if program.min_age is not None:
            assert (age_end[enrolled] >= program.min_age).all(), code
        if program.max_age is not None:
            assert (age_start[enrolled] <= program.max_age).all(), code
    # One pension per person, except the planted pairs; the large majority resident pension.
    res, emp, civ = (has(mask, bits[c]) for c in ("resident_pension", "employee_pension",
                                                  "civil_servant_pension"))  # fmt: skip
    elderly = p.is_recipient & (age_start >= 60)
    assert (res | emp | civ)[elderly].mean() > 0.99
    assert res[elderly].mean() > 0.75
    # Exclusions: only a handful of planted conflicts.
    conflicts = 0
    for first, second in exclusion_pairs(catalog, bits):
        conflicts += int((has(mask, bits[first]) & has(mask, bits[second])).sum())
    assert 3 <= conflicts <= 0.0005 * p.is_recipient.sum() + 3
    # Everyone 80+ gets the longevity allowance (almost).
    assert has(mask, bits["longevity_allowance"])[p.is_recipient & (age_start >= 80)].mean() > 0.9


def test_same_seed_same_population(catalog: Catalog) -> None:
    config = SynthConfig(recipients=500, seed=3, out=Path("unused"))
    a = generate_population(config, catalog)
    b = generate_population(config, catalog)
    assert a.id_number.equals(b.id_number) and a.name.equals(b.name)
    assert np.array_equal(a.death_date, b.death_date, equal_nan=True)
    assert np.array_equal(a.program_mask, b.program_mask)
    c = generate_population(SynthConfig(recipients=500, seed=4, out=Path("unused")), catalog)
    assert not a.id_number.equals(c.id_number)
