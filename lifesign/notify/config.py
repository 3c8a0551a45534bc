"""The outbox's delivery policy, from lifesign/notify/data/notify.yaml (or a city's copy named
by $LIFESIGN_NOTIFY_CONFIG): clock, quiet hours, rate, retries, SMS length, gateway options."""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from lifesign.errors import LifesignError, Location

PACKAGED_CONFIG = Path(__file__).resolve().parent / "data" / "notify.yaml"
CONFIG_ENV = "LIFESIGN_NOTIFY_CONFIG"


class NotifyConfigError(LifesignError):
    """notify.yaml is missing a value or has one of the wrong kind."""


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    factor: float
    max_seconds: float
    jitter: float
    max_attempts: int
    seed: int = 0


@dataclass(frozen=True)
class SmsLimits:
    single_segment_chars: int = 70
    multi_segment_chars: int = 67
    max_segments: int = 3
    gsm_single_segment_chars: int = 160
    gsm_multi_segment_chars: int = 153

    def segments(self, body: str) -> int:
        """How many billed segments an SMS of this text takes: text wholly in the GSM 03.38
        alphabet (English, with £ ¥ é …) travels as GSM 7-bit (160 septets, 153 per part when
        split; ^ { } [ ] ~ | \\ € take two); anything else (Chinese) as UCS-2 (70 characters,
        67 per part)."""
        septets = gsm7_septets(body)
        if septets is None:
            length, single, multi = (
                len(body),
                self.single_segment_chars,
                self.multi_segment_chars,
            )
        else:
            length, single, multi = (
                septets,
                self.gsm_single_segment_chars,
                self.gsm_multi_segment_chars,
            )
        if length <= single:
            return 1
        return -(-length // multi)


# The GSM 03.38 default alphabet and its extension table (3GPP TS 23.038, section 6.2.1).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


def gsm7_septets(text: str) -> int | None:
    """The septets `text` takes in GSM 7-bit, or None when it needs UCS-2."""
    septets = 0
    for character in text:
        if character in GSM7_BASIC:
            septets += 1
        elif character in GSM7_EXTENSION:
            septets += 2
        else:
            return None
    return septets


@dataclass(frozen=True)
class NotifyConfig:
    timezone: ZoneInfo
    quiet_start: dt.time
    quiet_end: dt.time
    default_gateway: str
    max_per_run: int
    retry: RetryPolicy
    sending_lease: dt.timedelta
    sms: SmsLimits
    gateways: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    delivery_batch: int = 500
    file: str = str(PACKAGED_CONFIG)

    def gateway_options(self, name: str) -> Mapping[str, Any]:
        return self.gateways.get(name) or {}


def config_path(path: Path | None = None) -> Path:
    if path is not None:
        return path
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else PACKAGED_CONFIG


def load_notify_config(path: Path | None = None) -> NotifyConfig:
    """The delivery policy (cached per file); raises NotifyConfigError naming file and key."""
    return _load(config_path(path).absolute())


@functools.cache
def _load(path: Path) -> NotifyConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise NotifyConfigError(
            "cannot read the notification settings", str(error), Location(file=str(path))
        ) from error
    except yaml.YAMLError as error:
        raise NotifyConfigError(
            "notification settings are not valid YAML", str(error), Location(file=str(path))
        ) from error
    reader = _Reader(str(path), data if isinstance(data, dict) else {})
    zone_name = reader.text("timezone")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise reader.error("timezone", f"unknown time zone {zone_name!r}") from error
    retry = reader.mapping("retry")
    sms = reader.mapping("sms")
    gateways = reader.mapping("gateways")
    return NotifyConfig(
        timezone=zone,
        quiet_start=reader.clock("quiet_hours.start"),
        quiet_end=reader.clock("quiet_hours.end"),
        default_gateway=reader.text("gateway"),
        max_per_run=reader.positive_int("max_per_run"),
        retry=RetryPolicy(
            base_seconds=reader.positive_number("retry.base_seconds"),
            factor=reader.positive_number("retry.factor"),
            max_seconds=reader.positive_number("retry.max_seconds"),
            jitter=reader.fraction("retry.jitter"),
            max_attempts=reader.positive_int("retry.max_attempts"),
            seed=int(retry.get("seed", 0)),
        ),
        sending_lease=dt.timedelta(seconds=reader.positive_number("sending_lease_seconds")),
        sms=SmsLimits(
            single_segment_chars=int(sms.get("single_segment_chars", 70)),
            multi_segment_chars=int(sms.get("multi_segment_chars", 67)),
            max_segments=int(sms.get("max_segments", 3)),
            gsm_single_segment_chars=int(sms.get("gsm_single_segment_chars", 160)),
            gsm_multi_segment_chars=int(sms.get("gsm_multi_segment_chars", 153)),
        ),
        gateways={str(k): dict(v or {}) for k, v in gateways.items()},
        delivery_batch=reader.positive_int("delivery_batch"),
        file=str(path),
    )


class _Reader:
    def __init__(self, file: str, data: Mapping[str, Any]) -> None:
        self.file = file
        self.data = data

    def error(self, key: str, why: str) -> NotifyConfigError:
        return NotifyConfigError(
            "invalid notification setting", why, Location(file=self.file, key=key)
        )

    def value(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise self.error(key, "missing")
            node = node[part]
        return node

    def mapping(self, key: str) -> Mapping[str, Any]:
        node = self.value(key)
        if not isinstance(node, Mapping):
            raise self.error(key, "expected a mapping")
        return node

    def text(self, key: str) -> str:
        node = self.value(key)
        if not isinstance(node, str) or not node:
            raise self.error(key, "expected text")
        return node

    def clock(self, key: str) -> dt.time:
        node = self.value(key)
        try:
            return dt.time.fromisoformat(str(node))
        except ValueError as error:
            raise self.error(key, f"expected a time of day like 21:00, got {node!r}") from error

    def positive_number(self, key: str) -> float:
        node = self.value(key)
        if isinstance(node, bool) or not isinstance(node, int | float) or node <= 0:
            raise self.error(key, f"expected a positive number, got {node!r}")
        return float(node)

    def positive_int(self, key: str) -> int:
        node = self.value(key)
        if isinstance(node, bool) or not isinstance(node, int) or node <= 0:
            raise self.error(key, f"expected a positive whole number, got {node!r}")
        return node

    def fraction(self, key: str) -> float:
        node = self.value(key)
        if isinstance(node, bool) or not isinstance(node, int | float) or not 0 <= node < 1:
            raise self.error(key, f"expected a number from 0 to below 1, got {node!r}")
        return float(node)
