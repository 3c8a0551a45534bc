"""The catalog's values: plain frozen dataclasses, built and validated by `loader`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Literal

from lifesign.errors import FileProblem, FileProblemsError, Location

# The catalog's public names (lifesign.catalog re-exports exactly these, and load_catalog).
__all__ = [
    "AmountRule",
    "Catalog",
    "CatalogError",
    "CatalogProblem",
    "Department",
    "EvidenceType",
    "Level",
    "Program",
    "Region",
    "RegionTree",
    "Reminder",
    "ReminderAction",
    "Status",
    "StatusAction",
    "Strength",
]

Strength = Literal["strong", "weak"]
Status = Literal["alive", "deceased", "imprisoned", "emigrated", "moved_away"]
StatusAction = Literal["terminate", "suspend"]
ReminderAction = Literal["sms", "visit_task"]
Level = Literal["county", "township", "village", "grid"]

STRENGTHS: tuple[Strength, ...] = ("strong", "weak")
STATUSES: tuple[Status, ...] = ("alive", "deceased", "imprisoned", "emigrated", "moved_away")
STATUS_ACTIONS: tuple[StatusAction, ...] = ("terminate", "suspend")
REMINDER_ACTIONS: tuple[ReminderAction, ...] = ("sms", "visit_task")
LEVELS: tuple[Level, ...] = ("county", "township", "village", "grid")


CatalogProblem = FileProblem


@dataclass
class CatalogError(FileProblemsError):
    """The catalog is unusable. `problems` lists every problem found, not just the first."""

    SUBJECT: ClassVar[str] = "the catalog"
    problems: tuple[CatalogProblem, ...] = ()


@dataclass(frozen=True)
class Department:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class EvidenceType:
    code: str
    department: str
    name_zh: str
    name_en: str
    strength: Strength
    establishes: Status


@dataclass(frozen=True)
class AmountRule:
    """A monthly amount in yuan from `effective_from` to `effective_until` (inclusive, None =
    open-ended), for people aged `min_age` or over when set (an age tier)."""

    effective_from: date
    effective_until: date | None
    amount: Decimal
    min_age: int | None
    source: str

    def covers(self, on: date) -> bool:
        return self.effective_from <= on and (
            self.effective_until is None or on <= self.effective_until
        )


@dataclass(frozen=True)
class Reminder:
    days_before_expiry: int
    action: ReminderAction


@dataclass(frozen=True)
class Program:
    code: str
    name_zh: str
    name_en: str
    owner: str
    co_owners: tuple[str, ...]
    min_age: int | None
    max_age: int | None
    eligibility_zh: str
    eligibility_en: str
    excludes: tuple[str, ...]
    amounts: tuple[AmountRule, ...]
    certification_period_months: int
    reminders: tuple[Reminder, ...]
    on_status: dict[str, StatusAction] = field(hash=False)
    source_file: str = field(default="programs.yaml", compare=False, repr=False)

    def age_allowed(self, age: int) -> bool:
        """Whether `age` is inside the program's age range."""
        return (self.min_age is None or age >= self.min_age) and (
            self.max_age is None or age <= self.max_age
        )

    def monthly_amount(self, on: date, age: int | None = None) -> Decimal:
        """The monthly amount on date `on` for a person of `age`.

        Among the rules in force on `on`, the highest age tier the person reaches applies;
        without an age, the lowest tier. Raises CatalogError when no rule covers the date
        (or the age is below every tier).
        """
        in_force = [rule for rule in self.amounts if rule.covers(on)]
        if not in_force:
            raise CatalogError(
                what=f"program {self.code!r} has no amount rule in force on {on.isoformat()}",
                why="add an amount with an effective_from on or before that date",
                where=Location(file=self.source_file, key=f"programs.{self.code}.amounts"),
            )
        if age is None:
            return min(in_force, key=lambda r: r.min_age or 0).amount
        reached = [r for r in in_force if r.min_age is None or age >= r.min_age]
        if not reached:
            raise CatalogError(
                what=f"program {self.code!r} has no amount for age {age} on {on.isoformat()}",
                why="the lowest age tier is " + str(min(r.min_age or 0 for r in in_force)),
                where=Location(file=self.source_file, key=f"programs.{self.code}.amounts"),
            )
        return max(reached, key=lambda r: r.min_age or 0).amount

    def amount_rule(self, on: date, age: int | None = None) -> AmountRule:
        """The rule `monthly_amount` used (for explanations: it carries the `source`)."""
        amount = self.monthly_amount(on, age)
        candidates = [r for r in self.amounts if r.covers(on) and r.amount == amount]
        if age is not None:
            candidates = [r for r in candidates if r.min_age is None or age >= r.min_age]
        return max(candidates, key=lambda r: r.min_age or 0)


@dataclass(frozen=True)
class Region:
    code: str
    name_zh: str
    level: Level
    parent: str | None
    urban: bool


class RegionTree:
    """The region tree of the city: counties > townships > villages/communities > grids."""

    __slots__ = ("_by_level", "_children", "by_code", "city_code", "city_name_en", "city_name_zh")

    def __init__(
        self, city_code: str, city_name_zh: str, city_name_en: str, regions: Iterable[Region]
    ) -> None:
        self.city_code = city_code
        self.city_name_zh = city_name_zh
        self.city_name_en = city_name_en
        self.by_code: dict[str, Region] = {}
        by_level: dict[str, list[Region]] = {level: [] for level in LEVELS}
        children: dict[str | None, list[Region]] = {}
        for region in regions:
            self.by_code[region.code] = region
            by_level[region.level].append(region)
            children.setdefault(region.parent, []).append(region)
        self._by_level = {level: tuple(items) for level, items in by_level.items()}
        self._children = {parent: tuple(items) for parent, items in children.items()}

    @property
    def counties(self) -> tuple[Region, ...]:
        return self._by_level["county"]

    @property
    def townships(self) -> tuple[Region, ...]:
        return self._by_level["township"]

    @property
    def villages(self) -> tuple[Region, ...]:
        return self._by_level["village"]

    @property
    def grids(self) -> tuple[Region, ...]:
        return self._by_level["grid"]

    def of_level(self, level: Level) -> tuple[Region, ...]:
        return self._by_level[level]

    def __len__(self) -> int:
        return len(self.by_code)

    def get(self, code: str) -> Region:
        try:
            return self.by_code[code]
        except KeyError:
            raise CatalogError(
                what=f"unknown region code {code!r}", where=Location(file="regions.yaml")
            ) from None

    def children(self, code: str) -> tuple[Region, ...]:
        """The regions one level below `code` (empty for a grid)."""
        self.get(code)
        return self._children.get(code, ())

    def ancestors(self, code: str) -> tuple[Region, ...]:
        """`code`'s region and its parents up to its county, nearest first."""
        chain = [self.get(code)]
        while chain[-1].parent is not None:
            chain.append(self.get(chain[-1].parent))
        return tuple(chain)

    def county_of(self, code: str) -> Region:
        return self.ancestors(code)[-1]


@dataclass(frozen=True, eq=False)
class Catalog:
    version: str
    effective_from: date
    description: str
    directory: Path
    departments: dict[str, Department]
    agencies: dict[str, Department]
    evidence_types: dict[str, EvidenceType]
    programs: dict[str, Program]
    regions: RegionTree
    warnings: tuple[CatalogProblem, ...] = ()

    def organisation(self, code: str) -> Department:
        """A department or an agency by code."""
        found = self.departments.get(code) or self.agencies.get(code)
        if found is None:
            raise CatalogError(what=f"unknown department or agency {code!r}")
        return found

    def evidence_of(
        self, strength: Strength | None = None, establishes: Status | None = None
    ) -> tuple[EvidenceType, ...]:
        """Evidence types filtered by strength and/or status, in file order."""
        return tuple(
            e
            for e in self.evidence_types.values()
            if (strength is None or e.strength == strength)
            and (establishes is None or e.establishes == establishes)
        )
