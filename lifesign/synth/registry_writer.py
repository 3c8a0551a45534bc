"""Write the registry in the canonical import format (docs/registry-format.md).

`people.csv` (recipients only: the registry never holds non-recipients), `enrollments.csv` and
`payments.csv`, UTF-8, written with pyarrow.csv from columnar arrays; the payment ledger
(tens of millions of rows at Bozhou scale) in chunks of enrollments so memory stays flat.
The registry is clean: the only oddities in it are the planted integrity cases.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lifesign.synth.config import SynthConfig
from lifesign.synth.programs import (
    STATUS_NAMES,
    AmountTable,
    Enrollments,
    first_of_month,
    payment_rows,
)

if TYPE_CHECKING:
    from lifesign.catalog import Catalog
    from lifesign.synth.population import Population

WRITE_OPTIONS = pacsv.WriteOptions(include_header=True, quoting_style="none", batch_size=65536)
PAYMENT_CHUNK = 200_000  # enrollments per chunk of the ledger (~4.5 M rows)

STREETS = (
    "人民路", "建设路", "光明路", "和平路", "文化路", "健康路", "芍花路", "魏武大道", "汤王大道",
    "紫光大道", "希夷大道", "药都路", "学府路", "北京路", "天津路", "新华路", "解放路", "胜利路",
)  # fmt: skip

# Reference prefix of each program's enrollment ids, as the paying offices would write them.
PROGRAM_PREFIX = {
    "resident_pension": "JMYL", "employee_pension": "QYYL", "civil_servant_pension": "JGYL",
    "work_injury": "GSBX", "survivor_benefit": "GYQS", "landless_farmer": "BZDN",
    "longevity_allowance": "GLJT", "dibao": "DB", "tekun": "TK", "disability_living": "CJSH",
    "disability_care": "CJHL", "orphan": "GE", "unsupported_child": "SWRF",
    "elderly_care_subsidy": "YLFW", "village_doctor": "TCYS", "family_planning_special": "JSTF",
    "family_planning_reward": "JSJL", "veteran_pension": "YFFX", "veteran_elderly": "TYSB",
    "village_cadre": "LGB", "poverty_monitoring": "TPJC", "old_party_member": "LDY",
}  # fmt: skip


# ---------------------------------------------------------------- arrow helpers


def decimal_yuan(cents: npt.NDArray[np.int64]) -> pa.Array:
    """Cents as a decimal128(14, 2) array (written as 150.00), built from buffers, no loop."""
    n = len(cents)
    buf = np.zeros(2 * n, dtype=np.int64)
    buf[0::2] = cents
    buf[1::2] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(14, 2), n, [None, pa.py_buffer(buf)])


def _yuan_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def date32(days: npt.NDArray[np.datetime64]) -> pa.Array:
    """datetime64[D] (NaT -> empty) as a date32 array."""
    valid = ~np.isnat(days)
    values = np.where(valid, days.astype(np.int64), 0).astype(np.int32)
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.date32(), len(days), [bitmap, pa.py_buffer(values)], int((~valid).sum())
    )


def int_strings(values: npt.NDArray[np.int64]) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


# ---------------------------------------------------------------- people


def addresses(
    pop: Population, rows: npt.NDArray[np.int64], catalog: Catalog, seed: int
) -> pa.Array:
    """县 + 乡镇 + 村 + 组/号 for villages; 县 + 街道 + 社区 + street, building, unit, room."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 202]))
    regions = catalog.regions
    prefixes = []
    for grid in regions.grids:
        village = regions.get(grid.parent) if grid.parent else grid
        township = regions.get(village.parent) if village.parent else village
        county = regions.county_of(grid.code)
        prefixes.append(regions.city_name_zh + county.name_zh + township.name_zh + village.name_zh)
    n = len(rows)
    prefix = pa.array(prefixes, pa.string()).take(pa.array(pop.grid_index[rows]))
    group = int_strings(rng.integers(1, 13, n))
    number = int_strings(rng.integers(1, 80, n))
    rural = join(prefix, group, "组", number, "号")
    street = pa.array(STREETS, pa.string()).take(pa.array(rng.integers(0, len(STREETS), n)))
    urban_addr = join(
        prefix,
        street,
        int_strings(rng.integers(1, 400, n)),
        "号",
        int_strings(rng.integers(1, 30, n)),
        "号楼",
        int_strings(rng.integers(1, 5, n)),
        "单元",
        int_strings(rng.integers(1, 19, n) * 100 + rng.integers(1, 5, n)),
        "室",
    )
    return pc.if_else(pa.array(pop.urban[rows]), urban_addr, rural)


def write_people(pop: Population, catalog: Catalog, config: SynthConfig, path: Path) -> int:
    rows = np.flatnonzero(pop.is_recipient).astype(np.int64)
    take = pa.array(rows)
    grid_codes = pa.array([g.code for g in catalog.regions.grids], pa.string())
    table = pa.table(
        {
            "id_number": pop.id_number.take(take),
            "name": pop.name.take(take),
            "sex": pa.array(["F", "M"]).take(pa.array(pop.sex[rows].astype(np.int64))),
            "birth_date": date32(pop.birth_date[rows]),
            "phone": pop.phone.take(take),
            "grid_code": grid_codes.take(pa.array(pop.grid_index[rows])),
            "address": addresses(pop, rows, catalog, config.seed),
            "household_id": pa.array(pop.household[rows]),
            **last_certifications(len(rows), config),
        }
    )
    pacsv.write_csv(table, path, WRITE_OPTIONS)
    return len(rows)


# How recipients certified before go-live (the year before the window): mostly at a counter
# or by face recognition on the phone, some by a home visit. Illustrative shares.
LAST_CHANNELS = ("counter", "self_service", "home_visit")
LAST_CHANNEL_P = (0.55, 0.35, 0.10)


def last_certifications(n: int, config: SynthConfig) -> dict[str, pa.Array]:
    """`last_certified_on` (a day in the 12 months before the window) and its channel, drawn
    from their own seed so the rest of the registry is unchanged."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 203]))
    start = np.datetime64(config.window_start, "D")
    days = start - rng.integers(1, 366, n).astype("timedelta64[D]")
    channel = rng.choice(len(LAST_CHANNELS), size=n, p=LAST_CHANNEL_P)
    return {
        "last_certified_on": date32(days),
        "last_certification_channel": pa.array(LAST_CHANNELS, pa.string()).take(
            pa.array(channel.astype(np.int64))
        ),
    }


# ---------------------------------------------------------------- enrollments


def enrollment_ids(enr: Enrollments, catalog: Catalog) -> pa.Array:
    """E.g. JMYL2012-00012345: the office's prefix, the start year, the running number."""
    codes = list(catalog.programs)
    prefixes = [PROGRAM_PREFIX.get(c, c[:4].upper()) for c in codes]
    prefix = pa.array(prefixes, pa.string()).take(pa.array(enr.program.astype(np.int64)))
    year = int_strings(enr.start.astype("datetime64[Y]").astype(np.int64) + 1970)
    number = pc.utf8_lpad(int_strings(enr.seq), 8, "0")
    return join(prefix, year, "-", number)


def old_id_numbers(ids18: pa.Array) -> pa.Array:
    """The 15-digit form of 18-digit numbers born in the 1900s: drop '19' and the check."""
    return join(pc.utf8_slice_codeunits(ids18, 0, 6), pc.utf8_slice_codeunits(ids18, 8, 17))


def write_enrollments(
    enr: Enrollments, pop: Population, ids: pa.Array, catalog: Catalog, path: Path
) -> int:
    person_ids = pop.id_number.take(pa.array(enr.person))
    if enr.old_id.any():
        person_ids = pc.if_else(pa.array(enr.old_id), old_id_numbers(person_ids), person_ids)
    codes = pa.array(list(catalog.programs), pa.string())
    table = pa.table(
        {
            "enrollment_id": ids,
            "id_number": person_ids,
            "program": codes.take(pa.array(enr.program.astype(np.int64))),
            "start_date": date32(enr.start),
            "end_date": date32(enr.end),
            "monthly_amount": decimal_yuan(enr.monthly_cents),
            "status": pa.array(STATUS_NAMES).take(pa.array(enr.status.astype(np.int64))),
        }
    )
    pacsv.write_csv(table, path, WRITE_OPTIONS)
    return len(enr)


# ---------------------------------------------------------------- payments


def write_payments(
    enr: Enrollments,
    pop: Population,
    table: AmountTable,
    ids: pa.Array,
    config: SynthConfig,
    path: Path,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """The monthly ledger, one chunk of enrollments at a time. Returns the rows written."""
    months = config.months
    firsts = first_of_month(np.arange(months), config.window_start)
    periods = pa.array([str(d)[:7] for d in firsts], pa.string())
    # paid_on and amount have few distinct values: dictionary-encoded strings write fastest.
    pay_days = np.unique(table.pay_day)
    paid_on_text = pa.array(
        [str(d + np.timedelta64(int(day) - 1, "D")) for d in firsts for day in pay_days],
        pa.string(),
    )
    day_pos = np.searchsorted(pay_days, table.pay_day)
    table_text = [_yuan_text(int(c)) for c in table.cents.ravel()]
    schema = pa.schema(
        [
            ("enrollment_id", pa.string()),
            ("period", pa.string()),
            ("amount", pa.dictionary(pa.int32(), pa.string())),
            ("paid_on", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    written = 0
    with pacsv.CSVWriter(path, schema, write_options=WRITE_OPTIONS) as writer:
        for start in range(0, len(enr), PAYMENT_CHUNK):
            row, period, cents, flat = payment_rows(
                enr, pop, table, config, slice(start, start + PAYMENT_CHUNK)
            )
            planted = flat < 0
            texts = table_text
            if planted.any():
                texts = table_text + [_yuan_text(int(c)) for c in cents[planted]]
                flat[planted] = len(table_text) + np.arange(int(planted.sum()))
            amount = pa.DictionaryArray.from_arrays(
                pa.array(flat.astype(np.int32)), pa.array(texts, pa.string())
            )
            paid_on = pa.DictionaryArray.from_arrays(
                pa.array((period * len(pay_days) + day_pos[enr.program[row]]).astype(np.int32)),
                paid_on_text,
            )
            batch = pa.record_batch(
                [ids.take(pa.array(row)), periods.take(pa.array(period)), amount, paid_on],
                schema=schema,
            )
            writer.write_batch(batch)
            written += len(row)
            if on_rows is not None:
                on_rows(len(row))
    return written
