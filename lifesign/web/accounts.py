"""Managing the web app's accounts: create, change role and scopes, disable, reset a password.

Used by `lifesign users …`, the /admin/users page and the demo. Scopes are checked against the
catalog (programs, grids, departments) and the source definitions, so a typo does not give a
worker an empty worklist without a word.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from lifesign.catalog import Catalog
from lifesign.errors import LifesignError, Location
from lifesign.web.auth import as_utc, end_sessions_of, hash_password, utc_now
from lifesign.web.i18n import LANGUAGES
from lifesign.web.models import LoginAttempt, User
from lifesign.web.permissions import (
    COMMUNITY_WORKER,
    DATA_MANAGER,
    PROGRAM_OFFICER,
    USER_ROLES,
)
from lifesign.web.webconfig import WebConfig, load_web_config

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


class AccountError(LifesignError):
    """An account cannot be created or changed as asked."""


@dataclass(frozen=True)
class Scopes:
    programs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    department: str | None = None


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    display_name: str | None
    role: str
    programs: tuple[str, ...]
    sources: tuple[str, ...]
    grids: tuple[str, ...]
    department: str | None
    lang: str
    disabled: bool
    created_at: dt.datetime
    last_login: dt.datetime | None


def split_codes(text: str | None) -> tuple[str, ...]:
    """Codes typed in a form: separated by commas, spaces or new lines; order kept, no repeats."""
    if not text:
        return ()
    seen: dict[str, None] = {}
    for part in re.split(r"[\s,，;；]+", text):
        if part:
            seen[part] = None
    return tuple(seen)


def _source_codes(catalog: Catalog) -> dict[str, str]:
    """Source code -> department code, from the source definitions."""
    from lifesign.ingest.sources import load_sources

    return {code: s.department for code, s in load_sources(None, catalog).items()}


def check_scopes(role: str, scopes: Scopes, catalog: Catalog | None) -> Scopes:
    """The scopes the role uses, checked against the catalog; the others are dropped.

    A data manager given only a department gets every source of that department.
    """
    where = Location(field="role")
    if role not in USER_ROLES:
        raise AccountError(f"unknown role {role!r}", f"one of {', '.join(USER_ROLES)}", where)
    programs = scopes.programs if role == PROGRAM_OFFICER else ()
    grids = scopes.grids if role == COMMUNITY_WORKER else ()
    sources = scopes.sources if role == DATA_MANAGER else ()
    department = scopes.department if role == DATA_MANAGER else None
    if role == PROGRAM_OFFICER and not programs:
        raise AccountError("a program officer needs programs", "", Location(field="programs"))
    if role == COMMUNITY_WORKER and not grids:
        raise AccountError("a community worker needs grids", "", Location(field="grids"))
    if role == DATA_MANAGER and not (sources or department):
        raise AccountError(
            "a data manager needs a department or sources", "", Location(field="department")
        )
    if catalog is not None:
        _unknown("program", programs, catalog.programs, "programs")
        grid_codes = {g.code for g in catalog.regions.grids}
        _unknown("grid", grids, grid_codes, "grids")
        if department is not None:
            _unknown("department", (department,), catalog.departments, "department")
        if role == DATA_MANAGER:
            known = _source_codes(catalog)
            _unknown("source", sources, known, "sources")
            if department is not None and not sources:
                sources = tuple(sorted(c for c, d in known.items() if d == department))
            if department is None:
                departments = {known[s] for s in sources}
                department = departments.pop() if len(departments) == 1 else None
    return Scopes(programs=programs, sources=sources, grids=grids, department=department)


def _unknown(kind: str, given: Iterable[str], known: Iterable[str], field: str) -> None:
    known_set = set(known)
    missing = [code for code in given if code not in known_set]
    if missing:
        raise AccountError(
            f"unknown {kind} code{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            "not in the catalog" if kind != "source" else "not a defined source",
            Location(field=field),
        )


def check_password(password: str, config: WebConfig) -> None:
    if len(password) < config.password_min_length:
        raise AccountError(
            "the password is too short",
            f"at least {config.password_min_length} characters",
            Location(field="password"),
        )


def create_user(
    conn: Connection,
    username: str,
    password: str,
    role: str,
    scopes: Scopes = Scopes(),
    *,
    display_name: str | None = None,
    lang: str = "zh-CN",
    catalog: Catalog | None = None,
    config: WebConfig | None = None,
) -> int:
    """Create an account; its user id. Raises AccountError (what, why, which field)."""
    config = config or load_web_config()
    if not USERNAME.match(username):
        raise AccountError(
            f"the username {username!r} is not usable",
            "2-64 letters, digits, dots, dashes or underscores, starting with a letter or digit",
            Location(field="username"),
        )
    if lang not in LANGUAGES:
        raise AccountError(
            f"unknown language {lang!r}", ", ".join(LANGUAGES), Location(field="lang")
        )
    checked = check_scopes(role, scopes, catalog)
    check_password(password, config)
    if conn.execute(select(User.user_id).where(User.username == username)).first() is not None:
        raise AccountError(f"the username {username!r} is taken", "", Location(field="username"))
    now = utc_now()
    result = conn.execute(
        insert(User)
        .values(
            username=username,
            display_name=display_name,
            password_hash=hash_password(password),
            role=role,
            programs=list(checked.programs),
            sources=list(checked.sources),
            grids=list(checked.grids),
            department=checked.department,
            lang=lang,
            disabled=False,
            password_changed_at=now,
        )
        .returning(User.user_id)
    )
    return int(result.scalar_one())


def _user_id(conn: Connection, username: str) -> int:
    found = conn.execute(select(User.user_id).where(User.username == username)).scalar()
    if found is None:
        raise AccountError(f"no user {username!r}", "", Location(field="username"))
    return int(found)


def change_role(
    conn: Connection,
    username: str,
    role: str,
    scopes: Scopes,
    *,
    display_name: str | None = None,
    catalog: Catalog | None = None,
) -> None:
    """Change a user's role and scopes; their sessions end (the next page asks for a login)."""
    user_id = _user_id(conn, username)
    checked = check_scopes(role, scopes, catalog)
    now = utc_now()
    values: dict[str, object] = {
        "role": role,
        "programs": list(checked.programs),
        "sources": list(checked.sources),
        "grids": list(checked.grids),
        "department": checked.department,
        "updated_at": now,
    }
    if display_name is not None:
        values["display_name"] = display_name or None
    conn.execute(update(User).where(User.user_id == user_id).values(**values))
    end_sessions_of(conn, user_id, now=now)


def set_disabled(conn: Connection, username: str, disabled: bool) -> None:
    user_id = _user_id(conn, username)
    now = utc_now()
    conn.execute(
        update(User).where(User.user_id == user_id).values(disabled=disabled, updated_at=now)
    )
    if disabled:
        end_sessions_of(conn, user_id, now=now)


def reset_password(
    conn: Connection, username: str, password: str, *, config: WebConfig | None = None
) -> None:
    """Set a new password; the user's sessions end."""
    check_password(password, config or load_web_config())
    user_id = _user_id(conn, username)
    now = utc_now()
    conn.execute(
        update(User)
        .where(User.user_id == user_id)
        .values(password_hash=hash_password(password), password_changed_at=now, updated_at=now)
    )
    end_sessions_of(conn, user_id, now=now)


def list_accounts(conn: Connection) -> list[Account]:
    from sqlalchemy import func

    last_login = (
        select(LoginAttempt.username, func.max(LoginAttempt.at).label("last_login"))
        .where(LoginAttempt.succeeded.is_(True))
        .group_by(LoginAttempt.username)
        .subquery()
    )
    rows = conn.execute(
        select(User, last_login.c.last_login)
        .outerjoin(last_login, last_login.c.username == User.username)
        .order_by(User.username)
    ).all()
    return [
        Account(
            user_id=r.user_id,
            username=r.username,
            display_name=r.display_name,
            role=r.role,
            programs=tuple(r.programs or ()),
            sources=tuple(r.sources or ()),
            grids=tuple(r.grids or ()),
            department=r.department,
            lang=r.lang,
            disabled=bool(r.disabled),
            created_at=as_utc(r.created_at),
            last_login=as_utc(r.last_login) if r.last_login else None,
        )
        for r in rows
    ]


def get_account(conn: Connection, username: str) -> Account:
    for account in list_accounts(conn):
        if account.username == username:
            return account
    raise AccountError(f"no user {username!r}", "", Location(field="username"))
