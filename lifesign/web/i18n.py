"""Translations of the web app: zh-CN first, English available.

Every YAML file of `i18n/<lang>/` is merged; its keys are namespaced by the file's name, so
`i18n/zh-CN/pages.yaml` with `overview: {title: 总览}` gives `pages.overview.title`. A key
missing in English falls back to Chinese, then to the key itself (visible, so it gets fixed).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import ConfigurationError, Location

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
I18N_DIR = Path(__file__).parent / "i18n"


def _flatten(prefix: str, node: Any, into: dict[str, str], file: Path) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}", value, into, file)
    elif isinstance(node, str | int | float):
        into[prefix] = str(node)
    else:
        raise ConfigurationError(
            "a translation must be text", repr(node), Location(file=str(file), key=prefix)
        )


@lru_cache(maxsize=len(LANGUAGES))
def messages(lang: str) -> dict[str, str]:
    """Every message of `lang`, by full key."""
    found: dict[str, str] = {}
    folder = I18N_DIR / lang
    for file in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(file.read_text("utf-8")) or {}
        _flatten(file.stem, data, found, file)
    return found


def normalize_lang(value: str | None) -> str | None:
    """`value` as one of LANGUAGES (case-insensitive, `zh`/`en-US` accepted), else None."""
    if not value:
        return None
    lowered = value.strip().lower()
    for lang in LANGUAGES:
        if lowered == lang.lower() or lowered.split("-")[0] == lang.lower().split("-")[0]:
            return lang
    return None


def translate(key: str, lang: str, **params: Any) -> str:
    """The message `key` in `lang`, with `{name}` placeholders filled from `params`."""
    text = messages(lang).get(key)
    if text is None and lang != DEFAULT_LANGUAGE:
        text = messages(DEFAULT_LANGUAGE).get(key)
    if text is None:
        return key
    if params:
        try:
            return text.format_map(params)
        except (KeyError, IndexError, ValueError):
            return text
    return text
