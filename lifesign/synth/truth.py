"""The answer key of the synthetic city, kept apart in `DIR/truth/` (never in feeds/ or registry/).

- `people.csv`: every person (recipients and non-recipients): ID number, recipient flag,
  programs, death date, whether any department will ever record the death, 冒领, imprisonment
  and emigration dates.
- `integrity_cases.csv`: every planted integrity case: duplicate registration, exclusive
  programs, a month paid twice, an amount above the standard, 冒领.
- `summary.json` (written by `lifesign.synth.city`): counts, seed, window, versions.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from lifesign.synth.programs import (
    CAUSE_DEATH,
    Enrollments,
    exclusion_pairs,
    has,
    program_bits,
)
from lifesign.synth.registry_writer import WRITE_OPTIONS, date32, old_id_numbers

if TYPE_CHECKING:
    from lifesign.catalog import Catalog
    from lifesign.synth.config import SynthConfig
    from lifesign.synth.population import Population

INTEGRITY_HEADER = ("case_type", "id_number", "programs", "enrollment_ids", "details")


def program_lists(mask: np.ndarray[Any, Any], catalog: Catalog) -> pa.Array:
    """Each mask as 'code;code;...' (computed once per distinct mask)."""
    codes = list(catalog.programs)
    unique, inverse = np.unique(mask, return_inverse=True)
    texts = [";".join(c for k, c in enumerate(codes) if int(u) >> k & 1) for u in unique]
    return pa.array(texts, pa.string()).take(pa.array(inverse.astype(np.int64)))


def write_people_truth(pop: Population, catalog: Catalog, path: Path) -> int:
    dead = ~np.isnat(pop.death_date)
    table = pa.table(
        {
            "id_number": pop.id_number,
            "is_recipient": pa.array(pop.is_recipient),
            "sex": pa.array(["F", "M"]).take(pa.array(pop.sex.astype(np.int64))),
            "birth_date": date32(pop.birth_date),
            "programs": program_lists(pop.program_mask, catalog),
            "death_date": date32(pop.death_date),
            # Only meaningful for the dead: empty for the living.
            "death_recorded": pa.array(pop.death_recorded, mask=~dead),
            "maoling": pa.array(pop.maoling),
            "imprisoned_on": date32(pop.imprisoned_on),
            "emigrated_on": date32(pop.emigrated_on),
        }
    )
    pacsv.write_csv(table, path, WRITE_OPTIONS)
    return pop.n


def integrity_cases(
    pop: Population,
    enr: Enrollments,
    ids: pa.Array,
    catalog: Catalog,
    config: SynthConfig,
    monthly_cents_of: Any,
) -> list[tuple[str, str, str, str, str]]:
    """Every planted case, one row each (sorted by case type, then ID number)."""
    bits = program_bits(catalog)
    codes = list(bits)
    id_of = pop.id_number
    eid = ids.to_numpy(zero_copy_only=False)
    rows: list[tuple[str, str, str, str, str]] = []

    by_person = np.argsort(enr.person, kind="stable")
    sorted_person = enr.person[by_person]

    def enrollments_of(person: int, programs: list[int] | None) -> list[int]:
        lo, hi = np.searchsorted(sorted_person, [person, person + 1])
        found = by_person[lo:hi]
        if programs is not None:
            found = found[np.isin(enr.program[found], programs)]
        return sorted(found.tolist())

    # 重领: the same person registered twice in one program.
    for dup in np.flatnonzero(enr.duplicate_of >= 0):
        orig = int(enr.duplicate_of[dup])
        person = int(enr.person[dup])
        old = old_id_numbers(pa.array([id_of[person].as_py()]))[0].as_py()
        rows.append(
            (
                "duplicate_registration",
                str(id_of[person]),
                codes[int(enr.program[dup])],
                f"{eid[orig]};{eid[dup]}",
                f"second registration under the old 15-digit number {old}, from {enr.start[dup]}",
            )
        )
    # 重领: two programs that exclude each other.
    for first, second in exclusion_pairs(catalog, bits):
        both = np.flatnonzero(
            has(pop.program_mask, bits[first]) & has(pop.program_mask, bits[second])
        )
        for who in both.tolist():
            sel = enrollments_of(who, [bits[first], bits[second]])
            rows.append(
                (
                    "exclusive_programs",
                    str(id_of[who]),
                    f"{first};{second}",
                    ";".join(str(eid[i]) for i in sel),
                    f"{first} excludes {second}",
                )
            )
    # 多领: a month paid twice.
    for i in np.flatnonzero(enr.double_period >= 0):
        period = np.datetime64(config.window_start, "M") + int(enr.double_period[i])
        rows.append(
            (
                "double_payment",
                str(id_of[int(enr.person[i])]),
                codes[int(enr.program[i])],
                str(eid[i]),
                f"period {period} paid twice the monthly amount",
            )
        )
    # 多领: an amount above the catalog's.
    for i in np.flatnonzero(enr.extra_cents > 0):
        rows.append(
            (
                "amount_above_standard",
                str(id_of[int(enr.person[i])]),
                codes[int(enr.program[i])],
                str(eid[i]),
                f"every payment {enr.extra_cents[i] / 100:.2f} yuan above the standard amount",
            )
        )
    # 冒领: dead, never recorded, still paid.
    for dead in np.flatnonzero(pop.maoling).tolist():
        rows_of = enrollments_of(dead, None)
        rows.append(
            (
                "maoling",
                str(id_of[dead]),
                ";".join(codes[int(enr.program[i])] for i in rows_of),
                ";".join(str(eid[i]) for i in rows_of),
                f"died {pop.death_date[dead]}, no death record, paid to the window end",
            )
        )
    rows.sort(key=lambda r: (r[0], r[1], r[3]))
    return rows


def write_integrity_cases(rows: list[tuple[str, str, str, str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(INTEGRITY_HEADER)
        writer.writerows(rows)


def overpayment_after_recorded_death(enr: Enrollments, config: SynthConfig) -> tuple[int, int]:
    """(enrollments, months) paid after the month of a recorded death: the realistic lag."""
    dead = enr.cause == CAUSE_DEATH
    end_m = enr.end[dead].astype("datetime64[M]").astype(np.int64)
    m0 = np.datetime64(config.window_start, "M").astype(np.int64)
    extra = np.maximum(0, enr.last_period[dead].astype(np.int64) - (end_m - m0))
    return int((extra > 0).sum()), int(extra.sum())
