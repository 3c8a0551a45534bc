"""The web app's parameters, read from `data/web.yaml` (each value's why is written there)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import ConfigurationError, Location

WEB_YAML = Path(__file__).parent / "data" / "web.yaml"


@dataclass(frozen=True)
class WebConfig:
    session_idle_minutes: int
    session_absolute_hours: int
    session_touch_every_seconds: int
    session_token_bytes: int
    cookie_secure: bool | None  # None: when the request came over https
    max_failures_per_user: int
    max_failures_per_client: int
    login_window_minutes: int
    password_min_length: int
    audit_page_size: int


def _positive(data: dict[str, Any], section: str, key: str) -> int:
    try:
        value = data[section][key]
    except (KeyError, TypeError):
        raise ConfigurationError(
            "a web parameter is missing", "", Location(file=str(WEB_YAML), key=f"{section}.{key}")
        ) from None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigurationError(
            "a web parameter must be a positive whole number",
            repr(value),
            Location(file=str(WEB_YAML), key=f"{section}.{key}"),
        )
    return value


def _secure(value: Any) -> bool | None:
    if value == "auto":
        return None
    if isinstance(value, bool):
        return value
    raise ConfigurationError(
        "sessions.cookie_secure must be auto, true or false",
        repr(value),
        Location(file=str(WEB_YAML), key="sessions.cookie_secure"),
    )


def parse_web_config(data: dict[str, Any]) -> WebConfig:
    return WebConfig(
        session_idle_minutes=_positive(data, "sessions", "idle_minutes"),
        session_absolute_hours=_positive(data, "sessions", "absolute_hours"),
        session_touch_every_seconds=_positive(data, "sessions", "touch_every_seconds"),
        session_token_bytes=_positive(data, "sessions", "token_bytes"),
        cookie_secure=_secure(data.get("sessions", {}).get("cookie_secure", "auto")),
        max_failures_per_user=_positive(data, "login", "max_failures_per_user"),
        max_failures_per_client=_positive(data, "login", "max_failures_per_client"),
        login_window_minutes=_positive(data, "login", "window_minutes"),
        password_min_length=_positive(data, "passwords", "min_length"),
        audit_page_size=_positive(data, "audit", "page_size"),
    )


@lru_cache(maxsize=1)
def load_web_config() -> WebConfig:
    return parse_web_config(yaml.safe_load(WEB_YAML.read_text("utf-8")))
