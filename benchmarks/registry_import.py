"""Benchmark: `lifesign registry import` of a Bozhou-scale registry on SQLite.

    python benchmarks/registry_import.py --people 1360000

Generates a canonical registry (docs/registry-format.md) of that size with numpy (valid ID
numbers, Chinese names, catalog grids and programs; about 1.3 enrollments a person), imports
it into a fresh SQLite home with full validation and pseudonyms, then imports it again (a no-op
by file hash), and measures a baseline in the same run: a bare `executemany` of the same rows
into the same schema, without validation, pseudonyms or upsert logic. Each measured step runs
in its own child process so that its peak RSS is its own. Prints rows/s, time, peak memory and
the ratio to the baseline. Target (issue 2): under 3 minutes for 1.36 M people.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lifesign.registry.ids import CHECK_CHARACTERS, WEIGHTS

COUNTIES = np.array([341602, 341621, 341622, 341623])
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰凤珍建国志红金梅")
PROGRAMS_FALLBACK = ["resident_pension", "longevity_allowance", "dibao", "disability_living"]


def catalog_codes() -> tuple[list[str], list[str]]:
    """Grid and program codes of the packaged catalog (synthetic ones if it is missing)."""
    try:
        from lifesign.catalog import load_catalog

        catalog = load_catalog(None)
        grids = [c for c, r in catalog.regions.by_code.items() if r.level == "grid"]
        return grids, sorted(catalog.programs)
    except Exception as error:  # the catalog package may not be there yet
        print(f"(catalog unavailable: {error}; using synthetic codes and no catalog checks)")
        return [f"{c}001001{g:03d}" for c in COUNTIES for g in range(1, 200)], PROGRAMS_FALLBACK


def id_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct valid 18-character ID numbers (as a numpy unicode array)."""
    county = rng.choice(COUNTIES, n)
    start = np.datetime64("1925-01-01")
    birth = start + rng.integers(0, 365 * 75, n).astype("timedelta64[D]")
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    # distinct: the sequence runs over the people born the same day in the same county
    order = np.lexsort((ymd, county))
    seq = np.empty(n, dtype=np.int64)
    key = county.astype(np.int64) * 100_000_000 + ymd.astype(np.int64)
    sorted_key = key[order]
    new_group = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    seq[order] = np.arange(n) - group_start
    if seq.max() >= 999:
        raise SystemExit("too many people for distinct ID numbers")
    seq = seq + 1
    first17 = np.char.add(np.char.add(county.astype("U6"), ymd), np.char.zfill(seq.astype("U3"), 3))
    digits = first17.view("U1").reshape(n, 17).astype(np.int64)
    checks = np.array(list(CHECK_CHARACTERS))[(digits @ np.array(WEIGHTS)) % 11]
    return np.char.add(first17, checks)


def generate(out: Path, people: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    grids, programs = catalog_codes()
    ids = id_numbers(rng, people)
    sexes = np.where(np.char.str_len(ids) > 0, "", "")  # let the importer derive sex and birth
    names = np.char.add(
        np.array(SURNAMES)[rng.integers(0, len(SURNAMES), people)],
        np.char.add(
            np.array(GIVEN)[rng.integers(0, len(GIVEN), people)],
            np.where(
                rng.random(people) < 0.6, np.array(GIVEN)[rng.integers(0, len(GIVEN), people)], ""
            ),
        ),
    )
    phones = np.where(
        rng.random(people) < 0.8,
        np.char.add("13", rng.integers(100_000_000, 999_999_999, people).astype("U9")),
        "",
    )
    grid = np.array(grids)[rng.integers(0, len(grids), people)]
    household = np.char.add("H", (np.arange(people) // 2).astype("U10"))
    with (out / "people.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "id_number",
                "name",
                "sex",
                "birth_date",
                "phone",
                "grid_code",
                "address",
                "household_id",
            ]
        )
        writer.writerows(
            zip(
                ids.tolist(),
                names.tolist(),
                sexes.tolist(),
                sexes.tolist(),
                phones.tolist(),
                grid.tolist(),
                sexes.tolist(),
                household.tolist(),
                strict=True,
            )
        )
    # enrollments: everyone has one; 30% a second one in another program
    second = rng.random(people) < 0.3
    person = np.r_[np.arange(people), np.flatnonzero(second)]
    n_enrollments = len(person)
    program_ix = rng.integers(1, len(programs), n_enrollments)
    program_ix[:people] = 0
    amounts = np.array(["150", "300.50", "700", "90"])[rng.integers(0, 4, n_enrollments)]
    with (out / "enrollments.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "enrollment_id",
                "id_number",
                "program",
                "start_date",
                "end_date",
                "monthly_amount",
                "status",
            ]
        )
        writer.writerows(
            zip(
                np.char.add("E", np.arange(n_enrollments).astype("U10")).tolist(),
                ids[person].tolist(),
                np.array(programs)[program_ix].tolist(),
                ["2020-01-01"] * n_enrollments,
                [""] * n_enrollments,
                amounts.tolist(),
                ["active"] * n_enrollments,
                strict=True,
            )
        )
    return {"people": people, "enrollments": n_enrollments}


def _in_child(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run `target(*args)` in a fresh child process; return its result and its peak RSS."""
    queue: mp.Queue[dict[str, Any]] = mp.get_context("fork").Queue()

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_SELF)
        result = target(*args)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["peak_rss_mib"] = usage.ru_maxrss / 1024
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
        queue.put(result)

    process = mp.get_context("fork").Process(target=run)
    process.start()
    result = queue.get()
    process.join()
    return result


def run_import(data: Path, home: Path) -> dict[str, Any]:
    from lifesign.config import load_settings
    from lifesign.registry.importer import RegistryImporter, RegistryRules, rules_from_catalog
    from lifesign.registry.pseudonym import Pseudonymizer
    from lifesign.store import open_database

    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")
    start = time.perf_counter()
    engine = open_database(settings)
    try:
        rules = rules_from_catalog(settings.catalog_dir)
    except Exception:
        rules = RegistryRules()
    importer = RegistryImporter(engine, Pseudonymizer.for_home(settings.secrets_dir), rules)
    report = importer.import_dir(data)
    seconds = time.perf_counter() - start
    again = time.perf_counter()
    second = importer.import_dir(data)
    return {
        "seconds": seconds,
        "files": {
            f.kind: (f.read, f.inserted, f.rejected, round(f.seconds, 1)) for f in report.files
        },
        "reimport_seconds": time.perf_counter() - again,
        "reimport_noop": all(f.already_imported_in is not None for f in second.files),
    }


def run_baseline(data: Path, home: Path) -> dict[str, Any]:
    """The same rows read with csv and inserted with a bare executemany: no validation.

    Same schema, same SQLite settings (`bulk_load`), one transaction; sex and birth date are
    left out, the pseudonym is a padded ID number, person ids come from a dict.
    """
    from lifesign.store import bulk_load, make_engine, migrate

    url = f"sqlite:///{home / 'baseline.db'}"
    engine = make_engine(url)
    migrate(engine)
    start = time.perf_counter()
    with engine.connect() as connection, bulk_load(connection), connection.begin():
        with (data / "people.csv").open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            people = [
                (i, r[0] + "00000000000000", r[0], r[1], r[4] or None, r[5], r[7])
                for i, r in enumerate(reader, 1)
            ]
        person_of = {row[2]: row[0] for row in people}
        connection.exec_driver_sql(
            "INSERT INTO people (person_id, pseudonym, id_number, name, phone, grid_code,"
            " household_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            people,
        )
        del people
        with (data / "enrollments.csv").open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            enrollments = [(r[0], person_of[r[1]], r[2], r[3], r[5], r[6]) for r in reader]
        connection.exec_driver_sql(
            "INSERT INTO enrollments (external_ref, person_id, program, start_date,"
            " monthly_amount, status) VALUES (?, ?, ?, ?, ?, ?)",
            enrollments,
        )
    return {"seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_360_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the generated files and homes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lifesign-registry-bench-"))
    data, home = work / "registry", work / "home"
    data.mkdir()
    home.mkdir()
    try:
        start = time.perf_counter()
        sizes = generate(data, args.people, args.seed)
        megabytes = sum(p.stat().st_size for p in data.iterdir()) / 2**20
        print(
            f"generated {sizes['people']:,} people, {sizes['enrollments']:,} enrollments "
            f"({megabytes:,.0f} MiB) in {time.perf_counter() - start:.1f} s"
        )
        rows = sizes["people"] + sizes["enrollments"]
        baseline = _in_child(run_baseline, data, home)
        imported = _in_child(run_import, data, home)
        print(
            f"import (validation, pseudonyms, upsert): {imported['seconds']:.1f} s, "
            f"{rows / imported['seconds']:,.0f} rows/s, "
            f"peak RSS {imported['peak_rss_mib']:,.0f} MiB"
        )
        for kind, (read, inserted, rejected, seconds) in imported["files"].items():
            print(
                f"  {kind}: read {read:,}, imported {inserted:,}, rejected {rejected:,} "
                f"in {seconds:.1f} s"
            )
        print(
            f"re-import of the same files: {imported['reimport_seconds']:.1f} s, "
            f"no-op: {imported['reimport_noop']}"
        )
        print(
            f"baseline (bare executemany, no validation): {baseline['seconds']:.1f} s, "
            f"{rows / baseline['seconds']:,.0f} rows/s, "
            f"peak RSS {baseline['peak_rss_mib']:,.0f} MiB"
        )
        print(
            f"ratio import / baseline: {imported['seconds'] / baseline['seconds']:.2f}x wall, "
            f"{imported['cpu_seconds'] / baseline['cpu_seconds']:.2f}x CPU "
            f"(CPU s: import {imported['cpu_seconds']:.1f} incl. re-import, "
            f"baseline {baseline['cpu_seconds']:.1f})"
        )
        target = 180.0 * args.people / 1_360_000
        verdict = "within" if imported["seconds"] <= target else "OVER"
        print(f"target: {target:.0f} s for {args.people:,} people -> {verdict}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
