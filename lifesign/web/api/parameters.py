"""The API's limits, read from `data/api.yaml` (each value is explained there).

A city that needs other limits points `LIFESIGN_API_PARAMETERS` at its own file of the same
keys (every key required: a forgotten one is an error, not a silent default); the latency
benchmark uses it to lift the rate limit for its concurrent clients.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import LifesignError, Location

API_FILE = Path(__file__).parent / "data" / "api.yaml"
API_PARAMETERS_ENV = "LIFESIGN_API_PARAMETERS"


class ApiParameterError(LifesignError):
    """The API's parameter file is missing a value or holds a wrong one."""


@dataclass(frozen=True)
class ApiParameters:
    rate_per_second: float
    burst: int
    batch_status_max: int
    evidence_push_max_records: int
    changes_default_limit: int
    changes_max_limit: int
    tasks_default_limit: int
    tasks_max_limit: int
    token_bytes: int
    token_prefix_chars: int


def load_api_parameters_from(path: Path) -> ApiParameters:
    """The parameters in `path`, every value present and positive."""
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ApiParameterError(
            "cannot read the API's parameter file", str(error), Location(file=str(path))
        ) from None
    if not isinstance(document, dict):
        raise ApiParameterError(
            "the parameter file must be a mapping", where=Location(file=str(path))
        )
    values: dict[str, Any] = {}
    for spec in fields(ApiParameters):
        value = document.get(spec.name)
        kind = float if spec.type == "float" else int
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ApiParameterError(
                f"{spec.name} must be a positive number",
                f"found {value!r}",
                Location(file=str(path), key=spec.name),
            )
        values[spec.name] = kind(value)
    unknown = sorted(set(document) - {spec.name for spec in fields(ApiParameters)})
    if unknown:
        raise ApiParameterError(
            "unknown keys in the API's parameter file",
            ", ".join(unknown),
            Location(file=str(path), key=unknown[0]),
        )
    return ApiParameters(**values)


def load_api_parameters() -> ApiParameters:
    """The city's parameters ($LIFESIGN_API_PARAMETERS) or the packaged ones (each file is
    read once per process)."""
    return _cached(os.environ.get(API_PARAMETERS_ENV) or str(API_FILE))


@functools.cache
def _cached(path: str) -> ApiParameters:
    return load_api_parameters_from(Path(path))
