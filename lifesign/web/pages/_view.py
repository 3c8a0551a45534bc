"""What a page that shows data does last: write the audit row of what it shows, then render it.

One place for the pair, so that no page shows a person's data without its row, and the row is
written in the request's transaction (a render that fails leaves no row for data never shown).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection

from lifesign.catalog import Catalog
from lifesign.web.audit import audit
from lifesign.web.auth import Principal
from lifesign.web.pages._labels import Labels
from lifesign.web.templating import page_lang, render


def audited_view(
    request: Request,
    conn: Connection,
    principal: Principal,
    template: str,
    context: Mapping[str, Any],
    *,
    action: str | None,
    person_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """`template` rendered with `context`, after the audit row of `action` (None: the page
    shows nothing that is audited, such as an empty search)."""
    if action is not None:
        audit(
            conn,
            principal,
            action,
            person_id=person_id,
            target=target,
            request=request,
            details=details,
        )
    return render(request, template, context, principal=principal, status_code=status_code)


def labels_of(request: Request, principal: Principal) -> Labels:
    """The catalog's names in the page's language."""
    catalog = request.app.state.catalog
    assert isinstance(catalog, Catalog)
    return Labels(catalog, page_lang(request, principal))
