"""Pages: log in, log out, switch language, the landing page of a role without pages.

The users administration (/admin/users) and the audit log (/audit) are in `admin.py` and
`audit_log.py`, included from here so that the app wires one router per page module.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from lifesign.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginFailed,
    NewSession,
    Principal,
    clear_session_cookie,
    client_of,
    cookie_secure,
    login,
    logout,
    now_of,
    page_user,
    require_csrf,
    set_session_cookie,
)
from lifesign.web.db import connection, engine_of
from lifesign.web.errors import CsrfRefused, TooManyRequests
from lifesign.web.i18n import translate
from lifesign.web.pages import admin, audit_log
from lifesign.web.templating import home_path, page_lang, render
from lifesign.web.webconfig import WebConfig

router = APIRouter()
router.include_router(admin.router)
router.include_router(audit_log.router)


def safe_next(value: str | None) -> str | None:
    """A local path to go back to after logging in (never another site: no open redirect)."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value:
        return None
    return value


def _login_page(
    request: Request, *, message: str | None, next_path: str, username: str, status_code: int
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"message": message, "next_path": next_path, "username": username, "login_csrf": token},
        principal=None,
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
        secure=cookie_secure(request), path="/login",
    )  # fmt: skip
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None, expired: str | None = None) -> Response:
    message = translate("core.login.expired", page_lang(request, None)) if expired else None
    return _login_page(
        request, message=message, next_path=safe_next(next) or "", username="", status_code=200
    )


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the login form; on success open a session and go to `next` or the role's home."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not csrf_token or not hmac.compare_digest(expected, csrf_token):
        raise CsrfRefused("the form is refused", "it did not carry the login page's CSRF token")
    lang = page_lang(request, None)
    config: WebConfig = request.app.state.web_config
    # Its own transaction, committed even when the login fails: the failed attempt must be
    # recorded (it counts for the throttling).
    failure: LoginFailed | TooManyRequests | None = None
    session: NewSession | None = None
    with engine_of(request).begin() as conn:
        try:
            session = login(
                conn, username, password, client=client_of(request), now=now_of(request),
                config=config,
            )  # fmt: skip
        except (LoginFailed, TooManyRequests) as refused:
            failure = refused
    if isinstance(failure, TooManyRequests):
        message = translate("core.login.throttled", lang, minutes=config.login_window_minutes)
        return _login_page(
            request, message=message, next_path=safe_next(next) or "", username=username,
            status_code=429,
        )  # fmt: skip
    if session is None:
        return _login_page(
            request, message=translate("core.login.failed", lang),
            next_path=safe_next(next) or "", username=username, status_code=401,
        )  # fmt: skip
    target = safe_next(next) or home_path(session.principal)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout_submit(request: Request, conn: Annotated[Connection, Depends(connection)]) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        logout(conn, token, now=now_of(request))
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/lang")
def switch_language(request: Request, lang: str, next: str | None = None) -> Response:
    """Remember the language (the `lang` cookie) and go back to the page."""
    from lifesign.web.auth import LANG_COOKIE
    from lifesign.web.i18n import normalize_lang
    from lifesign.web.templating import LANG_COOKIE_MAX_AGE

    response = RedirectResponse(safe_next(next) or "/", status_code=303)
    chosen = normalize_lang(lang)
    if chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=LANG_COOKIE_MAX_AGE, samesite="lax",
            secure=cookie_secure(request), path="/",
        )  # fmt: skip
    return response


@router.get("/account")
def account_page(request: Request, principal: Annotated[Principal, Depends(page_user)]) -> Response:
    return render(request, "account.html", {}, principal=principal)
