"""Errors of the web app and the one place that renders them.

A `LifesignError` (bad input, unusable configuration) and the web's own errors below become a
JSON body `{"error": {"what", "why", "where"}}` under /api — in the caller's language
(lifesign.web.errortext: English by default, Chinese on request) — an HTML page elsewhere. A
page that needs a login redirects to /login instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lifesign.errors import LifesignError
from lifesign.web.errortext import API_LANGUAGE, api_language, say


@dataclass
class WebError(LifesignError):
    """An error with its HTTP status."""

    status_code: int = 400


@dataclass
class Forbidden(WebError):
    """The role may not do this (403)."""

    status_code: int = 403


@dataclass
class CsrfRefused(Forbidden):
    """A form came without the session's CSRF token (403)."""


@dataclass
class NotFound(WebError):
    """Nothing here — or nothing this principal may see (404, so as not to reveal it exists)."""

    status_code: int = 404


@dataclass
class LoginRequired(WebError):
    """No valid session (pages: redirect to /login; API: 401)."""

    status_code: int = 401


@dataclass
class TooManyRequests(WebError):
    """Throttled (429): too many failed logins, or an API rate limit."""

    status_code: int = 429
    retry_after_seconds: int | None = None


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _body(error: LifesignError, lang: str = API_LANGUAGE) -> dict[str, Any]:
    where = error.where
    return {
        "error": {
            "what": say(error.what, lang),
            "why": say(error.why, lang),
            "where": {k: v for k, v in vars(where).items() if v is not None},
        }
    }


def error_response(request: Request, error: LifesignError) -> Response:
    status = error.status_code if isinstance(error, WebError) else 400
    headers: dict[str, str] = {}
    if isinstance(error, TooManyRequests) and error.retry_after_seconds:
        headers["Retry-After"] = str(error.retry_after_seconds)
    if _is_api(request):
        if isinstance(error, LoginRequired):
            headers["WWW-Authenticate"] = "Bearer"
        lang = api_language(request)
        headers["Content-Language"] = lang
        headers["Vary"] = "Accept-Language"
        return JSONResponse(_body(error, lang), status_code=status, headers=headers)
    if isinstance(error, LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from lifesign.web.auth import SESSION_COOKIE  # (auth imports this module)

        # a session cookie that no longer opens a session: it ended (idle, too old, logout)
        ended = "&expired=1" if request.cookies.get(SESSION_COOKIE) else ""
        return RedirectResponse(f"/login?next={quote(target, safe='')}{ended}", status_code=303)
    from lifesign.web.templating import render

    principal = getattr(request.state, "principal", None)
    response = render(
        request, "error.html", {"error": error, "status": status}, principal=principal,
        status_code=status,
    )  # fmt: skip
    response.headers.update(headers)
    return response


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    what = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "HTTP error")
    error = WebError(what, str(exc.detail) if exc.detail else "", status_code=exc.status_code)
    return error_response(request, error)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
    )
    return error_response(request, WebError("the request is not valid", problems, status_code=422))


def _lifesign_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LifesignError)
    return error_response(request, exc)


def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug: a plain 500 that shows nothing of the internals (the traceback goes to the log)."""
    error = WebError("system error", "the error was logged; please tell the administrator",
                     status_code=500)  # fmt: skip
    try:
        return error_response(request, error)
    except Exception:  # the error page itself failed: say it without a template
        return JSONResponse(_body(error), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(LifesignError, _lifesign_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
