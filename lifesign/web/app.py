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

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from lifesign.config import Settings
from lifesign.web.api import routes as api_routes
from lifesign.web.auth import utc_now
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
from lifesign.web.webconfig import WebConfig, load_web_config

STATIC_DIR = Path(__file__).parent / "static"
PAGE_MODULES = (account, overview, sources, worklist, person, reviews, cases, quarantine, payments)


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
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine if engine is not None else open_database(settings)
    app.state.catalog = load_catalog(settings.catalog_dir)
    app.state.web_config = web_config or load_web_config()
    app.state.clock = clock or utc_now
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in PAGE_MODULES:
        app.include_router(module.router, include_in_schema=False)
    app.include_router(api_routes.router)
    return app
