"""The declarative policy-case runner: a YAML case in, the state database checked out.

A case (tests/policy/cases/*.yaml, format in tests/policy/README.md) builds a tiny city — the
registry rows, the evidence records in the lake — runs its `actions` (by default one
certification pass as of `as_of`) and checks each key of `expect:` with the checker
registered for it.

Extending it (engineers of other packages): put a module `tests/policy/steps_<name>.py` beside
this one; it is imported by the test module before the cases run. In it, register

    @action("lifecycle")            # an action: `- lifecycle: {as_of: 2025-07-01}`
    def run_lifecycle(case: CaseRun, params: dict[str, Any]) -> None: ...

    @checker("visit_tasks")         # an `expect:` key: `visit_tasks: [...]`
    def check_visit_tasks(case: CaseRun, expected: Any) -> None: ...   # assert inside

A case that uses an action or expect key nobody registered fails with a clear message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import yaml
from sqlalchemy import Engine, Table, insert, select

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.ingest import lake
from lifesign.registry.ids import check_character
from lifesign.store import make_engine, migrate
from lifesign.store.models import Batch, Enrollment, Payment, Person

CASES_DIR = Path(__file__).parent / "cases"

Action = Callable[["CaseRun", dict[str, Any]], None]
Checker = Callable[["CaseRun", Any], None]
ACTIONS: dict[str, Action] = {}
CHECKERS: dict[str, Checker] = {}

people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
payments_t = cast(Table, Payment.__table__)
batches_t = cast(Table, Batch.__table__)

CASE_KEYS = {"name", "description", "as_of", "registry", "evidence", "actions", "expect"}
DEFAULT_GRID = None  # the catalog's first grid


def action(name: str) -> Callable[[Action], Action]:
    def register(function: Action) -> Action:
        ACTIONS[name] = function
        return function

    return register


def checker(key: str) -> Callable[[Checker], Checker]:
    def register(function: Checker) -> Checker:
        CHECKERS[key] = function
        return function

    return register


def load_step_modules() -> None:
    """Import every tests/policy/steps_*.py (they register actions and checkers)."""
    for path in sorted(Path(__file__).parent.glob("steps_*.py")):
        importlib.import_module(f"tests.policy.{path.stem}")


def case_files() -> list[Path]:
    return sorted(CASES_DIR.glob("*.yaml"))


def load_cases(path: Path) -> list[dict[str, Any]]:
    """A file holds one case (a mapping) or several (a list of mappings)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = data if isinstance(data, list) else [data]
    for case in cases:
        unknown = set(case) - CASE_KEYS
        assert not unknown, f"{path.name}: {case.get('name')}: unknown key(s) {sorted(unknown)}"
        assert "name" in case and "as_of" in case, f"{path.name}: a case needs name and as_of"
    return cast(list[dict[str, Any]], cases)


def id_number_for(index: int, birth_date: dt.date) -> str:
    """A valid synthetic resident ID number (region 341602) for the case's index-th person."""
    first17 = f"341602{birth_date:%Y%m%d}{(index * 2 + 1) % 1000:03d}"
    return first17 + check_character(first17)


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def as_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, 10, 0, 0)
    text = str(value)
    return dt.datetime.fromisoformat(text) if len(text) > 10 else as_time(as_date(text))


def months_between(first: str, last: str) -> Iterator[str]:
    year, month = int(first[:4]), int(first[5:7])
    while f"{year:04d}-{month:02d}" <= last:
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


@dataclass
class CaseRun:
    """A case being run: its database, lake, catalog, and the labels of its rows."""

    case: dict[str, Any]
    settings: Settings
    engine: Engine
    catalog: Catalog
    persons: dict[str, int] = field(default_factory=dict)  # label → person_id
    enrollments: dict[str, int] = field(default_factory=dict)  # label → enrollment_id
    id_numbers: dict[str, str] = field(default_factory=dict)  # label → ID number
    pending: list[dict[str, Any]] = field(default_factory=list)  # evidence not yet in the lake
    outputs: dict[str, Any] = field(default_factory=dict)  # what actions returned, by name

    @property
    def name(self) -> str:
        return str(self.case["name"])

    @property
    def as_of(self) -> dt.date:
        return as_date(self.case["as_of"])

    def person_label(self, person_id: int) -> str:
        return {v: k for k, v in self.persons.items()}.get(person_id, str(person_id))

    def enrollment_label(self, enrollment_id: int | None) -> str | None:
        if enrollment_id is None:
            return None
        return {v: k for k, v in self.enrollments.items()}.get(enrollment_id, str(enrollment_id))

    # -- building the city -------------------------------------------------------------------

    def build_registry(self) -> None:
        registry = self.case.get("registry") or {}
        grid = self.catalog.regions.grids[0].code
        with self.engine.begin() as connection:
            for index, person in enumerate(registry.get("people") or []):
                label = str(person["id"])
                birth = as_date(person.get("birth_date", "1950-01-01"))
                id_number = id_number_for(index, birth)
                person_id = connection.execute(
                    insert(people_t)
                    .values(
                        pseudonym=hashlib.blake2b(label.encode(), digest_size=16).hexdigest(),
                        id_number=id_number,
                        name=str(person.get("name", f"测试{index}")),
                        sex="M" if int(id_number[16]) % 2 else "F",
                        birth_date=birth,
                        phone=person.get("phone"),
                        grid_code=str(person.get("grid_code", grid)),
                        last_certified_on=(
                            as_date(person["last_certified_on"])
                            if person.get("last_certified_on")
                            else None
                        ),
                        last_certification_channel=person.get("last_certification_channel"),
                    )
                    .returning(people_t.c.person_id)
                ).scalar_one()
                self.persons[label] = int(person_id)
                self.id_numbers[label] = id_number
            for enrollment in registry.get("enrollments") or []:
                label = str(enrollment["id"])
                program = self.catalog.programs[str(enrollment["program"])]
                start = as_date(enrollment.get("start_date", "2015-01-01"))
                amount = enrollment.get("monthly_amount")
                enrollment_id = connection.execute(
                    insert(enrollments_t)
                    .values(
                        external_ref=label,
                        person_id=self.persons[str(enrollment["person"])],
                        program=program.code,
                        start_date=start,
                        end_date=None,
                        monthly_amount=Decimal(str(amount))
                        if amount is not None
                        else program.monthly_amount(self.as_of),
                        status=str(enrollment.get("status", "active")),
                    )
                    .returning(enrollments_t.c.enrollment_id)
                ).scalar_one()
                self.enrollments[label] = int(enrollment_id)
            for payment in registry.get("payments") or []:
                label = str(payment["enrollment"])
                enrollment_id = self.enrollments[label]
                amount = connection.execute(
                    select(enrollments_t.c.monthly_amount).where(
                        enrollments_t.c.enrollment_id == enrollment_id
                    )
                ).scalar_one()
                spec = str(payment.get("periods") or payment["period"])
                first, _, last = spec.partition("..")
                for period in months_between(first, last or first):
                    connection.execute(
                        insert(payments_t).values(
                            enrollment_id=enrollment_id,
                            period=period,
                            amount=Decimal(str(payment.get("amount", amount))),
                            paid_on=dt.date(int(period[:4]), int(period[5:7]), 10),
                        )
                    )
        self.pending = [dict(record) for record in self.case.get("evidence") or []]

    def deliver_evidence(self, until: dt.date) -> int:
        """Write the pending evidence that has arrived by `until` into the lake, one committed
        batch per (arrival day, source). Returns the records written."""
        arrived = [r for r in self.pending if as_date(r.get("arrives", r["time"])) <= until]
        self.pending = [r for r in self.pending if r not in arrived]
        groups: dict[tuple[dt.date, str], list[dict[str, Any]]] = {}
        for record in arrived:
            key = (as_date(record.get("arrives", record["time"])), str(record["source"]))
            groups.setdefault(key, []).append(record)
        for (_day, source), records in sorted(groups.items()):
            with self.engine.begin() as connection:
                batch_id = connection.execute(
                    insert(batches_t)
                    .values(
                        kind="file",
                        source=source,
                        file_name=f"{self.name}.csv",
                        status="committed",
                        counts={},
                    )
                    .returning(batches_t.c.batch_id)
                ).scalar_one()
            writer = lake.BatchWriter(self.settings.lake_dir, int(batch_id), source)
            rows = []
            for row, record in enumerate(records):
                label = str(record["person"])
                rows.append(
                    {
                        "person_id": self.persons.get(label),
                        "pseudonym": hashlib.blake2b(label.encode(), digest_size=16).hexdigest(),
                        "evidence_type": str(record["type"]),
                        "event_time": as_time(record["time"]),
                        "source": source,
                        "record_id": str(record["record_id"]),
                        "record_key": row,
                        "batch_id": int(batch_id),
                        "row": row + 1,
                    }
                )
            writer.add(pa.Table.from_pylist(rows, schema=lake.LAKE_SCHEMA))
            writer.close()
            lake.publish(self.settings.lake_dir, int(batch_id))
        return len(arrived)


def run_case(case: dict[str, Any], home: Path, database_url: str | None = None) -> CaseRun:
    """Build the case's city under `home`, run its actions, check its expectations."""
    settings = Settings(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'state.db'}",
        catalog_dir=None,
    )
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    migrate(engine)
    run = CaseRun(case=case, settings=settings, engine=engine, catalog=load_catalog(None))
    try:
        run.build_registry()
        actions = case.get("actions") or [{"pass": {}}]
        for step in actions:
            ((name, params),) = step.items() if isinstance(step, dict) else [(step, {})]
            if name not in ACTIONS:
                raise AssertionError(
                    f"{run.name}: unknown action {name!r} (registered: {sorted(ACTIONS)})"
                )
            ACTIONS[name](run, dict(params or {}))
        for key, expected in (case.get("expect") or {}).items():
            if key not in CHECKERS:
                raise AssertionError(
                    f"{run.name}: no checker for expect key {key!r} (registered: "
                    f"{sorted(CHECKERS)})"
                )
            CHECKERS[key](run, expected)
    finally:
        engine.dispose()
    return run


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
