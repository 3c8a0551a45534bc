"""Server-side HTML: one Jinja2 environment and `render`, which every page uses.

`render` gives each template: `t` (translate), `lang`, `csrf_token`, `principal`, `nav` (the
menu items the role may see), `allowed(action)`, `request`, and the filters `mask_id`,
`mask_phone`, `number`, `percent`, `date`, `datetime` (a record's own time) and `stamp` (a
moment the platform recorded, shown on the city's clock). A `?lang=` in the address is remembered
in the `lang` cookie.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from lifesign.registry.ids import mask_id_number, mask_phone
from lifesign.web.auth import LANG_COOKIE, Principal, cookie_secure, request_lang
from lifesign.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, normalize_lang, translate
from lifesign.web.permissions import allowed

TEMPLATES_DIR = Path(__file__).parent / "templates"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600  # a preference, kept a year


@dataclass(frozen=True)
class NavItem:
    href: str
    label_key: str  # i18n key
    action: str  # the action that the page requires


# The menu, in order. A role sees the items whose action it may do.
NAV: tuple[NavItem, ...] = (
    NavItem("/", "core.nav.overview", "view_overview"),
    NavItem("/worklist", "core.nav.worklist", "view_worklist"),
    NavItem("/people", "core.nav.people", "search_people"),
    NavItem("/sources", "core.nav.sources", "view_sources"),
    NavItem("/reviews", "core.nav.reviews", "view_reviews"),
    NavItem("/cases", "core.nav.cases", "view_cases"),
    NavItem("/quarantine", "core.nav.quarantine", "view_quarantine"),
    NavItem("/payments", "core.nav.payments", "view_payments"),
    NavItem("/audit", "core.nav.audit", "view_audit"),
    NavItem("/admin/users", "core.nav.users", "manage_users"),
)


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [item for item in NAV if allowed(principal, item.action)]


def home_path(principal: Principal) -> str:
    """Where a user lands after logging in: the first page of their menu."""
    items = nav_for(principal)
    return items[0].href if items else "/account"


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | Decimal | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _percent(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{100 * float(value):.{digits}f} %"


def _date(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _datetime(value: Any) -> str:
    """A time as the records give it (an evidence event time is already the city's clock)."""
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _stamp(value: Any) -> str:
    """A moment the platform recorded (stored in UTC; SQLite hands it back without a zone),
    shown on the city's clock (notify.yaml's `timezone`, the one clock of the platform)."""
    if not isinstance(value, dt.datetime):
        return _datetime(value)
    from lifesign.notify.config import load_notify_config

    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return _datetime(aware.astimezone(load_notify_config().timezone))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "xml", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mask_id"] = mask_id_number
    env.filters["mask_phone"] = mask_phone
    env.filters["number"] = _number
    env.filters["percent"] = _percent
    env.filters["date"] = _date
    env.filters["datetime"] = _datetime
    env.filters["stamp"] = _stamp
    return env


def page_lang(request: Request, principal: Principal | None) -> str:
    asked = request_lang(request)
    if asked:
        return asked
    if principal is not None:
        return normalize_lang(principal.lang) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    principal: Principal | None,
    status_code: int = 200,
) -> HTMLResponse:
    """The template rendered for `principal` (None: not logged in) in the request's language."""
    lang = page_lang(request, principal)

    def t(key: str, **params: Any) -> str:
        return translate(key, lang, **params)

    def may(action: str) -> bool:
        return principal is not None and allowed(principal, action)

    def lang_url(other: str) -> str:
        if request.method == "GET":  # the same page in the other language
            return f"{request.url.path}?{request.url.include_query_params(lang=other).query}"
        # a page shown after a POST (a form with a problem) has no address to come back to
        return f"/lang?lang={other}"

    values: dict[str, Any] = {
        "request": request,
        "t": t,
        "lang": lang,
        "languages": LANGUAGES,
        "csrf_token": getattr(request.state, "csrf_token", "") or "",
        "principal": principal,
        "nav": nav_for(principal),
        "allowed": may,
        "current_path": request.url.path,
        "lang_url": lang_url,
    }
    values.update(context)
    html = environment().get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    asked = normalize_lang(request.query_params.get("lang"))
    if asked and asked != normalize_lang(request.cookies.get(LANG_COOKIE)):
        response.set_cookie(
            LANG_COOKIE, asked, max_age=LANG_COOKIE_MAX_AGE, samesite="lax",
            secure=cookie_secure(request), path="/",
        )  # fmt: skip
    return response
