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

from dataclasses import dataclass
from datetime import date
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
    out: npt.NDArray[np.bool_] = (mask >> np.uint32(bit)) & np.uint32(1) == 1
    return out


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
    # An age rule must be met on the first day of the last month the person lives in the
    # window (entitlement starts on the first of a month): the window end, or the death.
    from lifesign.synth.population import age_between

    last_day = np.datetime64(config.window_end, "D")
    alive_until = np.where(np.isnat(pop.death_date), last_day, pop.death_date)
    alive_until = alive_until.astype("datetime64[M]").astype("datetime64[D]")
    age_end = age_between(pop.birth_date, alive_until).astype(np.int64)
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


# ---------------------------------------------------------------- enrollments and the ledger

# The year each program began to be paid in Bozhou (illustrative): no enrollment starts before.
PROGRAM_SINCE = {
    "resident_pension": "2010-07-01",
    "longevity_allowance": "2012-01-01",
    "dibao": "2008-01-01",
    "tekun": "2016-01-01",
    "disability_living": "2016-01-01",
    "disability_care": "2016-01-01",
    "unsupported_child": "2020-01-01",
    "elderly_care_subsidy": "2015-01-01",
    "poverty_monitoring": "2021-01-01",
    "landless_farmer": "2008-01-01",
}
DEFAULT_SINCE = "2005-01-01"
# Retirement ages of the two contributory pensions without an age rule in the catalog.
RETIREMENT_AGE = {
    "employee_pension": {1: 60, 0: 50},
    "civil_servant_pension": {1: 60, 0: 55},
}
# Programs people leave while alive (share of enrollments ending inside the window).
EXIT_SHARE = {"dibao": 0.12, "poverty_monitoring": 0.08, "tekun": 0.02, "work_injury": 0.02}
# Months between a recorded death (or imprisonment, emigration) and the last payment.
STOP_LAG_MONTHS = np.array([0, 1, 2, 3, 4, 6])
STOP_LAG_P = np.array([0.1, 0.45, 0.3, 0.08, 0.04, 0.03])
PAY_DAY = {"hrss": 10, "civil_affairs": 15}  # day of the month each owner pays; default 20
DEFAULT_PAY_DAY = 20

# Status codes of enrollments.
ACTIVE, SUSPENDED, TERMINATED = 0, 1, 2
STATUS_NAMES = ("active", "suspended", "terminated")

# End / stop causes.
CAUSE_NONE, CAUSE_AGE, CAUSE_EXIT, CAUSE_DEATH, CAUSE_PRISON, CAUSE_EMIGRATION = range(6)
CAUSE_UNRECORDED_DEATH, CAUSE_MAOLING = 6, 7

SHARE_DUPLICATE_REGISTRATION = 0.0001
SHARE_DOUBLE_PAYMENT = 0.0001
SHARE_ABOVE_STANDARD = 0.0001


@dataclass
class Enrollments:
    """One row per enrollment (person x program), plus the planted duplicates at the end."""

    person: npt.NDArray[np.int64]  # index into the population
    program: npt.NDArray[np.int16]  # bit / index into cat.programs
    seq: npt.NDArray[np.int64]  # running number inside the program (for the enrollment id)
    start: npt.NDArray[np.datetime64]
    end: npt.NDArray[np.datetime64]  # NaT = open
    status: npt.NDArray[np.int8]
    cause: npt.NDArray[np.int8]  # why it ended or stopped (CAUSE_*), for the truth
    first_period: npt.NDArray[np.int32]  # first window month paid (0-based); may be > last
    last_period: npt.NDArray[np.int32]  # last window month paid
    monthly_cents: npt.NDArray[np.int64]  # the amount on the enrollment (as of end or as-of)
    old_id: npt.NDArray[np.bool_]  # written with the person's 15-digit ID number
    extra_cents: npt.NDArray[np.int64]  # planted: added to every payment (above standard)
    double_period: npt.NDArray[np.int32]  # planted: the period paid twice the amount, or -1
    duplicate_of: npt.NDArray[np.int64]  # planted duplicate: row of the original, or -1

    def __len__(self) -> int:
        return len(self.person)

    @property
    def payment_count(self) -> npt.NDArray[np.int64]:
        count: npt.NDArray[np.int64] = np.maximum(
            0, self.last_period.astype(np.int64) - self.first_period + 1
        )
        return count


@dataclass(frozen=True)
class AmountTable:
    """Monthly amount in cents by program, window month and age (0..MAX_AGE) from the catalog."""

    cents: npt.NDArray[np.int64]  # (programs, months, ages)
    pay_day: npt.NDArray[np.int64]  # (programs,)

    MAX_AGE = 120


def month_index(d: npt.NDArray[np.datetime64], window_start: date) -> npt.NDArray[np.int64]:
    """Months from the window's first month (0 = the first month); NaT -> a large number."""
    m0 = np.datetime64(window_start, "M").astype(np.int64)
    out = d.astype("datetime64[M]").astype(np.int64) - m0
    return np.where(np.isnat(d), 10**6, out)


def first_of_month(months_from_start: npt.NDArray[np.int64], window_start: date) -> Any:
    m0 = np.datetime64(window_start, "M")
    return (m0 + months_from_start.astype("timedelta64[M]")).astype("datetime64[D]")


def amount_table(catalog: Catalog, config: SynthConfig) -> AmountTable:
    """`monthly_amount(first day of the month, age)` for every program, window month, age."""
    months = config.months
    ages = AmountTable.MAX_AGE + 1
    cents = np.zeros((len(catalog.programs), months, ages), dtype=np.int64)
    pay_day = np.full(len(catalog.programs), DEFAULT_PAY_DAY, dtype=np.int64)
    firsts = first_of_month(np.arange(months), config.window_start)
    for k, program in enumerate(catalog.programs.values()):
        pay_day[k] = PAY_DAY.get(program.owner, DEFAULT_PAY_DAY)
        tiers = sorted({r.min_age for r in program.amounts if r.min_age is not None})
        bounds = [0, *tiers]  # the amount only changes at a tier's age
        for m in range(months):
            on = firsts[m].astype(date)
            for i, lo in enumerate(bounds):
                hi = bounds[i + 1] if i + 1 < len(bounds) else ages
                try:
                    value = program.monthly_amount(on, lo)
                except Exception:  # no rule in force, or below the lowest tier
                    value = None
                if value is not None:
                    cents[k, m, lo:hi] = int(value * 100)
    return AmountTable(cents, pay_day)


def _age_in_months(
    birth: npt.NDArray[np.datetime64], period_abs: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Age in whole years on the first day of month `period_abs` (months since 1970-01)."""
    bm = birth.astype("datetime64[M]")
    late = (birth - bm.astype("datetime64[D]")).astype(np.int64) > 0
    return np.asarray((period_abs - bm.astype(np.int64) - late) // 12, dtype=np.int64)


def build_enrollments(
    pop: Population, catalog: Catalog, config: SynthConfig, table: AmountTable
) -> Enrollments:
    """Expand the program masks into enrollments with dates, statuses and the paid months."""
    from lifesign.synth.population import NAT, add_years

    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 101]))
    bits = program_bits(catalog)
    codes = list(bits)
    t0 = np.datetime64(config.window_start, "D")
    t_end = np.datetime64(config.window_end, "D")
    months = config.months

    persons: list[npt.NDArray[np.int64]] = []
    programs: list[npt.NDArray[np.int16]] = []
    for k in range(len(codes)):
        who = np.flatnonzero(has(pop.program_mask, k))
        persons.append(who.astype(np.int64))
        programs.append(np.full(len(who), k, dtype=np.int16))
    person = np.concatenate(persons)
    program = np.concatenate(programs)
    m = len(person)
    birth = pop.birth_date[person]
    sex = pop.sex[person]
    death = pop.death_date[person]

    # Start: the later of eligibility (age rule / retirement) and the program's beginning,
    # and of a take-up date drawn back from the window start (pensions start at eligibility).
    min_age = np.array([catalog.programs[c].min_age or 0 for c in codes], dtype=np.int64)[program]
    for code, ages in RETIREMENT_AGE.items():
        if code in bits:
            sel = program == bits[code]
            min_age[sel] = np.where(sex[sel] == 1, ages[1], ages[0])
    eligible = add_years(birth, min_age)
    since = np.array([np.datetime64(PROGRAM_SINCE.get(c, DEFAULT_SINCE), "D") for c in codes])[
        program
    ]
    take_up = t0 - (rng.exponential(6.0 * 365, m)).astype(np.int64).astype("timedelta64[D]")
    pension = np.isin(program, [bits[c] for c in PENSIONS if c in bits])
    lag = rng.integers(0, 60, m).astype("timedelta64[D]")
    start = np.maximum(np.maximum(eligible, since), np.where(pension, eligible + lag, take_up))
    # Entitlement begins on the first day of the month after (or on a first of the month).
    start_m = start.astype("datetime64[M]")
    on_first = start_m.astype("datetime64[D]") == start
    start = np.where(on_first, start, (start_m + 1).astype("datetime64[D]"))
    start = np.minimum(start, t_end)
    start = np.where(np.isnat(death), start, np.minimum(start, death))

    # Ends, by the earliest cause.
    never = np.datetime64("2200-01-01", "D")
    end = np.full(m, never)
    cause = np.zeros(m, dtype=np.int8)

    def earlier(candidate: Any, code: int) -> None:
        nonlocal end
        c = np.where(np.isnat(candidate), never, candidate)
        better = c < end
        end = np.where(better, c, end)
        cause[better] = code

    max_age = np.array(
        [-1 if catalog.programs[c].max_age is None else catalog.programs[c].max_age for c in codes],
        dtype=np.int64,
    )[program]
    aged_out = add_years(birth, np.maximum(max_age, 0) + 1) - np.timedelta64(1, "D")
    earlier(np.where((max_age >= 0) & (aged_out <= t_end), aged_out, NAT), CAUSE_AGE)
    exit_share = np.array([EXIT_SHARE.get(c, 0.0) for c in codes])[program]
    exits = rng.random(m) < exit_share
    exit_day = t0 + rng.integers(0, int((t_end - t0).astype(np.int64)), m).astype("timedelta64[D]")
    earlier(np.where(exits & (exit_day > start), exit_day, NAT), CAUSE_EXIT)
    recorded = pop.death_recorded[person]
    maoling = pop.maoling[person]
    earlier(np.where(recorded, death, NAT), CAUSE_DEATH)
    earlier(np.where(~recorded & ~maoling, death, NAT), CAUSE_UNRECORDED_DEATH)
    earlier(np.where(maoling, death, NAT), CAUSE_MAOLING)
    earlier(pop.imprisoned_on[person], CAUSE_PRISON)
    earlier(pop.emigrated_on[person], CAUSE_EMIGRATION)
    end = np.maximum(end, start)

    # Paid months and statuses.
    first_period = np.maximum(0, month_index(start, config.window_start))
    end_month = month_index(np.where(end == never, NAT, end), config.window_start)
    stop_lag = rng.choice(STOP_LAG_MONTHS, size=m, p=STOP_LAG_P)
    last_period = np.full(m, months - 1, dtype=np.int64)
    status = np.zeros(m, dtype=np.int8)
    end_out = np.full(m, NAT)
    ended = np.isin(cause, [CAUSE_AGE, CAUSE_EXIT, CAUSE_DEATH, CAUSE_EMIGRATION])
    last_period[ended] = end_month[ended] + np.where(
        np.isin(cause[ended], [CAUSE_DEATH, CAUSE_EMIGRATION]), stop_lag[ended], 0
    )
    status[ended] = TERMINATED
    end_out[ended] = end[ended]
    prison = cause == CAUSE_PRISON
    last_period[prison] = end_month[prison] + stop_lag[prison]
    status[prison] = SUSPENDED
    # An unrecorded death (not 冒领): nobody certifies for the person at the next yearly
    # certification (on the anniversary month of the start), so payment is suspended then.
    unrec = cause == CAUSE_UNRECORDED_DEATH
    start_moy = start.astype("datetime64[M]").astype(np.int64) % 12
    death_abs = end.astype("datetime64[M]").astype(np.int64)
    to_anniversary = (start_moy - death_abs % 12) % 12
    to_anniversary = np.where(to_anniversary == 0, 12, to_anniversary)
    suspended_at = end_month + to_anniversary  # first month not paid
    last_period[unrec] = suspended_at[unrec] - 1
    status[unrec & (suspended_at <= months - 1)] = SUSPENDED
    last_period = np.minimum(last_period, months - 1)

    # The amount written on the enrollment: as of the last paid month (or the as-of date).
    ref_period = np.clip(np.minimum(last_period, months - 1), 0, months - 1)
    ref_period = np.maximum(ref_period, np.minimum(first_period, months - 1))
    m0 = np.datetime64(config.window_start, "M").astype(np.int64)
    age_ref = np.clip(_age_in_months(birth, m0 + ref_period), 0, AmountTable.MAX_AGE)
    monthly = table.cents[program, ref_period, age_ref]

    # Running numbers inside each program, in the order of the start dates.
    order = np.lexsort((person, start.astype(np.int64), program))
    seq = np.empty(m, dtype=np.int64)
    counts = np.bincount(program, minlength=len(codes))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    seq[order] = np.arange(m) - starts[program[order]] + 1

    enr = Enrollments(
        person=person,
        program=program,
        seq=seq,
        start=start,
        end=end_out,
        status=status,
        cause=cause,
        first_period=first_period.astype(np.int32),
        last_period=last_period.astype(np.int32),
        monthly_cents=monthly,
        old_id=np.zeros(m, dtype=bool),
        extra_cents=np.zeros(m, dtype=np.int64),
        double_period=np.full(m, -1, dtype=np.int32),
        duplicate_of=np.full(m, -1, dtype=np.int64),
    )
    return _plant_payment_cases(enr, pop, catalog, config, rng)


def _plant_payment_cases(
    enr: Enrollments,
    pop: Population,
    catalog: Catalog,
    config: SynthConfig,
    rng: np.random.Generator,
) -> Enrollments:
    """Duplicate registrations (重领), a month paid twice and amounts above the standard (多领)."""
    bits = program_bits(catalog)
    n_rec = int(pop.is_recipient.sum())
    months = config.months
    alive_open = (enr.status == ACTIVE) & (enr.cause == CAUSE_NONE) & (enr.first_period == 0)
    pension = bits.get("resident_pension", 0)
    pool = np.flatnonzero(alive_open & (enr.program == pension))
    if pool.size == 0:
        pool = np.flatnonzero(alive_open)
    # Born in the 1900s: they have an old 15-digit number.
    pool = pool[pop.birth_date[enr.person[pool]] >= np.datetime64("1900-01-01")]
    k_dup = min(pool.size, max(1, round(n_rec * SHARE_DUPLICATE_REGISTRATION)))
    k_double = min(pool.size - k_dup, max(1, round(n_rec * SHARE_DOUBLE_PAYMENT)))
    k_above = min(pool.size - k_dup - k_double, max(1, round(n_rec * SHARE_ABOVE_STANDARD)))
    chosen = rng.choice(pool, size=k_dup + k_double + k_above, replace=False)
    dup_src = np.sort(chosen[:k_dup])
    double = chosen[k_dup : k_dup + k_double]
    above = chosen[k_dup + k_double :]
    enr.double_period[double] = rng.integers(0, months, len(double))
    extra = np.maximum(enr.monthly_cents[above] // 2, 5000)  # +50 % (at least 50 yuan)
    enr.extra_cents[above] = extra
    enr.monthly_cents[above] += extra

    # The second registration: same person and program, registered again later (another
    # township office, the old ID number), paid in full for the whole window.
    d = len(dup_src)
    counts = np.bincount(enr.program, minlength=len(bits))
    extra_seq = counts[enr.program[dup_src]] + 1 + np.arange(d)
    dup_start = enr.start[dup_src] + rng.integers(200, 2000, d).astype("timedelta64[D]")
    dup_start = np.minimum(dup_start, np.datetime64(config.window_start, "D"))
    dup_start = dup_start.astype("datetime64[M]").astype("datetime64[D]")

    def cat(a: Any, b: Any) -> Any:
        return np.concatenate([a, b])

    return Enrollments(
        person=cat(enr.person, enr.person[dup_src]),
        program=cat(enr.program, enr.program[dup_src]),
        seq=cat(enr.seq, extra_seq),
        start=cat(enr.start, dup_start),
        end=cat(enr.end, enr.end[dup_src]),
        status=cat(enr.status, enr.status[dup_src]),
        cause=cat(enr.cause, enr.cause[dup_src]),
        first_period=cat(enr.first_period, enr.first_period[dup_src]),
        last_period=cat(enr.last_period, enr.last_period[dup_src]),
        monthly_cents=cat(enr.monthly_cents, enr.monthly_cents[dup_src]),
        old_id=cat(enr.old_id, np.ones(d, dtype=bool)),
        extra_cents=cat(enr.extra_cents, np.zeros(d, dtype=np.int64)),
        double_period=cat(enr.double_period, np.full(d, -1, dtype=np.int32)),
        duplicate_of=cat(enr.duplicate_of, dup_src.astype(np.int64)),
    )


def payment_rows(
    enr: Enrollments,
    pop: Population,
    table: AmountTable,
    config: SynthConfig,
    rows: slice,
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """The ledger of enrollments `rows`: (enrollment row, window month, cents, index in the
    amount table or -1 for a planted amount), vectorised."""
    idx = np.arange(rows.start or 0, min(rows.stop or len(enr), len(enr)), dtype=np.int64)
    first = enr.first_period[idx].astype(np.int64)
    count = np.maximum(0, enr.last_period[idx].astype(np.int64) - first + 1)
    total = int(count.sum())
    row = np.repeat(idx, count)
    offsets = np.cumsum(count) - count
    period = np.arange(total, dtype=np.int64) - np.repeat(offsets, count) + np.repeat(first, count)
    m0 = np.datetime64(config.window_start, "M").astype(np.int64)
    birth = pop.birth_date[enr.person[row]]
    age = np.clip(_age_in_months(birth, m0 + period), 0, AmountTable.MAX_AGE)
    prog = enr.program[row].astype(np.int64)
    flat = (prog * table.cents.shape[1] + period) * table.cents.shape[2] + age
    cents = table.cents.ravel()[flat] + enr.extra_cents[row]
    planted = (enr.double_period[row] == period) | (enr.extra_cents[row] != 0)
    doubled = enr.double_period[row] == period
    cents[doubled] *= 2
    # `flat` indexes the amount table; -1 where a planted case changed the amount.
    flat[planted] = -1
    return row, period, cents, flat
