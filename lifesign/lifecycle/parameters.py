"""The lifecycle's and the guard's parameters, read from `data/lifecycle.yaml` and
`data/guard.yaml` (each value is explained there) and checked on load."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from lifesign.errors import LifesignError, Location

DATA_DIR = Path(__file__).parent / "data"
LIFECYCLE_FILE = DATA_DIR / "lifecycle.yaml"
GUARD_FILE = DATA_DIR / "guard.yaml"


class ParameterError(LifesignError):
    """A lifecycle or guard parameter file is missing a value or holds a wrong one."""


@dataclass(frozen=True)
class LifecycleParameters:
    inbox_settle_seconds: float
    certified_notice_window_days: int
    visit_max_not_found: int
    visit_reason: str
    certified_lookback_days: int


@dataclass(frozen=True)
class GuardParameters:
    history_days: int
    min_arrivals: int
    stale_factor: float
    stale_grace_days: int
    collapse_ratio: float
    collapse_min_median: int
    major_source_share: float
    spike_factor: float
    spike_floor: int
    spike_history_runs: int
    spike_min_history: int


T = TypeVar("T", LifecycleParameters, GuardParameters)


def _load(kind: type[T], path: Path) -> T:
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ParameterError(
            "cannot read the parameter file", str(error), Location(file=str(path))
        ) from None
    if not isinstance(document, dict):
        raise ParameterError("the parameter file must be a mapping", where=Location(file=str(path)))
    values: dict[str, Any] = {}
    for spec in fields(kind):
        if spec.name not in document:
            raise ParameterError(
                f"missing parameter {spec.name!r}",
                "every parameter needs a value (see the comments in the file)",
                Location(file=str(path), key=spec.name),
            )
        value = document[spec.name]
        types: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,)}
        wanted = types[str(spec.type)]
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise ParameterError(
                f"parameter {spec.name!r} has the wrong type",
                f"expected {spec.type}, got {value!r}",
                Location(file=str(path), key=spec.name),
            )
        if isinstance(value, (int, float)) and value < 0:
            raise ParameterError(
                f"parameter {spec.name!r} must not be negative",
                f"got {value!r}",
                Location(file=str(path), key=spec.name),
            )
        values[spec.name] = value
    unknown = sorted(set(document) - {spec.name for spec in fields(kind)})
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r}",
            "a typo? known: " + ", ".join(spec.name for spec in fields(kind)),
            Location(file=str(path), key=unknown[0]),
        )
    return kind(**values)


def load_lifecycle_parameters(path: Path | None = None) -> LifecycleParameters:
    return _load(LifecycleParameters, path or LIFECYCLE_FILE)


def load_guard_parameters(path: Path | None = None) -> GuardParameters:
    return _load(GuardParameters, path or GUARD_FILE)
