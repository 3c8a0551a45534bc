"""A Bozhou-scale home for the certification benchmarks, built fast and directly.

    python benchmarks/bozhou_lake.py --home /tmp/bozhou [--recipients 1360000] [--records 35e6]

Going through the synthetic city's CSV feeds and the ingestion would take long at this scale,
so this writes what ingestion would have produced:

- the evidence lake, in the lake's layout and schema (`lifesign.ingest.lake.LAKE_SCHEMA`):
  `lake/evidence/month=YYYY-MM/source=S/batch-N.parquet`, one committed batch per month and
  source, each file sorted by event time, zstd, 128 k-row groups — like `BatchWriter`;
- the registry of the recipients bulk-loaded into a fresh SQLite state database (people with a
  pseudonym, ID number, phone, grid and `last_certified_on`; ~1.3 enrollments a person), and
  one `batches` row per lake file, committed.

The evidence is drawn per person: an engagement factor (gamma, shape 1.6) scales Poisson
counts of strong and weak records; 20 % of the people have no strong record at all (the
platform certifies about 80 % silently); about 4.5 % die in the 24 months and get 1-3 death
records some days later, and no strong record after death; a few emigrate or go to prison.
The mix of evidence types is the one a synthetic city of `lifesign synth` shows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import itertools

from lifesign.config import Settings, load_settings
from lifesign.ingest.lake import LAKE_SCHEMA, ROW_GROUP_ROWS, partition_path

WINDOW_START = dt.date(2024, 11, 1)
WINDOW_DAYS = 730  # 2024-11-01 .. 2026-10-31
MONTHS = 24

# Records per type in a synthetic city (`lifesign synth --recipients 1000 --seed 7`, lake after
# ingestion): the relative mix of alive evidence. Death, prison and emigration records are
# drawn per person below, not from this mix.
ALIVE_MIX = {
    "mi_pharmacy_swipe": 2087,
    "power_use": 1759,
    "bank_atm_withdrawal": 1120,
    "gas_use": 1053,
    "water_use": 943,
    "telecom_activity": 562,
    "community_signin": 234,
    "cable_tv_payment": 219,
    "gsc_hotline_call": 52,
    "mi_chronic_outpatient": 941,
    "hc_elderly_checkup": 538,
    "mi_outpatient": 433,
    "ca_home_care_checkin": 412,
    "post_pension_counter": 388,
    "hc_family_doctor": 373,
    "hc_chronic_followup": 311,
    "mi_inpatient": 278,
    "bank_counter": 144,
    "ca_dibao_home_check": 144,
    "senior_bus_ride": 126,
    "mi_pharmacy_face": 121,
    "ag_poverty_visit": 96,
    "rail_boarding": 95,
    "ps_hotel_checkin": 88,
    "hrss_app_face_login": 86,
    "veteran_annual_visit": 62,
    "scenic_senior_entry": 51,
    "ps_id_card": 32,
    "disability_assessment": 30,
    "gsc_in_person": 29,
    "ps_household_business": 28,
    "hpf_withdrawal": 21,
    "hrss_card_counter": 19,
    "bank_card_replacement": 15,
    "ps_driving_licence": 15,
    "business_registration": 14,
    "flight_boarding": 11,
    "tax_in_person": 11,
    "real_estate_registration": 10,
    "notarisation": 9,
    "ca_nursing_home_check": 8,
    "court_appearance": 3,
}
DEATH_TYPES = (
    "funeral_cremation",
    "hc_death_certificate",
    "ps_household_cancellation",
    "hrss_funeral_grant",
)
DEATH_LAG_MEDIAN_DAYS = (3, 1.5, 25, 45)  # docs/feeds.md
DEATH_SHARE = 0.045  # of recipients, over the 24 months (mostly elderly: ~2.3 %/year)
STRONGLESS_SHARE = 0.20  # never met by a strong record: the 20 % the data cannot certify
PRISON_SHARE = 0.0002
EMIGRATION_SHARE = 0.0002


def type_tables() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Evidence type codes, type → strength, type → source (the synthetic city's feeds)."""
    from lifesign.catalog import load_catalog
    from lifesign.synth.feeds.shapes import load_shapes

    catalog = load_catalog(None)
    source_of = {t: shape.source for shape in load_shapes() for t in shape.evidence_types}
    codes = sorted(catalog.evidence_types)
    strength = {c: catalog.evidence_types[c].strength for c in codes}
    return codes, strength, source_of


def draw_evidence(
    recipients: int, records: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """person index, day in the window, second of the day, type index — about `records` rows."""
    rng = np.random.default_rng(seed)
    codes, strength, _ = type_tables()
    index = {c: i for i, c in enumerate(codes)}
    weak = [c for c in ALIVE_MIX if strength[c] == "weak"]
    strong = [c for c in ALIVE_MIX if strength[c] == "strong"]
    weak_w = np.array([ALIVE_MIX[c] for c in weak], dtype=float)
    strong_w = np.array([ALIVE_MIX[c] for c in strong], dtype=float)
    strong_share = strong_w.sum() / (strong_w.sum() + weak_w.sum())
    per_person = records / recipients
    # strongless people have weak records only: scale the strong rate of the others up
    strong_rate = per_person * strong_share / (1 - STRONGLESS_SHARE)
    weak_rate = per_person * (1 - strong_share)

    engagement = rng.gamma(1.6, 1 / 1.6, recipients)
    strongless = rng.random(recipients) < STRONGLESS_SHARE
    dies = rng.random(recipients) < DEATH_SHARE
    death_day = np.where(dies, rng.integers(0, WINDOW_DAYS, recipients), WINDOW_DAYS)
    n_strong = rng.poisson(strong_rate * engagement) * ~strongless
    n_weak = rng.poisson(weak_rate * engagement)

    people = np.arange(recipients, dtype=np.int64)
    s_person = np.repeat(people, n_strong)
    w_person = np.repeat(people, n_weak)
    # strong records only while alive; weak ones too (a few dead people's cards go on: 冒领)
    s_day = (rng.random(s_person.size) * np.maximum(death_day[s_person], 1)).astype(np.int32)
    w_limit = np.where(rng.random(recipients) < 0.02, WINDOW_DAYS, np.maximum(death_day, 1))
    w_day = (rng.random(w_person.size) * w_limit[w_person]).astype(np.int32)
    s_type = np.array([index[c] for c in strong])[
        rng.choice(len(strong), s_person.size, p=strong_w / strong_w.sum())
    ]
    w_type = np.array([index[c] for c in weak])[
        rng.choice(len(weak), w_person.size, p=weak_w / weak_w.sum())
    ]
    # deaths: 1-3 of the 4 death records, each after its own lag
    dead = np.flatnonzero(dies)
    d_person_parts, d_day_parts, d_type_parts = [], [], []
    for kind, median in zip(DEATH_TYPES, DEATH_LAG_MEDIAN_DAYS, strict=True):
        sends = dead[rng.random(dead.size) < 0.6]
        lag = np.minimum(rng.lognormal(np.log(median), 0.6, sends.size), 120).astype(np.int32)
        d_person_parts.append(sends)
        d_day_parts.append(death_day[sends] + lag)
        d_type_parts.append(np.full(sends.size, index[kind]))
    status_people = rng.choice(recipients, int(recipients * (PRISON_SHARE + EMIGRATION_SHARE)))
    half = status_people.size // 2
    d_person_parts += [status_people[:half], status_people[half:]]
    d_day_parts += [
        rng.integers(0, WINDOW_DAYS, half),
        rng.integers(0, WINDOW_DAYS, status_people.size - half),
    ]
    d_type_parts += [
        np.full(half, index["justice_prison_admission"]),
        np.full(status_people.size - half, index["ps_emigration_cancellation"]),
    ]
    person = np.concatenate([s_person, w_person, *d_person_parts])
    day = np.concatenate([s_day, w_day, *[d.astype(np.int32) for d in d_day_parts]])
    kind_ix = np.concatenate([s_type, w_type, *d_type_parts]).astype(np.int16)
    keep = day < WINDOW_DAYS
    person, day, kind_ix = person[keep], day[keep], kind_ix[keep]
    second = rng.integers(6 * 3600, 21 * 3600, person.size).astype(np.int32)
    return person, day, second, kind_ix, codes


def pseudonyms(recipients: int, seed: int) -> pa.Array:
    """32-hex pseudonyms, one per person (random: the benchmark has no ID numbers to key)."""
    raw = np.random.default_rng(seed + 1).integers(0, 2**63, (recipients, 2), dtype=np.int64)
    return pa.array([f"{a:016x}{b:016x}" for a, b in raw.tolist()])


def write_lake(
    settings: Settings,
    recipients: int,
    records: float,
    seed: int,
    *,
    last_day: int = WINDOW_DAYS - 1,
    log: bool = True,
) -> list[tuple[int, str, str, int]]:
    """Write the lake; the (batch_id, month, source, rows) of every file written."""
    started = time.perf_counter()
    person, day, second, kind_ix, codes = draw_evidence(recipients, records, seed)
    keep = day <= last_day
    person, day, second, kind_ix = person[keep], day[keep], second[keep], kind_ix[keep]
    _, _, source_of = type_tables()
    sources = sorted(set(source_of.values()))
    source_ix_of_type = np.array([sources.index(source_of[c]) for c in codes], dtype=np.int16)
    src = source_ix_of_type[kind_ix]
    epoch = np.datetime64(WINDOW_START.isoformat(), "s")
    moment = (
        epoch
        + day.astype("timedelta64[D]").astype("timedelta64[s]")
        + second.astype("timedelta64[s]")
    )
    month = moment.astype("datetime64[M]")
    if log:
        print(f"  drew {person.size:,} records in {time.perf_counter() - started:.1f} s")
    order = np.lexsort((moment, src, month))
    person, moment, kind_ix, src, month = (
        person[order],
        moment[order],
        kind_ix[order],
        src[order],
        month[order],
    )
    pseudonym = pseudonyms(recipients, seed)
    code_array = pa.array(codes)
    key_rng = np.random.default_rng(seed + 2)
    group = month.astype(np.int64) * 64 + src
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    written: list[tuple[int, str, str, int]] = []
    lake = settings.lake_dir
    for batch_id, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        label, source = str(month[lo]), sources[src[lo]]
        n = hi - lo
        ids = pa.array(np.arange(lo, hi, dtype=np.int64))
        table = pa.table(
            {
                "person_id": pa.array(person[lo:hi] + 1),
                "pseudonym": pseudonym.take(pa.array(person[lo:hi])),
                "evidence_type": code_array.take(pa.array(kind_ix[lo:hi].astype(np.int32))),
                "event_time": pa.array(moment[lo:hi], pa.timestamp("s")),
                "source": pa.array(np.full(n, source)),
                "record_id": pc.binary_join_element_wise(
                    source.upper()[:4], pc.cast(ids, pa.string()), ""
                ),
                "record_key": pa.array(key_rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)),
                "batch_id": pa.array(np.full(n, batch_id, dtype=np.int64)),
                "row": pa.array(np.arange(2, n + 2, dtype=np.int64)),
            },
            schema=LAKE_SCHEMA,
        )
        path = lake / partition_path(label, source, batch_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table,
            path,
            compression="zstd",
            use_dictionary=["evidence_type", "source"],
            row_group_size=ROW_GROUP_ROWS,
        )
        written.append((batch_id, label, source, n))
    if log:
        print(
            f"  wrote {len(written)} files, {person.size:,} records "
            f"in {time.perf_counter() - started:.1f} s"
        )
    return written


def load_registry(
    settings: Settings, recipients: int, seed: int, batches: list[tuple[int, str, str, int]]
) -> None:
    """People, enrollments and the lake's batches, bulk-loaded into a fresh SQLite database."""
    from lifesign.store import open_database

    started = time.perf_counter()
    engine = open_database(settings)  # creates the schema at the newest migration
    engine.dispose()
    rng = np.random.default_rng(seed + 3)
    from registry_import import id_numbers  # the registry benchmark's valid, distinct numbers

    ids = id_numbers(rng, recipients)
    birth = [f"{s[6:10]}-{s[10:12]}-{s[12:14]}" for s in ids.tolist()]
    sex = ["M" if int(s[16]) % 2 else "F" for s in ids.tolist()]  # GB 11643: odd = male
    phones = np.where(
        rng.random(recipients) < 0.85,
        np.char.add("139", rng.integers(10_000_000, 99_999_999, recipients).astype("U8")),
        None,
    )
    from lifesign.catalog import load_catalog

    catalog = load_catalog(None)
    grids = [c for c, r in catalog.regions.by_code.items() if r.level == "grid"]
    grid = np.array(grids)[rng.integers(0, len(grids), recipients)]
    pseudonym = pseudonyms(recipients, seed).to_pylist()
    # the last certification: spread over the year before the lake's last day, so that
    # expiries (and reminders) spread over the coming days like a city in its steady state —
    # not all at once (the people the data never certifies would all be long expired)
    window_end = WINDOW_START + dt.timedelta(days=WINDOW_DAYS - 1)
    last_certified = [
        window_end - dt.timedelta(days=int(d)) for d in rng.integers(1, 366, recipients)
    ]
    database = settings.home / "lifesign.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA synchronous=OFF")
    columns = {row[1] for row in connection.execute("PRAGMA table_info(people)")}
    with connection:
        connection.executemany(
            "INSERT INTO batches (batch_id, kind, source, file_name, status, counts, started_at, "
            "finished_at) VALUES (?, 'file', ?, ?, 'committed', '{}', ?, ?)",
            [
                (b, source, f"bench-{month}-{source}", "2026-11-01 00:00:00", "2026-11-01 00:00:00")
                for b, month, source, _ in batches
            ],
        )
        extra = "last_certified_on" in columns
        rows = (
            (
                i + 1,
                pseudonym[i],
                ids[i],
                f"受益人{i + 1}",
                sex[i],
                birth[i],
                phones[i],
                grid[i],
                "亳州市",
                f"H{i // 2}",
                *((last_certified[i].isoformat(),) if extra else ()),
            )
            for i in range(recipients)
        )
        connection.executemany(
            "INSERT INTO people (person_id, pseudonym, id_number, name, sex, birth_date, phone, "
            "grid_code, address, household_id"
            + (", last_certified_on" if extra else "")
            + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
            + (", ?" if extra else "")
            + ")",
            rows,
        )
        second = np.flatnonzero(rng.random(recipients) < 0.3)
        enrollments = [
            (i + 1, f"JMYL-{i + 1:08d}", i + 1, "resident_pension", "2015-01-01", "150.00")
            for i in range(recipients)
        ] + [
            (
                recipients + k + 1,
                f"GLJT-{k + 1:08d}",
                int(p) + 1,
                "longevity_allowance",
                "2018-01-01",
                "50.00",
            )
            for k, p in enumerate(second.tolist())
        ]
        connection.executemany(
            "INSERT INTO enrollments (enrollment_id, external_ref, person_id, program, "
            "start_date, monthly_amount, status) VALUES (?, ?, ?, ?, ?, ?, 'active')",
            enrollments,
        )
    connection.close()
    print(
        f"  registry: {recipients:,} people, {len(enrollments):,} enrollments, "
        f"{len(batches)} batches in {time.perf_counter() - started:.1f} s"
    )


def build(home: Path, recipients: int, records: float, seed: int) -> Settings:
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")
    if (home / "lifesign.db").exists() or settings.lake_dir.exists():
        raise SystemExit(f"{home} is not empty: give a new folder, or reuse it with --home")
    settings.ensure_home()
    print(f"building a lake of {recipients:,} recipients, ~{records:,.0f} records in {home}")
    batches = write_lake(settings, recipients, records, seed)
    load_registry(settings, recipients, seed, batches)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--recipients", type=int, default=1_360_000)
    parser.add_argument("--records", type=float, default=35e6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    build(args.home, args.recipients, args.records, args.seed)


if __name__ == "__main__":
    main()
