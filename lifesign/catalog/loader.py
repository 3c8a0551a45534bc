"""Load a catalog folder and validate all of it, reporting every problem with file and key.

The files are YAML. Each is parsed once into both plain values and YAML nodes; the nodes give
the line of every key, so a problem says `programs.yaml:57: programs.dibao.excludes[0]: ...`.
Checks never stop at the first problem: everything found is raised in one CatalogError.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from lifesign.catalog.model import (
    LEVELS,
    REMINDER_ACTIONS,
    STATUS_ACTIONS,
    STATUSES,
    STRENGTHS,
    AmountRule,
    Catalog,
    CatalogError,
    CatalogProblem,
    Department,
    EvidenceType,
    Level,
    Program,
    Region,
    RegionTree,
    Reminder,
    ReminderAction,
    Status,
    StatusAction,
    Strength,
)

PACKAGED_DIR = Path(__file__).resolve().parent / "data"
CATALOG_FILE = "catalog.yaml"
PARTS = ("departments", "evidence_types", "programs", "regions")

# What Bozhou has; a city may differ (a warning, not an error).
EXPECTED_DEPARTMENTS = 26
EXPECTED_STRONG = 39
EXPECTED_WEAK = 9

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
DIGITS_RE = re.compile(r"^[0-9]+$")
CODE_LENGTH: dict[str, int] = {"county": 6, "township": 9, "village": 12, "grid": 15}
# On status: the statuses a program may list (death always terminates).
LISTED_STATUSES = ("imprisoned", "emigrated", "moved_away")

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Problems and positions
# --------------------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.errors: list[CatalogProblem] = []
        self.warnings: list[CatalogProblem] = []

    def add(self, at: _At, problem: str) -> None:
        self.errors.append(CatalogProblem(at.file, at.key, problem, at.line))

    def warn(self, at: _At, problem: str) -> None:
        self.warnings.append(CatalogProblem(at.file, at.key, problem, at.line))


@dataclass(frozen=True)
class _At:
    """A position in a file: its key path for people, its YAML node for the line number."""

    file: str
    key: str
    node: yaml.Node | None

    @property
    def line(self) -> int | None:
        return None if self.node is None else self.node.start_mark.line + 1

    def child(self, step: str | int, label: str | None = None) -> _At:
        node = _child_node(self.node, step)
        if isinstance(step, int) and label is None:
            key = f"{self.key}[{step}]"
        else:
            name = label if label is not None else str(step)
            key = f"{self.key}.{name}" if self.key else name
        return _At(self.file, key, node if node is not None else self.node)

    def key_node(self, name: str) -> _At:
        """The position of a mapping's key `name` (the line of the key itself)."""
        if isinstance(self.node, yaml.MappingNode):
            for key_node, _ in self.node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == name:
                    return _At(self.file, self._join(name), key_node)
        return _At(self.file, self._join(name), self.node)

    def _join(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name


def _child_node(node: yaml.Node | None, step: str | int) -> yaml.Node | None:
    if isinstance(step, int) and isinstance(node, yaml.SequenceNode):
        return node.value[step] if 0 <= step < len(node.value) else None
    if isinstance(step, str) and isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == step:
                return cast(yaml.Node, value_node)
    return None


# --------------------------------------------------------------------------------------------
# Reading YAML
# --------------------------------------------------------------------------------------------

_parsed: dict[str, tuple[Any, yaml.Node | None]] = {}
# Validated region files, by (file name, id of the parsed data held in `_parsed`): the region
# file is by far the largest and changes least.
_region_trees: dict[tuple[str, int], tuple[list[CatalogProblem], RegionTree | None]] = {}


def _parse(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text into (values, root node); cached by content (the data is not mutated)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest not in _parsed:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
        while len(_parsed) >= 64:  # forget the oldest
            old_data, _ = _parsed.pop(next(iter(_parsed)))
            for key in [k for k in _region_trees if k[1] == id(old_data)]:
                del _region_trees[key]
        _parsed[digest] = (data, node)
    return _parsed[digest]


def _read(directory: Path, name: str, problems: _Problems) -> tuple[Any, _At] | None:
    """Read one file; on a missing file or a syntax error, record it and return None."""
    path = directory / name
    here = _At(name, "", None)
    if not path.is_file():
        problems.add(here, f"file not found: {path}")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.add(here, f"cannot read the file: {error}")
        return None
    try:
        data, node = _parse(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = None if mark is None else mark.line + 1
        what = " ".join(str(part) for part in (error.context, error.problem) if part)
        problems.errors.append(CatalogProblem(name, "", f"YAML syntax error: {what}", line))
        return None
    except yaml.YAMLError as error:
        problems.add(here, f"YAML syntax error: {error}")
        return None
    at = _At(name, "", node)
    if not isinstance(data, dict):
        problems.add(at, "the file must be a mapping of keys (e.g. `programs:` with a list)")
        return None
    return data, at


# --------------------------------------------------------------------------------------------
# Field readers
# --------------------------------------------------------------------------------------------


class _Fields:
    """The fields of one mapping entry, checked for missing, unknown and ill-typed values."""

    def __init__(
        self,
        problems: _Problems,
        at: _At,
        value: Any,
        required: Iterable[str],
        optional: Iterable[str] = (),
    ) -> None:
        self.problems = problems
        self.at = at
        self.ok = True
        required = tuple(required)
        allowed = (*required, *optional)
        if not isinstance(value, dict):
            problems.add(at, f"must be a mapping of fields, got {_kind(value)}")
            self.data: dict[Any, Any] = {}
            self.ok = False
            return
        self.data = value
        for name in value:
            if name not in allowed:
                problems.add(
                    at.key_node(str(name)),
                    f"unknown field {name!r} (allowed: {', '.join(allowed)})",
                )
        for name in required:
            if value.get(name) is None:
                problems.add(at.child(name), f"missing required field {name!r}")
                self.ok = False

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def _bad(self, name: str, problem: str) -> None:
        self.problems.add(self.at.child(name), problem)
        self.ok = False

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name)
        if value is None:
            return default or ""
        if isinstance(value, (bool, dict, list)):
            self._bad(name, f"must be text, got {_kind(value)}")
            return ""
        text = str(value).strip()
        if not text:
            self._bad(name, "must not be empty")
        return text

    def code(self, name: str = "code") -> str:
        text = self.text(name)
        if text and not CODE_RE.match(text):
            self._bad(name, f"code {text!r} must be lowercase letters, digits and _")
        return text

    def digits(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        text = str(value).strip() if isinstance(value, (int, str)) else ""
        if isinstance(value, bool) or not DIGITS_RE.match(text):
            self._bad(name, f"must be a code of digits, got {value!r}")
        return text

    def integer(self, name: str, minimum: int | None = None) -> int | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(name, f"must be a whole number, got {value!r}")
            return None
        if minimum is not None and value < minimum:
            self._bad(name, f"must be at least {minimum}, got {value}")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self._bad(name, f"must be true or false, got {value!r}")
            return None
        return value

    def day(self, name: str) -> date | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self._bad(name, f"must be a date YYYY-MM-DD, got {value!r}")
        return None

    def decimal(self, name: str) -> Decimal | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self._bad(name, f"must be a number, got {value!r}")
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            self._bad(name, f"must be a number, got {value!r}")
            return None
        if not number.is_finite():
            self._bad(name, f"must be a number, got {value!r}")
            return None
        return number

    def choice(self, name: str, allowed: Iterable[str], what: str) -> str:
        text = self.text(name)
        options = tuple(allowed)
        if text and text not in options:
            self._bad(name, f"{what} {text!r} is not one of: {', '.join(options)}")
            return ""
        return text

    def items(self, name: str) -> list[tuple[_At, Any]]:
        """A list field as (position, value) pairs; a missing field is an empty list."""
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self._bad(name, f"must be a list, got {_kind(value)}")
            return []
        at = self.at.child(name)
        return [(at.child(i), item) for i, item in enumerate(value)]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _entries(
    problems: _Problems,
    fields: _Fields,
    name: str,
    build: Callable[[_At, Any], tuple[str, T] | None],
    seen: dict[str, str],
) -> dict[str, T]:
    """Build every entry of a list field keyed by code, reporting duplicate codes.

    `seen` maps codes already used (possibly by another list) to where they were first used.
    """
    out: dict[str, T] = {}
    for at, item in fields.items(name):
        code = item.get("code") if isinstance(item, dict) else None
        label = str(code) if isinstance(code, str) and code and str(code) not in seen else None
        entry_at = _At(at.file, f"{fields.at.child(name).key}.{label}", at.node) if label else at
        built = build(entry_at, item)
        if built is None:
            continue
        code_text, value = built
        if code_text in seen:
            problems.add(
                at.child("code"), f"duplicate code {code_text!r} (first used at {seen[code_text]})"
            )
            continue
        seen[code_text] = entry_at.key
        out[code_text] = value
    return out


# --------------------------------------------------------------------------------------------
# The files
# --------------------------------------------------------------------------------------------


def _departments(
    problems: _Problems, data: dict[str, Any], at: _At
) -> tuple[dict[str, Department], dict[str, Department]]:
    top = _Fields(problems, at, data, ("departments",), ("agencies",))
    seen: dict[str, str] = {}

    def build(entry_at: _At, item: Any) -> tuple[str, Department] | None:
        f = _Fields(problems, entry_at, item, ("code", "name_zh", "name_en"))
        dept = Department(f.code(), f.text("name_zh"), f.text("name_en"))
        return (dept.code, dept) if f.ok else None

    departments = _entries(problems, top, "departments", build, seen)
    agencies = _entries(problems, top, "agencies", build, seen)
    return departments, agencies


def _evidence_types(
    problems: _Problems,
    data: dict[str, Any],
    at: _At,
    departments: dict[str, Department] | None,
    agencies: dict[str, Department] | None,
) -> dict[str, EvidenceType]:
    top = _Fields(problems, at, data, ("evidence_types",))

    def build(entry_at: _At, item: Any) -> tuple[str, EvidenceType] | None:
        f = _Fields(
            problems,
            entry_at,
            item,
            ("code", "department", "name_zh", "name_en", "strength", "establishes"),
        )
        code = f.code()
        department = f.code("department")
        if department and departments is not None and department not in departments:
            if agencies and department in agencies:
                f._bad("department", f"{department!r} is an agency that supplies no data")
            else:
                f._bad("department", f"unknown department {department!r}")
        strength = f.choice("strength", STRENGTHS, "strength")
        establishes = f.choice("establishes", STATUSES, "status")
        name_zh, name_en = f.text("name_zh"), f.text("name_en")
        if not f.ok:
            return None
        return code, EvidenceType(
            code,
            department,
            name_zh,
            name_en,
            cast(Strength, strength),
            cast(Status, establishes),
        )

    return _entries(problems, top, "evidence_types", build, {})


_PROGRAM_REQUIRED = ("code", "name_zh", "name_en", "owner", "eligibility_zh", "eligibility_en")
_PROGRAM_OPTIONAL = (
    "co_owners",
    "min_age",
    "max_age",
    "excludes",
    "amounts",
    "certification_period_months",
    "reminders",
    "on_status",
)


@dataclass
class _Schedule:
    period: int | None
    reminders: tuple[Reminder, ...] | None
    on_status: dict[str, StatusAction] | None


def _schedule(problems: _Problems, f: _Fields) -> _Schedule:
    """The certification period, reminders and status actions set in an entry (or defaults)."""
    period = f.integer("certification_period_months")
    if period is not None and period <= 0:
        f._bad("certification_period_months", f"must be greater than 0, got {period}")
    reminders: tuple[Reminder, ...] | None = None
    if f.has("reminders"):
        built: list[Reminder] = []
        for at, item in f.items("reminders"):
            r = _Fields(problems, at, item, ("days_before_expiry", "action"))
            days = r.integer("days_before_expiry")
            if days is not None and days <= 0:
                r._bad("days_before_expiry", f"must be greater than 0, got {days}")
            action = r.choice("action", REMINDER_ACTIONS, "reminder action")
            if r.ok and days is not None:
                built.append(Reminder(days, cast(ReminderAction, action)))
        reminders = tuple(sorted(built, key=lambda rem: -rem.days_before_expiry))
    on_status: dict[str, StatusAction] | None = None
    raw = f.data.get("on_status")
    if raw is not None:
        on_status = {}
        status_at = f.at.child("on_status")
        if not isinstance(raw, dict):
            f._bad("on_status", f"must be a mapping of status: action, got {_kind(raw)}")
        else:
            for status, action in raw.items():
                here = status_at.child(str(status))
                if status == "deceased":
                    if action != "terminate":
                        problems.add(here, "death always terminates payment")
                    continue
                if status not in LISTED_STATUSES:
                    problems.add(
                        status_at.key_node(str(status)),
                        f"unknown status {status!r} (allowed: {', '.join(LISTED_STATUSES)})",
                    )
                elif action not in STATUS_ACTIONS:
                    problems.add(
                        here, f"action {action!r} is not one of: {', '.join(STATUS_ACTIONS)}"
                    )
                else:
                    on_status[str(status)] = cast(StatusAction, action)
    return _Schedule(period, reminders, on_status)


def _amounts(problems: _Problems, f: _Fields) -> tuple[AmountRule, ...]:
    rules: list[tuple[_At, AmountRule]] = []
    entries = f.items("amounts")
    if f.has("amounts") and not entries and isinstance(f.data.get("amounts"), list):
        f._bad("amounts", "needs at least one amount rule")
    for at, item in entries:
        a = _Fields(
            problems,
            at,
            item,
            ("effective_from", "amount", "source"),
            ("effective_until", "min_age"),
        )
        start = a.day("effective_from")
        until = a.day("effective_until")
        amount = a.decimal("amount")
        min_age = a.integer("min_age", minimum=0)
        source = a.text("source")
        if amount is not None and amount <= 0:
            a._bad("amount", f"amount must be greater than 0, got {amount}")
        if start is not None and until is not None and until < start:
            a._bad(
                "effective_until",
                f"effective_until {until.isoformat()} is before effective_from {start.isoformat()}",
            )
        if a.ok and start is not None and amount is not None:
            rules.append((at, AmountRule(start, until, amount, min_age, source)))
    # Rules of the same age tier must not overlap in time.
    by_tier: dict[int | None, list[tuple[_At, AmountRule]]] = {}
    for at, rule in rules:
        by_tier.setdefault(rule.min_age, []).append((at, rule))
    for tier_rules in by_tier.values():
        ordered = sorted(tier_rules, key=lambda pair: pair[1].effective_from)
        for (prev_at, prev), (at, rule) in itertools.pairwise(ordered):
            if prev.effective_until is None or rule.effective_from <= prev.effective_until:
                tier = "" if rule.min_age is None else f" (age tier {rule.min_age}+)"
                end = (
                    "open-ended"
                    if prev.effective_until is None
                    else f"until {prev.effective_until.isoformat()}"
                )
                problems.add(
                    at,
                    f"amount dates overlap{tier}: from {rule.effective_from.isoformat()} "
                    f"overlaps {prev_at.key} (from {prev.effective_from.isoformat()}, {end})",
                )
    return tuple(rule for _, rule in rules)


def _programs(
    problems: _Problems,
    data: dict[str, Any],
    at: _At,
    owners: dict[str, Department] | None,
) -> dict[str, Program]:
    top = _Fields(problems, at, data, ("programs",), ("defaults",))
    defaults = _Schedule(None, None, None)
    if top.has("defaults"):
        d = _Fields(
            problems,
            at.child("defaults"),
            data["defaults"],
            (),
            ("certification_period_months", "reminders", "on_status"),
        )
        defaults = _schedule(problems, d)
    excludes_at: dict[str, list[tuple[_At, str]]] = {}
    declared: set[str] = set()  # every program code in the file, even of invalid entries

    def build(entry_at: _At, item: Any) -> tuple[str, Program] | None:
        f = _Fields(problems, entry_at, item, _PROGRAM_REQUIRED, _PROGRAM_OPTIONAL)
        if not f.ok and not isinstance(item, dict):
            return None
        code = f.code()
        declared.add(code)
        owner = f.code("owner")
        if owner and owners is not None and owner not in owners:
            f._bad("owner", f"unknown owner {owner!r}: not a department or agency")
        co_owners: list[str] = []
        for c_at, co in f.items("co_owners"):
            if not isinstance(co, str) or (owners is not None and co not in owners):
                problems.add(c_at, f"unknown co-owner {co!r}: not a department or agency")
            else:
                co_owners.append(co)
        min_age = f.integer("min_age", minimum=0)
        max_age = f.integer("max_age", minimum=0)
        if min_age is not None and max_age is not None and min_age > max_age:
            f._bad("max_age", f"min_age {min_age} is greater than max_age {max_age}")
        excludes: list[str] = []
        for x_at, other in f.items("excludes"):
            if not isinstance(other, str) or not other:
                problems.add(x_at, f"must be a program code, got {other!r}")
                continue
            excludes.append(other)
            excludes_at.setdefault(code, []).append((x_at, other))
        if not f.has("amounts"):
            f._bad("amounts", "missing required field 'amounts'")
        amounts = _amounts(problems, f)
        schedule = _schedule(problems, f)
        period = schedule.period or defaults.period
        reminders = schedule.reminders if schedule.reminders is not None else defaults.reminders
        on_status = {**(defaults.on_status or {}), **(schedule.on_status or {})}
        if period is None:
            f._bad(
                "certification_period_months",
                "missing: set it here or in `defaults` (e.g. 12)",
            )
        name_zh, name_en = f.text("name_zh"), f.text("name_en")
        eligibility_zh, eligibility_en = f.text("eligibility_zh"), f.text("eligibility_en")
        if not f.ok or period is None:
            return None
        return code, Program(
            code=code,
            name_zh=name_zh,
            name_en=name_en,
            owner=owner,
            co_owners=tuple(co_owners),
            min_age=min_age,
            max_age=max_age,
            eligibility_zh=eligibility_zh,
            eligibility_en=eligibility_en,
            excludes=tuple(excludes),
            amounts=amounts,
            certification_period_months=period,
            reminders=reminders or (),
            on_status=on_status,
            source_file=at.file,
        )

    programs = _entries(problems, top, "programs", build, {})
    # Exclusions: every excluded program exists, is not the program itself, and excludes back.
    for code, pairs in excludes_at.items():
        for x_at, other in pairs:
            if other == code:
                problems.add(x_at, f"program {code!r} excludes itself")
            elif other not in programs:
                if code in programs and other not in declared:
                    problems.add(x_at, f"excludes unknown program {other!r}")
            elif code in programs and code not in programs[other].excludes:
                problems.add(
                    x_at,
                    f"exclusion is not symmetric: {code!r} excludes {other!r} but "
                    f"programs.{other}.excludes does not list {code!r}",
                )
    return programs


def _cached_regions(problems: _Problems, data: dict[str, Any], at: _At) -> RegionTree | None:
    key = (at.file, id(data))
    if key not in _region_trees:
        found = _Problems()
        tree = _regions(found, data, at)
        _region_trees[key] = (found.errors, tree)
    errors, tree = _region_trees[key]
    problems.errors.extend(errors)
    return tree


def _regions(problems: _Problems, data: dict[str, Any], at: _At) -> RegionTree | None:
    top = _Fields(problems, at, data, ("city", "regions"))
    city = _Fields(problems, at.child("city"), data.get("city"), ("code", "name_zh"), ("name_en",))
    city_code = city.digits("code")
    city_zh, city_en = city.text("name_zh"), city.text("name_en")
    raw: list[tuple[_At, Region]] = []
    seen: dict[str, str] = {}
    inherit: set[str] = set()  # regions without `urban`: they take their parent's value
    for entry_at, item in top.items("regions"):
        code_value = item.get("code") if isinstance(item, dict) else None
        r_at = (
            _At(entry_at.file, f"regions.{code_value}", entry_at.node)
            if code_value is not None and str(code_value) not in seen
            else entry_at
        )
        f = _Fields(problems, r_at, item, ("code", "name_zh", "level"), ("parent", "urban"))
        code = f.digits("code")
        level = f.choice("level", LEVELS, "level")
        name = f.text("name_zh")
        parent = f.digits("parent") if f.has("parent") else None
        urban = f.boolean("urban")
        if level and code and len(code) != CODE_LENGTH[level]:
            f._bad("code", f"a {level} code has {CODE_LENGTH[level]} digits, got {code!r}")
        if level and level != "county" and parent is None:
            f._bad("parent", f"missing required field 'parent' (a {level} needs one)")
        if code in seen:
            problems.add(entry_at.child("code"), f"duplicate code {code!r} (first at {seen[code]})")
            continue
        if code:
            seen[code] = r_at.key
        if f.ok and code:
            raw.append((r_at, Region(code, name, cast(Level, level), parent, bool(urban))))
            if urban is None:
                inherit.add(code)
    by_code = {region.code: region for _, region in raw}
    regions: list[Region] = []
    resolved: dict[str, Region] = {}
    for r_at, region in raw:
        parent = region.parent
        if region.level == "county":
            if parent is not None and parent != city_code:
                problems.add(
                    r_at.child("parent"),
                    f"a county's parent must be the city {city_code!r}, got {parent!r}",
                )
            if city_code and not region.code.startswith(city_code):
                problems.add(
                    r_at.child("code"),
                    f"code {region.code!r} does not start with the city's code {city_code!r}",
                )
            parent = None
        else:
            assert parent is not None
            up = by_code.get(parent)
            wanted = LEVELS[LEVELS.index(region.level) - 1]
            if up is None:
                problems.add(r_at.child("parent"), f"unknown parent region {parent!r}")
            elif up.level != wanted:
                problems.add(
                    r_at.child("parent"),
                    f"parent {parent!r} is a {up.level}; a {region.level}'s parent must be "
                    f"a {wanted}",
                )
            if not region.code.startswith(parent):
                problems.add(
                    r_at.child("code"),
                    f"code {region.code!r} does not start with its parent's code {parent!r}",
                )
        urban = region.urban
        if region.code in inherit:
            above = resolved.get(parent) if parent else None
            urban = above.urban if above is not None else False
        final = Region(region.code, region.name_zh, region.level, parent, urban)
        resolved[final.code] = final
        regions.append(final)
    if not city.ok:
        return None
    return RegionTree(city_code, city_zh, city_en, regions)


# --------------------------------------------------------------------------------------------
# The catalog
# --------------------------------------------------------------------------------------------


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Load and validate the catalog in `directory` (None: the packaged catalog).

    Raises CatalogError listing every problem found. Warnings (counts that differ from
    Bozhou's) do not fail the load; they are in `Catalog.warnings`.
    """
    folder = (Path(directory) if directory is not None else PACKAGED_DIR).absolute()
    # The region tree makes tens of thousands of small objects that all live until the end:
    # cyclic garbage collection passes over them would only cost time (about 60% of the load).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load(folder)
    finally:
        if collecting:
            gc.enable()


def _load(folder: Path) -> Catalog:
    problems = _Problems()
    if not folder.is_dir():
        problems.add(_At(CATALOG_FILE, "", None), f"catalog folder not found: {folder}")
        raise CatalogError.of(problems.errors, folder)
    head = _read(folder, CATALOG_FILE, problems)
    if head is None:
        raise CatalogError.of(problems.errors, folder)
    data, at = head
    f = _Fields(problems, at, data, ("version", "effective_from", "files"), ("description",))
    version = f.text("version")
    effective_from = f.day("effective_from")
    description = f.text("description")
    files: dict[str, str] = {}
    if f.has("files"):
        files_at = at.child("files")
        ff = _Fields(problems, files_at, data["files"], PARTS)
        for name in PARTS:
            if ff.has(name):
                files[name] = ff.text(name)

    def part(name: str) -> tuple[Any, _At] | None:
        return _read(folder, files[name], problems) if files.get(name) else None

    dept_doc = part("departments")
    departments: dict[str, Department] | None = None
    agencies: dict[str, Department] | None = None
    if dept_doc is not None:
        departments, agencies = _departments(problems, *dept_doc)
    owners = None if departments is None else {**departments, **(agencies or {})}

    evidence_doc = part("evidence_types")
    evidence = (
        _evidence_types(problems, *evidence_doc, departments, agencies) if evidence_doc else None
    )
    program_doc = part("programs")
    programs = _programs(problems, *program_doc, owners) if program_doc else None
    region_doc = part("regions")
    regions = _cached_regions(problems, *region_doc) if region_doc else None

    # Counts: Bozhou's figures; a city may differ, so only warn.
    if dept_doc is not None and departments is not None:
        n = len(departments)
        if n != EXPECTED_DEPARTMENTS:
            problems.warn(
                dept_doc[1].child("departments"),
                f"{n} departments (Bozhou has {EXPECTED_DEPARTMENTS})",
            )
    if evidence_doc is not None and evidence is not None:
        strong = sum(1 for e in evidence.values() if e.strength == "strong")
        weak = len(evidence) - strong
        if strong != EXPECTED_STRONG or weak != EXPECTED_WEAK:
            problems.warn(
                evidence_doc[1].child("evidence_types"),
                f"{strong} strong and {weak} weak evidence types "
                f"(Bozhou has {EXPECTED_STRONG} strong and {EXPECTED_WEAK} weak)",
            )

    if problems.errors:
        raise CatalogError.of(problems.errors, folder)
    assert departments is not None and agencies is not None and effective_from is not None
    assert evidence is not None and programs is not None and regions is not None
    return Catalog(
        version=version,
        effective_from=effective_from,
        description=description,
        directory=folder,
        departments=departments,
        agencies=agencies,
        evidence_types=evidence,
        programs=programs,
        regions=regions,
        warnings=tuple(problems.warnings),
    )
