"""The integrity scan on a small synthetic city: every planted case is found by its rule.

The city (about 1,500 recipients, every feed: the ingestion tests' city, built once per session
by tests/cities.py) has its registry imported and all its feeds ingested once per session; the
scan runs as of the window's last day, with no certification pass (the scan reads the lake and
the registry itself).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.ingest.cli import manifest_files
from lifesign.ingest.pipeline import Ingestor
from lifesign.ingest.sources import load_sources
from lifesign.integrity.cases import CaseRecord, list_cases
from lifesign.integrity.scan import ScanReport, scan
from lifesign.registry.importer import RegistryImporter, rules_from_catalog
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store import make_engine, migrate
from lifesign.store.models import Enrollment, Person
from tests.cities import synthetic_city

AS_OF = dt.date(2026, 10, 31)  # the window's last day
# Which rule must find each planted case type of truth/integrity_cases.csv.
RULE_OF = {
    "duplicate_registration": "duplicate_registration",
    "exclusive_programs": "exclusive_programs",
    "double_payment": "payment_above_standard",
    "amount_above_standard": "payment_above_standard",
    "maoling": "payments_without_strong_evidence",
}


@dataclass
class ScannedCity:
    root: Path
    settings: Settings
    engine: Engine
    catalog: Catalog
    report: ScanReport
    cases: list[CaseRecord]
    person_of: dict[str, int]  # ID number → person_id
    enrollment_of: dict[str, int]  # external_ref → enrollment_id

    def truth(self, name: str) -> list[dict[str, str]]:
        with (self.root / "truth" / name).open(encoding="utf-8") as handle:
            return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def scanned_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScannedCity]:
    catalog = load_catalog(None)
    city = synthetic_city(tmp_path_factory, 1500, 20241103, catalog=catalog).root
    home = tmp_path_factory.mktemp("integrity-city") / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'state.db'}", catalog_dir=None)
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    migrate(engine)
    RegistryImporter(
        engine, Pseudonymizer.for_home(settings.secrets_dir), rules_from_catalog(None), today=AS_OF
    ).import_dir(city / "registry")
    sources = load_sources(None, catalog)
    ingestor = Ingestor(settings, catalog, sources, AS_OF, engine=engine)
    for code, path in manifest_files(city):
        ingestor.ingest_file(sources[code], path)
    report = scan(settings, engine, catalog, AS_OF)
    with engine.connect() as connection:
        cases = list_cases(connection)
        person_of = {
            r.id_number: int(r.person_id)
            for r in connection.execute(select(Person.id_number, Person.person_id))
        }
        enrollment_of = {
            r.external_ref: int(r.enrollment_id)
            for r in connection.execute(select(Enrollment.external_ref, Enrollment.enrollment_id))
        }
    yield ScannedCity(city, settings, engine, catalog, report, cases, person_of, enrollment_of)
    engine.dispose()


def test_every_planted_registry_case_is_found_by_its_rule_and_nothing_else(
    scanned_city: ScannedCity,
) -> None:
    planted = [r for r in scanned_city.truth("integrity_cases.csv") if r["case_type"] != "maoling"]
    assert {r["case_type"] for r in planted} == set(RULE_OF) - {"maoling"}
    registry_rules = ("duplicate_registration", "exclusive_programs", "payment_above_standard")
    found = [c for c in scanned_city.cases if c.rule in registry_rules]
    for row in planted:
        person = scanned_city.person_of[row["id_number"]]
        refs = {scanned_city.enrollment_of[e] for e in row["enrollment_ids"].split(";")}
        hits = [c for c in found if (c.rule, c.person_id) == (RULE_OF[row["case_type"]], person)]
        assert len(hits) == 1 and hits[0].enrollment_id in refs, row
    assert len(found) == len(planted)
    doubled = [c for c in scanned_city.cases if c.details and c.details.get("months_paid_twice")]
    assert len(doubled) == sum(r["case_type"] == "double_payment" for r in planted)


def test_planted_maoling_is_found_once_a_certification_period_has_passed(
    scanned_city: ScannedCity,
) -> None:
    maoling = [r for r in scanned_city.truth("people.csv") if r["maoling"] == "true"]
    long_ago = [
        r
        for r in maoling
        if dt.date.fromisoformat(r["death_date"]) + dt.timedelta(days=366) < AS_OF
    ]
    assert long_ago, "the city should hold a 冒领 case old enough to be seen"
    flagged = {
        c.person_id for c in scanned_city.cases if c.rule == "payments_without_strong_evidence"
    }
    for row in long_ago:
        assert scanned_city.person_of[row["id_number"]] in flagged, row


def test_recovery_cases_are_about_the_dead_and_recorded_deaths(scanned_city: ScannedCity) -> None:
    people = {r["id_number"]: r for r in scanned_city.truth("people.csv")}
    id_of = {v: k for k, v in scanned_city.person_of.items()}
    recovery = [c for c in scanned_city.cases if c.rule == "payments_after_death"]
    assert recovery
    for case in recovery:
        truth = people[id_of[case.person_id]]
        assert truth["death_date"] and truth["death_recorded"] == "true"
        assert case.amount is not None and case.amount > 0
        death = dt.date.fromisoformat(case.details["death_date"])  # type: ignore[index]
        assert death >= dt.date.fromisoformat(truth["death_date"])
        assert all(p["period"] > death.isoformat()[:7] for p in case.evidence)


def test_a_second_scan_opens_nothing(scanned_city: ScannedCity) -> None:
    again = scan(scanned_city.settings, scanned_city.engine, scanned_city.catalog, AS_OF)
    assert again.opened == 0
    assert again.found == scanned_city.report.found
    assert sum(r.already_open for r in again.rules.values()) == again.found
