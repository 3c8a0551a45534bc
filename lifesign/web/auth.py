"""Accounts, passwords, sessions and CSRF for the web app's pages.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106). A session is a random
token in an HttpOnly, SameSite=Lax cookie; the database keeps only its SHA-256, so a reader of
the database cannot take a session over. Each session has its own CSRF token, which every POST
form carries (`csrf_token`) or sends as the `X-CSRF-Token` header. Failed logins are counted per
username and per client address and throttled (limits in data/web.yaml). Neither a password nor
a session token is ever logged or written anywhere in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, Request, Response
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from lifesign.web.db import connection
from lifesign.web.errors import CsrfRefused, LoginRequired, TooManyRequests
from lifesign.web.i18n import DEFAULT_LANGUAGE, normalize_lang
from lifesign.web.models import LoginAttempt, User, WebSession
from lifesign.web.webconfig import WebConfig, load_web_config

SESSION_COOKIE = "lifesign_session"
LOGIN_CSRF_COOKIE = "lifesign_login_csrf"
LANG_COOKIE = "lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that the answer takes as long as for a
# known one (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    user_id: int | None  # None for an API token
    username: str  # or "api:<department>/<token name>"
    role: str  # admin | program_officer | data_manager | community_worker | auditor | department
    programs: frozenset[str]  # program codes (program officers)
    sources: frozenset[str]  # source codes (data managers)
    grids: frozenset[str]  # grid codes (community workers)
    department: str | None  # department code (data managers, API tokens)
    lang: str  # 'zh-CN' | 'en'


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives datetimes back without their zone: they were written in UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def principal_of(user: Any, lang: str | None = None) -> Principal:
    """The principal of a `users` row (an ORM object or a Row with the same names)."""
    return Principal(
        user_id=user.user_id,
        username=user.username,
        role=user.role,
        programs=frozenset(user.programs or ()),
        sources=frozenset(user.sources or ()),
        grids=frozenset(user.grids or ()),
        department=user.department,
        lang=lang or user.lang or DEFAULT_LANGUAGE,
    )


# --------------------------------------------------------------------------------------------
# Login, sessions, logout (functions over a Connection: the CLI and tests use them too)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie only
    csrf_token: str
    user_id: int
    expires_at: dt.datetime
    principal: Principal


class LoginFailed(LoginRequired):
    """Wrong username or password, or a disabled account: one message for all (no hint)."""


def _record_attempt(
    conn: Connection, username: str, client: str | None, now: dt.datetime, reason: str | None
) -> None:
    conn.execute(
        insert(LoginAttempt).values(
            username=username[:64], client=client, at=now, succeeded=reason is None, reason=reason
        )
    )


_COUNTED_FAILURES = ("wrong_password", "unknown_user", "disabled")


def _failures(conn: Connection, column: Any, value: str, since: dt.datetime) -> int:
    query = select(func.count()).where(
        column == value,
        LoginAttempt.at >= since,
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.reason.in_(_COUNTED_FAILURES),
    )
    return int(conn.execute(query).scalar_one())


def check_throttle(
    conn: Connection, username: str, client: str | None, now: dt.datetime, config: WebConfig
) -> None:
    """Raise TooManyRequests when the username or the client address failed too often."""
    window = dt.timedelta(minutes=config.login_window_minutes)
    since = now - window
    too_many = _failures(conn, LoginAttempt.username, username, since) >= (
        config.max_failures_per_user
    )
    if not too_many and client:
        too_many = _failures(conn, LoginAttempt.client, client, since) >= (
            config.max_failures_per_client
        )
    if too_many:
        raise TooManyRequests(
            "too many failed logins",
            f"try again in {config.login_window_minutes} minutes",
            retry_after_seconds=int(window.total_seconds()),
        )


def login(
    conn: Connection,
    username: str,
    password: str,
    *,
    client: str | None,
    now: dt.datetime,
    config: WebConfig | None = None,
) -> NewSession:
    """Check the password and open a session; raise LoginFailed or TooManyRequests.

    Every attempt is recorded (never the password). A throttled attempt is refused before the
    password is looked at, so guessing on cannot succeed inside the window.
    """
    config = config or load_web_config()
    username = username.strip()
    try:
        check_throttle(conn, username, client, now, config)
    except TooManyRequests:
        _record_attempt(conn, username, client, now, "throttled")
        raise
    user = conn.execute(select(User).where(User.username == username)).mappings().first()
    reason: str | None = None
    if user is None:
        verify_password(_DUMMY_HASH, password)
        reason = "unknown_user"
    elif not verify_password(user["password_hash"], password):
        reason = "wrong_password"
    elif user["disabled"]:
        reason = "disabled"
    _record_attempt(conn, username, client, now, reason)
    if reason is not None or user is None:
        raise LoginFailed("wrong username or password", "or the account is disabled")
    if _hasher.check_needs_rehash(user["password_hash"]):
        conn.execute(
            update(User)
            .where(User.user_id == user["user_id"])
            .values(password_hash=hash_password(password))
        )
    # the user's ended and expired sessions are of no use any more: drop them (by user_id, an
    # index), so the table holds about the live sessions only
    conn.execute(
        delete(WebSession).where(
            WebSession.user_id == user["user_id"],
            or_(WebSession.ended_at.is_not(None), WebSession.expires_at < now),
        )
    )
    token = secrets.token_urlsafe(config.session_token_bytes)
    csrf = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(hours=config.session_absolute_hours)
    conn.execute(
        insert(WebSession).values(
            token_sha256=token_hash(token),
            user_id=user["user_id"],
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            client=client,
        )
    )
    return NewSession(
        token=token,
        csrf_token=csrf,
        user_id=user["user_id"],
        expires_at=expires,
        principal=principal_of(_RowUser(user)),
    )


@dataclass(frozen=True)
class ActiveSession:
    session_id: int
    csrf_token: str
    user: Any  # the users row (mapping access by column name)


def find_session(
    conn: Connection, token: str, *, now: dt.datetime, config: WebConfig | None = None
) -> ActiveSession | None:
    """The live session of `token` (not ended, not expired, not idle too long, user enabled),
    its last-seen time refreshed at most every `touch_every_seconds`; else None."""
    config = config or load_web_config()
    row = (
        conn.execute(
            select(
                WebSession.session_id,
                WebSession.csrf_token,
                WebSession.last_seen_at,
                WebSession.expires_at,
                User.user_id,
                User.username,
                User.role,
                User.programs,
                User.sources,
                User.grids,
                User.department,
                User.lang,
                User.disabled,
            )
            .join(User, User.user_id == WebSession.user_id)
            .where(WebSession.token_sha256 == token_hash(token), WebSession.ended_at.is_(None))
        )
        .mappings()
        .first()
    )
    if row is None or row["disabled"]:
        return None
    last_seen = as_utc(row["last_seen_at"])
    idle = dt.timedelta(minutes=config.session_idle_minutes)
    if now >= as_utc(row["expires_at"]) or now - last_seen >= idle:
        conn.execute(
            update(WebSession)
            .where(WebSession.session_id == row["session_id"])
            .values(ended_at=now)
        )
        return None
    if (now - last_seen).total_seconds() >= config.session_touch_every_seconds:
        conn.execute(
            update(WebSession)
            .where(WebSession.session_id == row["session_id"])
            .values(last_seen_at=now)
        )
    return ActiveSession(row["session_id"], row["csrf_token"], _RowUser(row))


class _RowUser:
    """Attribute access over a result mapping (what principal_of reads)."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return self._row[name]


def logout(conn: Connection, token: str, *, now: dt.datetime) -> None:
    conn.execute(
        update(WebSession)
        .where(and_(WebSession.token_sha256 == token_hash(token), WebSession.ended_at.is_(None)))
        .values(ended_at=now)
    )


def end_sessions_of(conn: Connection, user_id: int, *, now: dt.datetime) -> None:
    """End every session of a user (disabled, password reset, role changed)."""
    conn.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )


# --------------------------------------------------------------------------------------------
# FastAPI side
# --------------------------------------------------------------------------------------------


def clock_of(request: Request) -> Callable[[], dt.datetime]:
    clock = getattr(request.app.state, "clock", None)
    return clock if clock is not None else utc_now


def now_of(request: Request) -> dt.datetime:
    return clock_of(request)()


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_lang(request: Request) -> str | None:
    """The language asked for by `?lang=` or remembered in the `lang` cookie."""
    return normalize_lang(request.query_params.get("lang")) or normalize_lang(
        request.cookies.get(LANG_COOKIE)
    )


def _web_config(request: Request) -> WebConfig:
    config = getattr(request.app.state, "web_config", None)
    return config if isinstance(config, WebConfig) else load_web_config()


def page_user(request: Request, conn: Annotated[Connection, Depends(connection)]) -> Principal:
    """Dependency: the logged-in user; else LoginRequired (pages: 303 → /login?next=…)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    found = (
        find_session(conn, token, now=now_of(request), config=_web_config(request))
        if token
        else None
    )
    if found is None:
        raise LoginRequired("please log in", "no session, or the session has ended")
    principal = principal_of(found.user, request_lang(request))
    request.state.principal = principal
    request.state.csrf_token = found.csrf_token
    return principal


async def require_csrf(
    request: Request, principal: Annotated[Principal, Depends(page_user)]
) -> None:
    """Dependency of every POST form: the session's CSRF token must come with it."""
    expected = getattr(request.state, "csrf_token", None)
    given = request.headers.get(CSRF_HEADER)
    if not given:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise CsrfRefused("the form is refused", "it did not carry this session's CSRF token")


def cookie_secure(request: Request) -> bool:
    setting = _web_config(request).cookie_secure
    return request.url.scheme == "https" if setting is None else setting


def set_session_cookie(response: Response, request: Request, session: NewSession) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(_web_config(request).session_absolute_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request)
    )
