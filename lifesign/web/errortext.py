"""The department API's error messages in the caller's language.

The API answers in English unless the caller asks otherwise — departments' programs are
written against it — and in Chinese for `Accept-Language: zh-CN` (or any `zh…`) or
`?lang=zh-CN`. Errors are raised everywhere (the token check, each endpoint, the lifecycle's
manual channels, the registry's ID rules) with their English `what` and `why`; rather than
threading a language through all of them, the one error handler (lifesign.web.errors)
translates the finished messages, gettext-style: the English message is the key.

The catalog is the i18n files' `api_errors` (`i18n/en/api_errors.yaml`: the messages as the
code writes them, `{name}` for a part that varies; `i18n/zh-CN/api_errors.yaml`: the same keys
translated). A message matched by an English template is rewritten with the translation, the
varying parts carried over; a message no template matches stays in English (never lost).
"""

from __future__ import annotations

import functools
import re

from fastapi import Request

from lifesign.web.i18n import LANGUAGES, messages, normalize_lang, translate

API_LANGUAGE = "en"  # the API's default: the language of the messages in the code
CATALOG = "api_errors."
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# One entry of Accept-Language: a language range and its optional quality.
_ACCEPTED = re.compile(r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?")


def _pattern(template: str) -> re.Pattern[str]:
    """The regular expression of an English template: its text literally, each {name} as a
    named group (a name used twice must be the same text twice)."""
    parts = _PLACEHOLDER.split(template)
    expression = ""
    named: set[str] = set()
    for index, part in enumerate(parts):
        if index % 2 == 0:
            expression += re.escape(part)
        elif part in named:
            expression += f"(?P={part})"
        else:
            expression += f"(?P<{part}>.+?)"
            named.add(part)
    return re.compile(expression, re.DOTALL)


@functools.cache
def _templates() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, catalog key) of every English message, the most literal text first: when two
    templates match ("one of {choices}" inside a longer one), the more specific one wins."""
    english = {key: text for key, text in messages(API_LANGUAGE).items() if key.startswith(CATALOG)}
    ordered = sorted(english.items(), key=lambda item: -len(_PLACEHOLDER.sub("", item[1])))
    return tuple((_pattern(text), key) for key, text in ordered)


@functools.lru_cache(maxsize=4096)
def say(text: str, lang: str) -> str:
    """`text` (an English message of the API) in `lang`; unchanged when no template matches."""
    if lang == API_LANGUAGE or not text:
        return text
    for pattern, key in _templates():
        found = pattern.fullmatch(text)
        if found is not None:
            return translate(key, lang, **found.groupdict())
    return text


def accepted_language(header: str | None) -> str | None:
    """The best of LANGUAGES that an Accept-Language header accepts (highest quality first,
    in the header's order on a tie), or None."""
    if not header:
        return None
    offers: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")):
        found = _ACCEPTED.fullmatch(entry)
        if found is None:
            continue
        try:
            quality = float(found.group(2)) if found.group(2) is not None else 1.0
        except ValueError:
            continue
        language = normalize_lang(found.group(1))
        if language is not None and quality > 0:
            offers.append((-quality, position, language))
    return min(offers)[2] if offers else None


def api_language(request: Request) -> str:
    """The language of the API's answer to `request`: `?lang=`, else Accept-Language, else
    English."""
    asked = normalize_lang(request.query_params.get("lang"))
    if asked is None:
        asked = accepted_language(request.headers.get("accept-language"))
    return asked if asked in LANGUAGES else API_LANGUAGE
