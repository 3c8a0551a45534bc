"""A tiny world for pipeline tests: a registry of a few recipients, test sources, CSV files.

Not a test module of its own (it has no tests); the pipeline, quarantine, crash and CLI tests
import it.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from lifesign.catalog import Catalog
from lifesign.config import Settings, load_settings
from lifesign.ingest.pipeline import Ingestor
from lifesign.ingest.sources import SourceDefinition, load_sources
from lifesign.registry.ids import check_character
from lifesign.registry.importer import RegistryImporter, rules_from_catalog
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store import open_database

AS_OF = dt.date(2026, 10, 31)
GRID = "341602001001001"
HEADER = ["record_id", "id_number", "evidence_type", "event_time", "name", "phone"]


def make_id(region: str, born: str, sequence: int) -> str:
    first17 = f"{region}{born}{sequence:03d}"
    return first17 + check_character(first17)


RECIPIENTS = [
    make_id("341602", "19500101", 123),
    make_id("341621", "19480315", 221),
    make_id("341623", "19521230", 441),
]
STRANGER = make_id("341622", "19600606", 17)  # valid, not in the registry
X_RECIPIENT = next(
    make_id("341602", "19400202", n)
    for n in range(1, 999)
    if make_id("341602", "19400202", n)[-1] == "X"
)

SOURCES_YAML = {
    "test_canon.yaml": (
        "code: test_canon\ndepartment: medical_insurance\nname_zh: 测试\nformat: csv\n"
        "canonical: true\nfile_pattern: 'canon_*.csv'\n"
    ),
    "test_keep.yaml": (
        "code: test_keep\ndepartment: railway\nname_zh: 测试保留\nformat: csv\n"
        "canonical: true\nkeep_non_recipients: true\nfile_pattern: 'keep_*.csv'\n"
    ),
}


@dataclass
class World:
    settings: Settings
    catalog: Catalog
    sources: dict[str, SourceDefinition]
    sources_dir: Path
    root: Path

    def ingestor(self) -> Ingestor:
        return Ingestor(self.settings, self.catalog, self.sources, AS_OF)

    def write_csv(self, name: str, rows: list[list[str]], encoding: str = "utf-8") -> Path:
        path = self.root / name
        with path.open("w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(rows)
        return path


def make_world(root: Path, database_url: str, catalog: Catalog) -> World:
    home = root / "home"
    settings = load_settings(home=home, database_url=database_url)
    engine = open_database(settings)
    registry = root / "registry"
    registry.mkdir()
    with (registry / "people.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id_number", "name", "grid_code"])
        for index, id_number in enumerate([*RECIPIENTS, X_RECIPIENT]):
            writer.writerow([id_number, f"测试{index}", GRID])
    rules = rules_from_catalog(settings.catalog_dir)
    RegistryImporter(engine, Pseudonymizer.for_home(settings.secrets_dir), rules).import_dir(
        registry
    )
    engine.dispose()
    sources_dir = root / "sources"
    sources_dir.mkdir()
    for name, text in SOURCES_YAML.items():
        (sources_dir / name).write_text(text, "utf-8")
    sources = load_sources(sources_dir, catalog)
    files = root / "files"
    files.mkdir()
    return World(settings, catalog, sources, sources_dir, files)


def good_row(
    record_id: str, id_number: str = RECIPIENTS[0], when: str = "2026-05-01 08:00:00"
) -> list[str]:
    return [record_id, id_number, "mi_inpatient", when, "张三", "13812345678"]
