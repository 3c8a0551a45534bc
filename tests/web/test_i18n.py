"""Translations: every key a template uses exists in Chinese and in English; the loader merges
every file of a language folder under the file's name; placeholders are filled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lifesign.web.i18n import LANGUAGES, messages, normalize_lang, translate
from lifesign.web.templating import TEMPLATES_DIR

# a whole key (not the prefix of a key built with `~`)
KEY = re.compile(r"""\bt\(\s*['"]([a-z_]+(?:\.[A-Za-z0-9_-]+)+)['"]\s*[,)]""")


def _template_keys() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for template in sorted(TEMPLATES_DIR.rglob("*.html")):
        for key in KEY.findall(template.read_text("utf-8")):
            found.setdefault(key, set()).add(str(template.relative_to(TEMPLATES_DIR)))
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_literal_key_of_the_templates_is_translated(lang: str) -> None:
    known = messages(lang)
    missing = {key: sorted(where) for key, where in _template_keys().items() if key not in known}
    assert missing == {}


def test_core_words_exist_in_both_languages_with_the_same_keys() -> None:
    zh = {k for k in messages("zh-CN") if k.startswith("core.")}
    en = {k for k in messages("en") if k.startswith("core.")}
    assert zh == en and "core.nav.overview" in zh


def test_files_are_merged_under_their_name(tmp_path: Path) -> None:
    assert translate("core.nav.overview", "zh-CN") == "总览"
    assert translate("core.nav.overview", "en") == "Overview"
    assert translate("core.login.throttled", "en", minutes=15).endswith("15 minutes.")
    assert translate("core.no.such.key", "en") == "core.no.such.key"  # visible, to be fixed
    assert normalize_lang("EN-us") == "en" and normalize_lang("zh") == "zh-CN"
    assert normalize_lang("fr") is None and normalize_lang(None) is None
