"""Accounts, passwords, sessions and login throttling, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import Engine, select

from lifesign.web.accounts import (
    AccountError,
    Scopes,
    change_role,
    create_user,
    reset_password,
    set_disabled,
)
from lifesign.web.auth import (
    LoginFailed,
    find_session,
    login,
    logout,
    token_hash,
    verify_password,
)
from lifesign.web.errors import TooManyRequests
from lifesign.web.models import LoginAttempt, User, WebSession
from lifesign.web.webconfig import load_web_config

T0 = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"
CONFIG = load_web_config()


@pytest.fixture
def alice(engine: Engine) -> str:
    with engine.begin() as conn:
        create_user(conn, "alice", PASSWORD, "auditor")
    return "alice"


def test_passwords_are_stored_as_argon2id_hashes_only(engine: Engine, alice: str) -> None:
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash).where(User.username == alice)).scalar()
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")


def test_login_opens_a_session_stored_by_hash(engine: Engine, alice: str) -> None:
    with engine.begin() as conn:
        session = login(conn, alice, PASSWORD, client="10.0.0.1", now=T0)
    assert session.principal.username == alice and session.principal.role == "auditor"
    with engine.connect() as conn:
        rows = conn.execute(select(WebSession)).mappings().all()
        assert len(rows) == 1
        # the cookie's token is nowhere in the database, only its SHA-256
        assert all(session.token not in str(value) for value in rows[0].values())
        assert rows[0]["token_sha256"] == token_hash(session.token)
        found = find_session(conn, session.token, now=T0 + dt.timedelta(minutes=1))
    assert found is not None and found.csrf_token == session.csrf_token
    with engine.connect() as conn:
        assert find_session(conn, token_hash(session.token), now=T0) is None  # the hash is no key


@pytest.mark.parametrize("password", ["wrong password!", ""])
def test_wrong_password_and_unknown_user_are_refused_alike(
    engine: Engine, alice: str, password: str
) -> None:
    with engine.begin() as conn, pytest.raises(LoginFailed) as wrong:
        login(conn, alice, password, client="10.0.0.1", now=T0)
    with engine.begin() as conn, pytest.raises(LoginFailed) as unknown:
        login(conn, "nobody", PASSWORD, client="10.0.0.1", now=T0)
    assert str(wrong.value) == str(unknown.value)  # no hint which one was wrong
    with engine.connect() as conn:
        reasons = sorted(conn.execute(select(LoginAttempt.reason)).scalars())
    assert reasons == ["unknown_user", "wrong_password"]


def test_a_disabled_user_cannot_log_in_and_loses_its_sessions(engine: Engine, alice: str) -> None:
    with engine.begin() as conn:
        session = login(conn, alice, PASSWORD, client=None, now=T0)
        set_disabled(conn, alice, True)
    with engine.begin() as conn:
        assert find_session(conn, session.token, now=T0) is None
    with engine.begin() as conn, pytest.raises(LoginFailed):
        login(conn, alice, PASSWORD, client=None, now=T0)
    with engine.begin() as conn:
        set_disabled(conn, alice, False)
        assert login(conn, alice, PASSWORD, client=None, now=T0).token


def test_failed_logins_of_a_user_are_throttled_until_the_window_passes(
    engine: Engine, alice: str
) -> None:
    for _ in range(CONFIG.max_failures_per_user):
        with engine.begin() as conn, pytest.raises(LoginFailed):
            login(conn, alice, "not the password", client="10.0.0.2", now=T0)
    # the right password does not help inside the window
    with engine.begin() as conn, pytest.raises(TooManyRequests):
        login(conn, alice, PASSWORD, client="10.0.0.3", now=T0 + dt.timedelta(minutes=1))
    later = T0 + dt.timedelta(minutes=CONFIG.login_window_minutes, seconds=1)
    with engine.begin() as conn:
        assert login(conn, alice, PASSWORD, client="10.0.0.3", now=later).token


def test_failed_logins_from_one_client_are_throttled(engine: Engine, alice: str) -> None:
    config = dataclasses.replace(CONFIG, max_failures_per_client=3)
    for n in range(3):
        with engine.begin() as conn, pytest.raises(LoginFailed):
            login(conn, f"guess{n}", "x", client="10.9.9.9", now=T0, config=config)
    with engine.begin() as conn, pytest.raises(TooManyRequests):
        login(conn, alice, PASSWORD, client="10.9.9.9", now=T0, config=config)
    with engine.begin() as conn:  # another address is not blocked
        assert login(conn, alice, PASSWORD, client="10.1.1.1", now=T0, config=config).token


def test_sessions_end_when_idle_too_long_or_too_old(engine: Engine, alice: str) -> None:
    idle = dt.timedelta(minutes=CONFIG.session_idle_minutes)
    with engine.begin() as conn:
        session = login(conn, alice, PASSWORD, client=None, now=T0)
    with engine.begin() as conn:
        assert find_session(conn, session.token, now=T0 + idle - dt.timedelta(seconds=1))
    # used just before going idle, it lives on (last seen was refreshed)
    with engine.begin() as conn:
        assert find_session(conn, session.token, now=T0 + 2 * idle - dt.timedelta(seconds=5))
    with engine.begin() as conn:
        assert find_session(conn, session.token, now=T0 + 4 * idle) is None
    # active all the time, it still ends after the absolute lifetime
    with engine.begin() as conn:
        session = login(conn, alice, PASSWORD, client=None, now=T0)
    step = idle / 2
    now = T0
    end = T0 + dt.timedelta(hours=CONFIG.session_absolute_hours)
    alive = True
    while now < end + step and alive:
        now += step
        with engine.begin() as conn:
            alive = find_session(conn, session.token, now=now) is not None
    assert not alive and now >= end


def test_logout_ends_the_session(engine: Engine, alice: str) -> None:
    with engine.begin() as conn:
        session = login(conn, alice, PASSWORD, client=None, now=T0)
        logout(conn, session.token, now=T0)
    with engine.begin() as conn:
        assert find_session(conn, session.token, now=T0) is None


def test_reset_password_and_role_change_end_sessions(engine: Engine, alice: str) -> None:
    with engine.begin() as conn:
        first = login(conn, alice, PASSWORD, client=None, now=T0)
        reset_password(conn, alice, "another long password")
    with engine.begin() as conn:
        assert find_session(conn, first.token, now=T0) is None
        second = login(conn, alice, "another long password", client=None, now=T0)
        change_role(conn, alice, "community_worker", Scopes(grids=("341602001001001",)))
    with engine.begin() as conn:
        assert find_session(conn, second.token, now=T0) is None
        third = login(conn, alice, "another long password", client=None, now=T0)
    assert third.principal.role == "community_worker"
    assert third.principal.grids == frozenset({"341602001001001"})


def test_accounts_refuse_bad_input_with_the_field(engine: Engine) -> None:
    cases = [
        (("bob", "short", "auditor", Scopes()), "password"),
        (("b", PASSWORD, "auditor", Scopes()), "username"),
        (("bob", PASSWORD, "king", Scopes()), "role"),
        (("bob", PASSWORD, "community_worker", Scopes()), "grids"),
        (("bob", PASSWORD, "program_officer", Scopes()), "programs"),
    ]
    for args, field in cases:
        with engine.begin() as conn, pytest.raises(AccountError) as error:
            create_user(conn, *args)
        assert error.value.where.field == field
    with engine.begin() as conn:
        create_user(conn, "bob", PASSWORD, "auditor")
    with engine.begin() as conn, pytest.raises(AccountError, match="taken"):
        create_user(conn, "bob", PASSWORD, "auditor")


def test_scopes_are_checked_against_the_catalog(engine: Engine) -> None:
    from lifesign.catalog import load_catalog

    catalog = load_catalog(None)
    with engine.begin() as conn, pytest.raises(AccountError, match="unknown program"):
        create_user(conn, "o1", PASSWORD, "program_officer", Scopes(programs=("nope",)),
                    catalog=catalog)  # fmt: skip
    grid = catalog.regions.grids[0].code
    department = next(iter(catalog.departments))
    with engine.begin() as conn:
        create_user(conn, "w1", PASSWORD, "community_worker", Scopes(grids=(grid,)),
                    catalog=catalog)  # fmt: skip
        create_user(conn, "d1", PASSWORD, "data_manager", Scopes(department=department),
                    catalog=catalog)  # fmt: skip
        sources = conn.execute(select(User.sources).where(User.username == "d1")).scalar()
    assert isinstance(sources, list)  # a department's sources are filled in (may be empty)


def test_a_login_drops_the_users_ended_sessions(engine: Engine, alice: str) -> None:
    with engine.begin() as conn:
        old = login(conn, alice, PASSWORD, client=None, now=T0)
        logout(conn, old.token, now=T0)
        live = login(conn, alice, PASSWORD, client=None, now=T0)
    later = T0 + dt.timedelta(minutes=1)
    with engine.begin() as conn:
        login(conn, alice, PASSWORD, client=None, now=later)
        hashes = set(conn.execute(select(WebSession.token_sha256)).scalars())
    assert token_hash(old.token) not in hashes and token_hash(live.token) in hashes
    assert len(hashes) == 2
