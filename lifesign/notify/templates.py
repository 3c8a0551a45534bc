"""SMS templates: one YAML file per language, one template per reason, checked on load.

A template's body may use only the parameters of its reason (REASON_PARAMS: the contract with
the code that queues messages) and the city's constants (`city:` in the file: app name,
hotline...). Values are formatted per language (dates, amounts, lists of program names) when
the message is queued; the result is kept in the outbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from lifesign.errors import LifesignError, Location
from lifesign.notify.config import SmsLimits

log = logging.getLogger(__name__)

PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATES_ENV = "LIFESIGN_TEMPLATES"
DEFAULT_LANG = "zh-CN"

# Each reason and the parameters whoever queues it must give.
REASON_PARAMS: dict[str, tuple[str, ...]] = {
    "certified": ("name", "evidence_date", "evidence_name", "valid_until"),
    "reminder_60": ("name", "valid_until", "days_left"),
    "reminder_30": ("name", "valid_until", "days_left"),
    "visit_scheduled": ("name", "valid_until"),
    "suspended": ("name", "programs", "suspended_from"),
    "resumed": ("name", "programs", "resumed_from", "back_pay_months", "back_pay_amount"),
    "terminated": ("name", "programs", "effective_date"),
    "recovery_notice": ("name", "programs", "amount"),
}
REASONS = tuple(REASON_PARAMS)

# 18-character (or old 15-digit) resident ID numbers: never in an SMS.
_ID_NUMBER_RE = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15})(?![\dXx])")
# At most this many formatted values are remembered per template set (a day has a few hundred
# distinct dates, amounts and program lists; the bound keeps a long-lived process small).
_FORMATTED_KEPT = 100_000


class TemplateError(LifesignError):
    """A template file is wrong, or a message cannot be rendered from the given parameters."""


@dataclass(frozen=True)
class Template:
    reason: str
    body: str
    variables: frozenset[str]
    sample: Mapping[str, Any]


@dataclass(frozen=True)
class Rendered:
    """A message ready for the outbox: its template id, its formatted parameters (the
    reason's and the city constants it uses), and its text."""

    template: str
    params: dict[str, str]
    body: str


@dataclass(frozen=True)
class TemplateSet:
    """Every template of one language."""

    lang: str
    file: str
    date_format: str
    list_separator: str
    city: Mapping[str, str]
    templates: Mapping[str, Template]
    warnings: tuple[str, ...] = field(default=())

    # Per set, made on first use: each template's city constants, and the text of values
    # already formatted (a day's messages share a handful of dates, amounts and program
    # lists: each is formatted and checked for an ID number once, not once per message).
    _city_of: dict[str, dict[str, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _formatted: dict[tuple[type, Any], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def render(self, reason: str, params: Mapping[str, Any]) -> Rendered:
        """The message for `reason` with `params`; TemplateError if a parameter is missing,
        empty, or would put a full ID number in the SMS."""
        template = self.templates.get(reason)
        if template is None:
            raise TemplateError(
                f"no SMS template for reason {reason!r}",
                f"reasons: {', '.join(self.templates)}",
                Location(file=self.file, key=f"templates.{reason}"),
            )
        wanted = REASON_PARAMS[reason]
        values: dict[str, str] = {}
        for name in wanted:
            value = params.get(name)
            if value is None or value == "" or value == [] or value == ():
                missing = [n for n in wanted if params.get(n) in (None, "", [], ())]
                raise TemplateError(
                    f"cannot render the {reason!r} SMS",
                    f"missing parameter(s) {', '.join(missing)}; it needs {', '.join(wanted)}",
                    Location(file=self.file, key=f"templates.{reason}"),
                )
            # a text (a name: one per person) is itself; any other value formatted once
            text = value if type(value) is str else self._text(value)
            if text is None or text is value:
                if text is None:
                    text = self.format_value(value)
                if _ID_NUMBER_RE.search(text):
                    raise TemplateError(
                        f"cannot render the {reason!r} SMS",
                        f"parameter {name} holds what looks like a full ID number; "
                        "an SMS never carries one (mask it or leave it out)",
                        Location(file=self.file, key=f"templates.{reason}", field=name),
                    )
                self._keep(value, text)
            values[name] = text
        city = self._city_of.get(reason)
        if city is None:
            city = self._city_of[reason] = {
                name: value for name, value in self.city.items() if name in template.variables
            }
        values.update(city)
        return Rendered(
            template=f"{self.lang}/{reason}",
            params=values,
            body=template.body.format_map(values),
        )

    def _text(self, value: Any) -> str | None:
        """A value's text when it was formatted (and checked) before, else None."""
        kind = type(value)
        if kind is list:
            value = tuple(value)
        try:
            return self._formatted.get((kind, value))
        except TypeError:  # unhashable (a list of lists): formatted every time
            return None

    def _keep(self, value: Any, text: str) -> None:
        """Remember a formatted value, unless it is a free text (a name: one per person)."""
        kind = type(value)
        if kind is str or len(self._formatted) > _FORMATTED_KEPT:
            return
        with contextlib.suppress(TypeError):  # unhashable: not kept
            self._formatted[(kind, tuple(value) if kind is list else value)] = text

    def format_value(self, value: Any) -> str:
        """A parameter as text in this language: dates, amounts, lists of names."""
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return self.date_format.format(year=value.year, month=value.month, day=value.day)
        if isinstance(value, bool):
            raise TemplateError("a yes/no value cannot be put in an SMS", repr(value))
        if isinstance(value, Decimal | float):
            return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"
        if isinstance(value, list | tuple):
            return self.list_separator.join(self.format_value(item) for item in value)
        return str(value)


def templates_directory(directory: Path | None = None) -> Path:
    if directory is not None:
        return directory
    env = os.environ.get(TEMPLATES_ENV)
    return Path(env) if env else PACKAGED_TEMPLATES


def available_languages(directory: Path | None = None) -> list[str]:
    folder = templates_directory(directory)
    return sorted(path.stem for path in folder.glob("*.yaml"))


def load_templates(
    lang: str = DEFAULT_LANG, directory: Path | None = None, sms: SmsLimits | None = None
) -> TemplateSet:
    """The templates of `lang` (cached); TemplateError naming file and key for any problem."""
    return _load(lang, templates_directory(directory).absolute(), sms or SmsLimits())


@functools.cache
def _load(lang: str, folder: Path, sms: SmsLimits) -> TemplateSet:
    path = folder / f"{lang}.yaml"
    if not path.is_file():
        raise TemplateError(
            f"no SMS templates for language {lang!r}",
            f"languages: {', '.join(available_languages(folder)) or 'none'}",
            Location(file=str(path)),
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TemplateError(
            "SMS templates are not valid YAML", str(error), Location(str(path))
        ) from error
    file = str(path)
    if not isinstance(data, dict):
        raise TemplateError("SMS templates must be a mapping", "", Location(file=file))

    def fail(key: str, what: str, why: str = "") -> TemplateError:
        return TemplateError(what, why, Location(file=file, key=key))

    if data.get("lang") != lang:
        raise fail("lang", f"the file says lang {data.get('lang')!r}", f"expected {lang!r}")
    city_data = data.get("city") or {}
    if not isinstance(city_data, dict):
        raise fail("city", "city constants must be a mapping")
    city = {str(k): str(v) for k, v in city_data.items()}
    clash = set(city) & {p for params in REASON_PARAMS.values() for p in params}
    if clash:
        raise fail("city", f"city constant(s) {', '.join(sorted(clash))} clash with parameters")
    joiner = str(data.get("line_joiner", " "))
    raw = data.get("templates")
    if not isinstance(raw, dict):
        raise fail("templates", "missing the templates mapping")
    unknown = sorted(set(raw) - set(REASONS))
    if unknown:
        raise fail(
            f"templates.{unknown[0]}",
            f"unknown reason {unknown[0]!r}",
            f"reasons are {', '.join(REASONS)}",
        )
    absent = [reason for reason in REASONS if reason not in raw]
    if absent:
        raise fail(f"templates.{absent[0]}", f"no template for reason {absent[0]!r}")
    templates: dict[str, Template] = {}
    for reason, entry in raw.items():
        key = f"templates.{reason}"
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
            raise fail(f"{key}.body", "a template needs a text body")
        body = joiner.join(line.strip() for line in entry["body"].strip().splitlines())
        variables = _variables(body, lambda why, k=f"{key}.body": fail(k, "bad template", why))
        allowed = set(REASON_PARAMS[reason]) | set(city)
        unknown_variables = sorted(variables - allowed)
        if unknown_variables:
            raise fail(
                f"{key}.body",
                f"template uses unknown variable {{{unknown_variables[0]}}}",
                f"{reason} has {', '.join(REASON_PARAMS[reason])}; "
                f"city constants: {', '.join(city) or 'none'}",
            )
        if _ID_NUMBER_RE.search(body):
            raise fail(f"{key}.body", "template holds what looks like a full ID number")
        sample = entry.get("sample") or {}
        if not isinstance(sample, dict) or set(REASON_PARAMS[reason]) - set(sample):
            raise fail(
                f"{key}.sample",
                "the sample must give every parameter",
                ", ".join(REASON_PARAMS[reason]),
            )
        templates[reason] = Template(reason, body, frozenset(variables), sample)
    result = TemplateSet(
        lang=lang,
        file=file,
        date_format=str(data.get("date_format", "{year}-{month:02d}-{day:02d}")),
        list_separator=str(data.get("list_separator", ", ")),
        city=city,
        templates=templates,
    )
    warnings = []
    for reason, template in templates.items():
        body = result.render(reason, template.sample).body
        segments = sms.segments(body)
        if segments > sms.max_segments:
            warnings.append(
                f"{file}: templates.{reason}: {len(body)} characters with the sample, "
                f"{segments} SMS segments (more than {sms.max_segments})"
            )
    for warning in warnings:
        log.warning(warning)
    return dataclasses.replace(result, warnings=tuple(warnings))


def _variables(body: str, fail: Any) -> set[str]:
    """The {names} a body uses; only plain names (no attributes, indexes or format specs)."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(body))
    except ValueError as error:
        raise fail(f"unbalanced braces: {error}") from error
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise fail(f"{{{name}}}: use plain {{name}} variables only")
        names.add(name)
    return names


def render(reason: str, params: Mapping[str, Any], lang: str = DEFAULT_LANG) -> Rendered:
    """Render with the packaged (or $LIFESIGN_TEMPLATES) templates of `lang`."""
    return load_templates(lang).render(reason, params)
