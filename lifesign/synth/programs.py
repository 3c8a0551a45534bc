"""Enrollment rules: who receives which of the 22 programs.

`assign_programs` draws the program mask of every recipient from take-up rates by kind of
recipient (elderly, child, working-age adult), place (urban/rural), sex and flags (disabled,
veteran), then applies the catalog's rules: ages (`min_age` reached by the window end,
`max_age` not passed at the window start) and exclusions (a conflicting later program is
dropped). Only then are the planted 重领 pairs added (two programs that exclude each other);
every exclusion conflict left in the mask is therefore planted, and listed in the truth.

The rates are *illustrative*, tuned so that 1.36 million recipients give program sizes of the
order a city of Bozhou's size reports (resident pension ~1.1 M, longevity ~140 k, dibao
~60 k...). docs/synthetic-city.md has the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lifesign.synth.config import SynthConfig

if TYPE_CHECKING:
    from lifesign.catalog import Catalog
    from lifesign.synth.population import Population

PENSIONS = ("resident_pension", "employee_pension", "civil_servant_pension")
# Pension shares of the elderly by place: resident, employee, civil servant.
PENSION_SHARES = {False: (0.92, 0.065, 0.015), True: (0.55, 0.35, 0.10)}

# Planted exclusion conflicts (重领 by two programs that exclude each other):
# (program held, program added, share of recipients, candidates' kind or None).
PLANTED_PAIRS = (
    ("dibao", "tekun", 0.00005),
    ("orphan", "unsupported_child", 0.00005),
    ("resident_pension", "employee_pension", 0.00005),
)


def program_bits(catalog: Catalog) -> dict[str, int]:
    """Bit position of each program code in `Population.program_mask`."""
    codes = list(catalog.programs)
    if len(codes) > 32:
        raise ValueError("program_mask holds at most 32 programs")
    return {code: i for i, code in enumerate(codes)}


def has(mask: npt.NDArray[np.uint32], bit: int) -> npt.NDArray[np.bool_]:
    return (mask >> np.uint32(bit)) & np.uint32(1) == 1


def assign_programs(
    pop: Population,
    kind: npt.NDArray[np.int8],
    catalog: Catalog,
    config: SynthConfig,
    rng: np.random.Generator,
) -> npt.NDArray[np.uint32]:
    bits = program_bits(catalog)
    n = pop.n
    mask = np.zeros(n, dtype=np.uint32)
    age_start = pop.age_on(config.window_start).astype(np.int64)
    age_end = pop.age_on(config.window_end).astype(np.int64)
    rural = ~pop.urban
    male = pop.sex == 1
    u = rng.random

    def give(code: str, who: npt.NDArray[np.bool_], p: Any = 1.0) -> None:
        if code in bits:
            chosen = who & (u(n) < p)
            mask[chosen] |= np.uint32(1 << bits[code])

    def held(code: str) -> npt.NDArray[np.bool_]:
        return has(mask, bits[code]) if code in bits else np.zeros(n, dtype=bool)

    elderly = kind == 0
    child = kind == 1
    adult = kind == 2

    # Elderly: exactly one of the three pensions.
    r = u(n)
    res_share = np.where(pop.urban, PENSION_SHARES[True][0], PENSION_SHARES[False][0])
    emp_share = np.where(pop.urban, PENSION_SHARES[True][1], PENSION_SHARES[False][1])
    give("resident_pension", elderly & (r < res_share))
    give("employee_pension", elderly & (r >= res_share) & (r < res_share + emp_share))
    give("civil_servant_pension", elderly & (r >= res_share + emp_share))
    give("longevity_allowance", elderly & (age_end >= 80), 0.97)
    give("landless_farmer", elderly, np.where(pop.urban, 0.03, 0.05))
    give("dibao", elderly, np.where(rural, 0.045, 0.015))
    give("tekun", elderly & ~held("dibao"), np.where(rural, 0.02, 0.006))
    poor = held("dibao") | held("tekun")
    give("disability_living", elderly & pop.disabled & poor, 0.9)
    give("disability_care", elderly & pop.disabled, 0.35)
    give("elderly_care_subsidy", elderly, np.where(poor, 0.6, np.where(age_end >= 80, 0.06, 0.0)))
    give("village_doctor", elderly & rural, 0.003)
    give("family_planning_reward", elderly & rural, 0.06)
    give("family_planning_special", elderly, 0.006)
    give("veteran_elderly", elderly & pop.veteran & rural, 0.85)
    give("veteran_pension", elderly & pop.veteran, 0.25)
    give("village_cadre", elderly & rural & male, 0.015)
    give("poverty_monitoring", elderly & rural, 0.09)
    give("old_party_member", elderly & (age_end >= 70), np.where(male, 0.06, 0.01))
    give("survivor_benefit", elderly & ~male, 0.012)
    give("work_injury", elderly, 0.002)

    # Children: orphans, children without anyone to support them, children of dibao families.
    r = u(n)
    give("orphan", child & (r < 0.35))
    give("unsupported_child", child & (r >= 0.35) & (r < 0.7))
    give("dibao", child & (r >= 0.7))
    give("disability_living", child & pop.disabled, 0.8)
    give("disability_care", child & pop.disabled, 0.4)
    give("poverty_monitoring", child & rural, 0.05)

    # Working-age adults: one main reason to receive something, and what comes with it.
    r = u(n)
    give("disability_living", adult & pop.disabled, 0.7)
    give("disability_care", adult & pop.disabled, 0.45)
    give("dibao", adult & ((r < 0.3) | (pop.disabled & (r < 0.5))))
    give("tekun", adult & ~held("dibao") & pop.disabled, 0.08)
    give("veteran_pension", adult & pop.veteran, 0.7)
    give("work_injury", adult & (age_start >= 30), 0.08)
    give("survivor_benefit", adult, np.where(male, 0.02, 0.07))
    give("family_planning_special", adult & (age_end >= 49), 0.12)
    give("poverty_monitoring", adult & rural, 0.15)
    give("landless_farmer", adult & (age_end >= 60), 0.5)

    mask = _apply_age_rules(mask, catalog, bits, age_start, age_end)
    mask = _apply_exclusions(mask, catalog, bits)
    # Everyone who is a recipient receives something: the fallback is the program with no
    # age rule that suits the kind (dibao for the poor, poverty monitoring otherwise).
    for code in ("poverty_monitoring", "dibao", "disability_living"):
        if code in bits:
            empty = pop.is_recipient & (mask == 0)
            fallback = _apply_age_rules(
                np.where(empty, np.uint32(1 << bits[code]), np.uint32(0)).astype(np.uint32),
                catalog,
                bits,
                age_start,
                age_end,
            )
            mask |= fallback
    mask = _apply_exclusions(mask, catalog, bits)
    _plant_exclusion_pairs(mask, catalog, bits, pop, age_start, age_end, rng)
    return mask


def _apply_age_rules(
    mask: npt.NDArray[np.uint32],
    catalog: Catalog,
    bits: dict[str, int],
    age_start: npt.NDArray[np.int64],
    age_end: npt.NDArray[np.int64],
) -> npt.NDArray[np.uint32]:
    for code, program in catalog.programs.items():
        ok = np.ones(len(mask), dtype=bool)
        if program.min_age is not None:
            ok &= age_end >= program.min_age
        if program.max_age is not None:
            ok &= age_start <= program.max_age
        mask = np.where(ok, mask, mask & ~np.uint32(1 << bits[code])).astype(np.uint32)
    return mask


def exclusion_pairs(catalog: Catalog, bits: dict[str, int]) -> list[tuple[str, str]]:
    """Each pair of programs that exclude each other, once, in catalog order."""
    pairs: list[tuple[str, str]] = []
    for code, program in catalog.programs.items():
        for other in program.excludes:
            if other in bits and bits[other] > bits[code]:
                pairs.append((code, other))
    # Exclusion declared on one side only still counts.
    for code, program in catalog.programs.items():
        for other in program.excludes:
            if other in bits and bits[other] < bits[code] and (other, code) not in pairs:
                pairs.append((other, code))
    return pairs


def _apply_exclusions(
    mask: npt.NDArray[np.uint32], catalog: Catalog, bits: dict[str, int]
) -> npt.NDArray[np.uint32]:
    for first, second in exclusion_pairs(catalog, bits):
        both = has(mask, bits[first]) & has(mask, bits[second])
        mask[both] &= ~np.uint32(1 << bits[second])
    return mask


def _plant_exclusion_pairs(
    mask: npt.NDArray[np.uint32],
    catalog: Catalog,
    bits: dict[str, int],
    pop: Population,
    age_start: npt.NDArray[np.int64],
    age_end: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> None:
    n_rec = int(pop.is_recipient.sum())
    for held, added, share in PLANTED_PAIRS:
        if held not in bits or added not in bits:
            continue
        program = catalog.programs[added]
        ok = has(mask, bits[held]) & pop.is_recipient & np.isnat(pop.death_date)
        if program.min_age is not None:
            ok &= age_end >= program.min_age
        if program.max_age is not None:
            ok &= age_start <= program.max_age
        candidates = np.flatnonzero(ok & (mask != 0))
        if candidates.size == 0:
            continue
        k = min(candidates.size, max(1, round(n_rec * share)))
        chosen = rng.choice(candidates, size=k, replace=False)
        mask[chosen] |= np.uint32(1 << bits[added])
