"""What the work pages (reviews, cases, quarantine, payments) share: the catalog, the sources,
the officer's day, query-string parsing, the keyset-paged list, the one item's page and the
action taken on it (`WorkItem`), and running a package's engine-level function from a request
that already holds a transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine

from lifesign.catalog import Catalog, load_catalog
from lifesign.config import Settings
from lifesign.errors import LifesignError
from lifesign.ingest.sources import SourceDefinition, load_sources
from lifesign.web.audit import audit
from lifesign.web.auth import Principal, now_of, page_user, require_csrf
from lifesign.web.db import connection
from lifesign.web.errors import NotFound
from lifesign.web.permissions import require
from lifesign.web.queries.keyset import Page
from lifesign.web.templating import render

Result = TypeVar("Result")
Detail = TypeVar("Detail")

# The dependencies of every work page: the logged-in user, and the request's transaction.
User = Annotated[Principal, Depends(page_user)]
Conn = Annotated[Connection, Depends(connection)]
# Of every POST form: the session's CSRF token.
CSRF = [Depends(require_csrf)]


def catalog_of(request: Request) -> Catalog:
    catalog = getattr(request.app.state, "catalog", None)
    if isinstance(catalog, Catalog):
        return catalog
    settings = settings_of(request)
    return _catalog(settings.catalog_dir)


@lru_cache(maxsize=4)
def _catalog(directory: Path | None) -> Catalog:
    return load_catalog(directory)


def settings_of(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def engine_of(request: Request) -> Engine:
    engine = request.app.state.engine
    assert isinstance(engine, Engine)
    return engine


def sources_of(request: Request) -> Mapping[str, SourceDefinition]:
    """The source definitions ($LIFESIGN_SOURCES, else the packaged ones), read once."""
    catalog = catalog_of(request)
    cached = getattr(request.app.state, "work_sources", None)
    if isinstance(cached, dict):
        return cached
    sources = load_sources(None, catalog)
    request.app.state.work_sources = sources
    return sources


def today(request: Request) -> dt.date:
    """The officer's day: the app's clock in the server's local time zone (a resolution
    at 07:30 in Bozhou is dated that day, not the previous UTC day)."""
    return now_of(request).astimezone().date()


def int_or_none(value: str | None) -> int | None:
    """A query-string integer; anything else (empty, text) is no value, not an error."""
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdigit() else None


def date_or_none(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def choice(value: str, options: Iterable[str], default: str) -> str:
    """A filter's value if it is one of `options`, else `default` (a stale or hand-typed
    address shows the default list, not an error)."""
    return value if value in options else default


def query_link(path: str, params: Mapping[str, Any], **changes: Any) -> str:
    """`path` with the current filters, some changed (None drops a parameter)."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def render_list(
    request: Request,
    principal: Principal,
    template: str,
    page: Page[Any],
    path: str,
    params: Mapping[str, Any],
    context: Mapping[str, Any],
) -> HTMLResponse:
    """A keyset-paged list (`before=` the last id shown) with its filters: the template gets
    `page`, `params`, and the links to the next page and back to the first."""
    next_link = query_link(path, params, before=page.next_before) if page.next_before else None
    first_link = query_link(path, params) if page.before else None
    return render(
        request,
        template,
        {**context, "page": page, "params": params, "next_link": next_link,
         "first_link": first_link},
        principal=principal,
    )  # fmt: skip


@dataclass(frozen=True)
class WorkItem(Generic[Detail]):
    """One kind of item a work page opens (a review, a case, a quarantine entry): how to read
    it within the principal's scope, how to show it, and how an action on it is taken."""

    noun: str  # the audit target's prefix: `case:12`
    path: str  # the list's address; the item's is `{path}/{id}`
    template: str
    permission: str  # the action that may open it
    view_action: str  # the audit action of opening it
    read: Callable[[Request, Connection, Principal, int], Detail | None]
    missing: Callable[[int], NotFound]
    context: Callable[[Request, Principal, Detail], dict[str, Any]]
    person_of: Callable[[Detail], int | None] = lambda _: None
    view_details: Callable[[Detail], dict[str, Any] | None] = lambda _: None

    def load(
        self, request: Request, conn: Connection, principal: Principal, item_id: int
    ) -> Detail:
        """The item, or a 404 when it is unknown or out of scope (never a 403: the page does
        not reveal that it exists)."""
        detail = self.read(request, conn, principal, item_id)
        if detail is None:
            raise self.missing(item_id)
        return detail

    def show(
        self,
        request: Request,
        principal: Principal,
        detail: Detail,
        *,
        error: LifesignError | None = None,
        form: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        """The item's page; with a refused action's error and the form as it was sent."""
        context = {**self.context(request, principal, detail), "error": error, "form": form or {}}
        return render(request, self.template, context, principal=principal, status_code=status_code)

    def view(
        self, request: Request, conn: Connection, principal: Principal, item_id: int
    ) -> HTMLResponse:
        """GET `{path}/{id}`: the item's page, audited."""
        require(principal, self.permission)
        detail = self.load(request, conn, principal, item_id)
        audit(
            conn,
            principal,
            self.view_action,
            person_id=self.person_of(detail),
            target=f"{self.noun}:{item_id}",
            request=request,
            details=self.view_details(detail),
        )
        return self.show(request, principal, detail)

    def act(
        self,
        request: Request,
        conn: Connection,
        principal: Principal,
        item_id: int,
        *,
        action: str,
        form: Mapping[str, str],
        run: Callable[[Detail, str], Result],
        details: Callable[[Detail, Result], dict[str, Any]],
        done: str,
    ) -> Response:
        """POST `{path}/{id}/…` (CSRF checked by the route): `run(item, reason)` in a savepoint
        — a refused action leaves nothing behind and shows the page again with its error and
        the form as sent (400) — then the audit row with the reason, and a redirect to the
        item with `?done=`."""
        require(principal, action)
        detail = self.load(request, conn, principal, item_id)
        reason = form.get("reason", "").strip()
        try:
            with conn.begin_nested():
                result = run(detail, reason)
        except LifesignError as error:
            return self.show(request, principal, detail, error=error, form=form, status_code=400)
        audit(
            conn,
            principal,
            action,
            person_id=self.person_of(detail),
            target=f"{self.noun}:{item_id}",
            reason=reason,
            request=request,
            details=details(detail, result),
        )
        return RedirectResponse(f"{self.path}/{item_id}?done={done}", status_code=303)


def outside_transaction(conn: Connection, work: Callable[[], Result]) -> Result:
    """Run `work` — a package function that opens its own transactions on the engine (the
    quarantine's dismiss and retry, the payment export) — after committing what the request
    did so far (the session's refresh). On SQLite the request's open transaction would
    otherwise hold the write lock the function waits for, or keep a snapshot older than what
    the function commits. After this the request connection is finished: write the audit row
    through a new `engine.begin()`."""
    conn.commit()
    return work()


def audit_committed(
    request: Request,
    principal: Principal,
    action: str,
    *,
    target: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """The audit row of what an `outside_transaction` function did, in a transaction of its
    own: the request's connection was committed before the function ran."""
    with engine_of(request).begin() as audit_conn:
        audit(
            audit_conn,
            principal,
            action,
            target=target,
            reason=reason,
            request=request,
            details=details,
        )


def source_names(request: Request) -> dict[str, dict[str, str]]:
    """Each source's name to show beside its code: the source's own Chinese name, and in
    English its department's name."""
    catalog = catalog_of(request)
    names: dict[str, dict[str, str]] = {}
    for code, source in sources_of(request).items():
        department = catalog.departments.get(source.department)
        names[code] = {
            "zh-CN": source.name_zh or code,
            "en": department.name_en if department else code,
        }
    return names
