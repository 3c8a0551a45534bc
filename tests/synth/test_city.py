"""A whole small city on disk: registry format, amounts, ledger, planted cases, truth, bytes."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from lifesign.catalog import Catalog
from lifesign.registry.ids import normalize_id_number
from lifesign.synth.city import CityReport, build_city
from lifesign.synth.config import SynthConfig

City = tuple[SynthConfig, CityReport]
TODAY = date(2026, 11, 1)
PEOPLE = [
    "id_number",
    "name",
    "sex",
    "birth_date",
    "phone",
    "grid_code",
    "address",
    "household_id",
    "last_certified_on",
    "last_certification_channel",
]
ENROLLMENTS = ["enrollment_id", "id_number", "program", "start_date", "end_date",
               "monthly_amount", "status"]  # fmt: skip
PAYMENTS = ["enrollment_id", "period", "amount", "paid_on"]


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


@pytest.fixture(scope="module")
def files(small_city: City) -> dict[str, list[dict[str, str]]]:
    config, _ = small_city
    reg, truth = config.out / "registry", config.out / "truth"
    return {
        "people": read(reg / "people.csv"),
        "enrollments": read(reg / "enrollments.csv"),
        "payments": read(reg / "payments.csv"),
        "truth": read(truth / "people.csv"),
        "cases": read(truth / "integrity_cases.csv"),
    }


def test_layout_and_truth_kept_apart(small_city: City) -> None:
    config, report = small_city
    out = config.out
    assert sorted(p.name for p in (out / "registry").iterdir()) == [
        "enrollments.csv", "payments.csv", "people.csv"]  # fmt: skip
    assert {p.name for p in (out / "truth").iterdir()} >= {
        "people.csv", "integrity_cases.csv", "summary.json"}  # fmt: skip
    for sub in ("registry", "feeds"):
        assert not any("truth" in str(p.relative_to(out)) for p in (out / sub).rglob("*"))
    summary = json.loads((out / "truth" / "summary.json").read_text(encoding="utf-8"))
    assert summary["seed"] == config.seed
    assert summary["recipients"] == config.recipients == report.recipients
    assert summary["window_start"] == "2024-11-01" and summary["window_end"] == "2026-10-31"
    assert summary["payments"] == report.payments > 0


def test_registry_parses_per_the_canonical_format(
    small_city: City, files: dict[str, list[dict[str, str]]], catalog: Catalog
) -> None:
    config, _ = small_city
    reg = config.out / "registry"
    assert header(reg / "people.csv") == PEOPLE
    assert header(reg / "enrollments.csv") == ENROLLMENTS
    assert header(reg / "payments.csv") == PAYMENTS
    grids = {g.code for g in catalog.regions.grids}
    date_re = re.compile(r"\d{4}-\d{2}-\d{2}")
    amount_re = re.compile(r"\d+(\.\d{1,2})?")
    people = files["people"]
    assert len(people) == config.recipients
    ids = set()
    for row in people:
        number = normalize_id_number(row["id_number"], today=TODAY)
        assert number == row["id_number"]
        ids.add(number)
        assert row["name"] and row["sex"] in ("M", "F") and date_re.fullmatch(row["birth_date"])
        assert row["grid_code"] in grids
        assert row["phone"] == "" or re.fullmatch(r"1\d{10}", row["phone"])
        assert row["address"].startswith("亳州市")
    assert len(ids) == len(people)
    enrollment_ids = set()
    for row in files["enrollments"]:
        assert row["enrollment_id"] not in enrollment_ids
        enrollment_ids.add(row["enrollment_id"])
        assert normalize_id_number(row["id_number"], today=TODAY) in ids
        assert row["program"] in catalog.programs
        assert date_re.fullmatch(row["start_date"])
        assert row["end_date"] == "" or date_re.fullmatch(row["end_date"])
        assert amount_re.fullmatch(row["monthly_amount"])
        assert row["status"] in ("active", "suspended", "terminated")
        assert (row["status"] == "terminated") == (row["end_date"] != "")
        if row["end_date"]:
            assert row["start_date"] <= row["end_date"]
    keys = set()
    for row in files["payments"]:
        assert row["enrollment_id"] in enrollment_ids
        assert "2024-11" <= row["period"] <= "2026-10"
        assert amount_re.fullmatch(row["amount"])
        assert row["paid_on"][:7] == row["period"]
        key = (row["enrollment_id"], row["period"])
        assert key not in keys
        keys.add(key)


def _age_on(birth: str, on: date) -> int:
    y, m, d = (int(x) for x in birth.split("-"))
    return on.year - y - ((on.month, on.day) < (m, d))


def test_amounts_follow_the_catalog(
    files: dict[str, list[dict[str, str]]], catalog: Catalog
) -> None:
    birth = {r["id_number"]: r["birth_date"] for r in files["truth"]}
    planted = {e for c in files["cases"] if c["case_type"] in ("double_payment",
               "amount_above_standard") for e in c["enrollment_ids"].split(";")}  # fmt: skip
    enrollment = {r["enrollment_id"]: r for r in files["enrollments"]}

    @cache
    def amount(program: str, period: str, age: int) -> Decimal:
        y, m = (int(x) for x in period.split("-"))
        return catalog.programs[program].monthly_amount(date(y, m, 1), age)

    raises = defaultdict(set)
    checked = 0
    for row in files["payments"]:
        if row["enrollment_id"] in planted:
            continue
        e = enrollment[row["enrollment_id"]]
        number = normalize_id_number(e["id_number"], today=TODAY)
        y, m = (int(x) for x in row["period"].split("-"))
        age = _age_on(birth[number], date(y, m, 1))
        assert Decimal(row["amount"]) == amount(e["program"], row["period"], age), row
        raises[e["program"]].add(row["amount"])
        checked += 1
    assert checked > 50_000
    assert len(raises["longevity_allowance"]) >= 2  # age tiers
    assert len(raises["resident_pension"]) >= 2  # a raise inside the window


def test_payments_stop_after_recorded_deaths_and_continue_for_maoling(
    files: dict[str, list[dict[str, str]]],
) -> None:
    truth = {r["id_number"]: r for r in files["truth"]}
    last_paid: dict[str, str] = {}
    for row in files["payments"]:
        last_paid[row["enrollment_id"]] = max(
            last_paid.get(row["enrollment_id"], ""), row["period"]
        )
    lags = []
    maoling_paid = 0
    for e in files["enrollments"]:
        t = truth[normalize_id_number(e["id_number"], today=TODAY)]
        if not t["death_date"] or e["enrollment_id"] not in last_paid:
            continue
        death_month = t["death_date"][:7]
        paid = last_paid[e["enrollment_id"]]
        if t["death_recorded"] == "true" and e["end_date"] == t["death_date"]:
            assert e["status"] == "terminated"
            dy, dm = (int(x) for x in death_month.split("-"))
            py, pm = (int(x) for x in paid.split("-"))
            lags.append((py - dy) * 12 + pm - dm)
        if t["maoling"] == "true":
            assert paid == "2026-10" and e["status"] == "active" and e["end_date"] == ""
            maoling_paid += 1
    assert lags and min(lags) >= 0
    assert max(lags) <= 6
    assert sum(1 <= x <= 2 for x in lags) / len(lags) > 0.5
    assert maoling_paid >= 1


def test_planted_cases_present_and_listed(
    files: dict[str, list[dict[str, str]]], catalog: Catalog
) -> None:
    cases = files["cases"]
    kinds = {c["case_type"] for c in cases}
    assert kinds == {"duplicate_registration", "exclusive_programs", "double_payment",
                     "amount_above_standard", "maoling"}  # fmt: skip
    enrollments = {r["enrollment_id"]: r for r in files["enrollments"]}
    # duplicate registration: two enrollments of one program, one with the old 15-digit number
    for c in (c for c in cases if c["case_type"] == "duplicate_registration"):
        a, b = (enrollments[e] for e in c["enrollment_ids"].split(";"))
        assert a["program"] == b["program"] == c["programs"]
        assert len(a["id_number"]) == 18 and len(b["id_number"]) == 15
        assert normalize_id_number(b["id_number"], today=TODAY) == c["id_number"]
    # exclusive programs: exactly the conflicts in enrollments.csv, and all of them are listed
    held: dict[str, set[str]] = defaultdict(set)
    for r in files["enrollments"]:
        held[normalize_id_number(r["id_number"], today=TODAY)].add(r["program"])
    found = set()
    for number, programs in held.items():
        for p in programs:
            for q in catalog.programs[p].excludes:
                if q in programs:
                    found.add((number, tuple(sorted((p, q)))))
    listed = {(c["id_number"], tuple(sorted(c["programs"].split(";"))))
              for c in cases if c["case_type"] == "exclusive_programs"}  # fmt: skip
    assert found == listed
    pairs = {p for _, p in listed}
    assert ("dibao", "tekun") in pairs and ("orphan", "unsupported_child") in pairs
    assert ("employee_pension", "resident_pension") in pairs
    # payments above the standard
    by_enrollment: dict[str, list[Decimal]] = defaultdict(list)
    for r in files["payments"]:
        by_enrollment[r["enrollment_id"]].append(Decimal(r["amount"]))
    for c in (c for c in cases if c["case_type"] == "double_payment"):
        amounts = by_enrollment[c["enrollment_ids"]]
        assert max(amounts) == 2 * min(amounts) or max(amounts) >= 2 * sorted(amounts)[1]
    # 冒领 listed == truth
    maoling = {r["id_number"] for r in files["truth"] if r["maoling"] == "true"}
    assert maoling == {c["id_number"] for c in cases if c["case_type"] == "maoling"}


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path, catalog: Catalog) -> None:
    results = []
    for name, workers in (("a", 1), ("b", 2)):
        config = SynthConfig(recipients=800, seed=99, out=tmp_path / name, workers=workers)
        build_city(config, catalog, feeds=False)
        results.append(_hashes(tmp_path / name))
    assert results[0] == results[1]
    assert len(results[0]) >= 6
    other = SynthConfig(recipients=800, seed=100, out=tmp_path / "c", workers=1)
    build_city(other, catalog, feeds=False)
    assert _hashes(tmp_path / "c")["registry/people.csv"] != results[0]["registry/people.csv"]


def test_registry_imports_with_zero_rejections(small_city: City, tmp_path: Path) -> None:
    from lifesign.registry.importer import RegistryImporter, rules_from_catalog
    from lifesign.registry.pseudonym import Pseudonymizer
    from lifesign.store.database import make_engine, migrate

    config, report = small_city
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    importer = RegistryImporter(
        engine, Pseudonymizer(b"synthetic-test-secret-0123456789"), rules_from_catalog(None),
        today=TODAY,
    )  # fmt: skip
    result = importer.import_dir(config.out / "registry")
    counts = {f.kind: f.counts() for f in result.files}
    assert {k: c["rejected"] for k, c in counts.items()} == {
        "people": 0, "enrollments": 0, "payments": 0}  # fmt: skip
    assert counts["people"]["accepted"] == config.recipients
    assert counts["enrollments"]["accepted"] == report.enrollments
    assert counts["payments"]["accepted"] == report.payments
