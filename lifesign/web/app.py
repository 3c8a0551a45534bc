"""The ASGI application: `create_app(settings)` for `lifesign serve`, the demo and the tests.

Pages are rendered on the server (Jinja2 templates, plain forms, no JavaScript framework, no
CDN); the REST API lives under /api/v1 and is described at /api/openapi.json (pages are left out
of the OpenAPI document). Endpoints are sync functions: they run in the thread pool on the sync
SQLAlchemy engine, one transaction per request (`lifesign.web.db.connection`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from lifesign.config import Settings
from lifesign.web.api import routes as api_routes
from lifesign.web.auth import utc_now
from lifesign.web.db import serve_requests_from
from lifesign.web.errors import install_error_handlers
from lifesign.web.pages import (
    account,
    cases,
    overview,
    payments,
    person,
    quarantine,
    reviews,
    sources,
    worklist,
)
from lifesign.web.security import SecurityHeaders
from lifesign.web.templating import render
from lifesign.web.webconfig import WebConfig, load_web_config

STATIC_DIR = Path(__file__).parent / "static"
PAGE_MODULES = (account, overview, sources, worklist, person, reviews, cases, quarantine, payments)


def schema_type(spec: dict[str, Any]) -> str:
    """A JSON-schema type in a few characters: `string`, `array of Item`, `integer | null`."""
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in spec or "oneOf" in spec:
        return " | ".join(schema_type(s) for s in spec.get("anyOf", spec.get("oneOf", [])))
    kind = str(spec.get("type", ""))
    if kind == "array" and isinstance(spec.get("items"), dict):
        return f"array of {schema_type(spec['items'])}"
    return kind


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    web_config: WebConfig | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    """The web app over the settings' state database (upgraded to the newest schema) and lake.

    `clock` gives "now" for sessions, throttling and the audit log (tests move it forward).
    """
    from lifesign.catalog import load_catalog
    from lifesign.store import open_database

    app = FastAPI(
        title="lifesign",
        summary="Certification status, changes and evidence of benefit recipients, for the "
        "city's departments (互认复用).",
        version="1",
        openapi_url="/api/openapi.json",
        # FastAPI's /docs loads Swagger UI from a CDN, which the city's offline machines cannot
        # reach: /api/docs is rendered here instead, from the same document, without JavaScript.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = (
        engine if engine is not None else serve_requests_from(open_database(settings))
    )
    app.state.catalog = load_catalog(settings.catalog_dir)
    app.state.web_config = web_config or load_web_config()
    app.state.clock = clock or utc_now
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in PAGE_MODULES:
        app.include_router(module.router, include_in_schema=False)
    app.include_router(api_routes.router)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        context = {"document": app.openapi(), "type_of": schema_type}
        return render(request, "api_docs.html", context, principal=None)

    return app
