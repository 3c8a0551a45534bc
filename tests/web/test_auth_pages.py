"""The login page, logout, language, session expiry, CSRF and the users administration,
through the app (over a copy of the small replayed city)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lifesign.config import Settings
from lifesign.web.accounts import Scopes, create_user
from lifesign.web.app import create_app
from lifesign.web.auth import SESSION_COOKIE
from lifesign.web.demo_accounts import DemoLogin
from lifesign.web.models import AuditEntry, LoginAttempt, User, WebSession

from .conftest import WebClient, login_client

TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def _login_form(client: TestClient) -> str:
    found = TOKEN.search(client.get("/login").text)
    assert found
    return found.group(1)


def test_login_sets_a_hardened_cookie_and_lands_on_the_roles_first_page(
    web_app: FastAPI, users: dict[str, DemoLogin]
) -> None:
    with TestClient(web_app) as client:
        token = _login_form(client)
        worker = users["worker"]
        answer = client.post(
            "/login",
            data={"username": worker.username, "password": worker.password, "csrf_token": token},
            follow_redirects=False,
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/worklist"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if SESSION_COOKIE in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http (tests); see the https test below


def test_the_session_cookie_is_secure_over_https(
    web_app: FastAPI, users: dict[str, DemoLogin]
) -> None:
    with TestClient(web_app, base_url="https://testserver") as client:
        token = _login_form(client)
        admin = users["admin"]
        answer = client.post(
            "/login",
            data={"username": admin.username, "password": admin.password, "csrf_token": token},
            follow_redirects=False,
        )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if SESSION_COOKIE in c)
    assert answer.status_code == 303 and "Secure" in cookie


def test_a_page_without_session_redirects_to_login_and_back(
    web_app: FastAPI, users: dict[str, DemoLogin]
) -> None:
    with TestClient(web_app) as client:
        answer = client.get("/audit?user=admin", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=%2Faudit%3Fuser%3Dadmin"
        token = _login_form(client)
        auditor = users["auditor"]
        back = client.post(
            "/login",
            data={"username": auditor.username, "password": auditor.password,
                  "csrf_token": token, "next": "/audit?user=admin"},
            follow_redirects=False,
        )  # fmt: skip
        assert back.headers["location"] == "/audit?user=admin"
        # never to another site
        evil = client.post(
            "/login",
            data={"username": auditor.username, "password": auditor.password,
                  "csrf_token": _login_form(client), "next": "//evil.example/x"},
            follow_redirects=False,
        )  # fmt: skip
        assert evil.headers["location"] == "/"


def test_a_wrong_password_shows_the_form_again_without_telling_which_was_wrong(
    web_app: FastAPI,
) -> None:
    with TestClient(web_app) as client:
        token = _login_form(client)
        answer = client.post(
            "/login", data={"username": "worker", "password": "nope-nope-nope", "csrf_token": token}
        )
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_a_login_without_the_forms_token_is_refused(
    web_app: FastAPI, users: dict[str, DemoLogin]
) -> None:
    admin = users["admin"]
    with TestClient(web_app) as client:
        answer = client.post(
            "/login", data={"username": admin.username, "password": admin.password}
        )
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_posts_without_the_csrf_token_are_refused(client: Callable[[str], WebClient]) -> None:
    admin = client("admin")
    assert admin.post("/logout", follow_redirects=False).status_code == 403
    wrong = admin.post("/logout", data={"csrf_token": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    refused = admin.post(
        "/admin/users",
        data={"username": "sneaky", "password": "long enough pw", "role": "admin"},
        follow_redirects=False,
    )
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert admin.get("/account").status_code == 200  # still logged in
    # the header works as well as the form field (for scripts)
    header = admin.post(
        "/logout", headers={"X-CSRF-Token": admin.csrf_token}, follow_redirects=False
    )
    assert header.status_code == 303


def test_logout_ends_the_session_on_the_server(client: Callable[[str], WebClient]) -> None:
    worker = client("worker")
    session_token = worker.cookies.get(SESSION_COOKIE)
    assert worker.post_form("/logout").headers["location"] == "/login"
    assert worker.get("/account", follow_redirects=False).status_code == 303
    # replaying the old cookie does not bring the session back
    worker.cookies.set(SESSION_COOKIE, session_token or "")
    assert worker.get("/account", follow_redirects=False).status_code == 303


def test_the_language_switch_is_remembered(web_app: FastAPI, users: dict[str, DemoLogin]) -> None:
    worker = login_client(web_app, users["worker"])
    assert "退出" in worker.get("/account").text  # Chinese first
    english = worker.get("/account?lang=en")
    assert "Log out" in english.text and 'lang="en"' in english.text
    assert "Log out" in worker.get("/account").text  # the cookie remembers
    back = worker.get("/lang?lang=zh-CN&next=/account", follow_redirects=True)
    assert "退出" in back.text
    assert (
        worker.get("/lang?lang=en&next=https://evil.example", follow_redirects=False).headers[
            "location"
        ]
        == "/"
    )


def test_an_idle_session_expires(web_home: Settings, users: dict[str, DemoLogin]) -> None:
    now = [dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)]
    app = create_app(web_home, clock=lambda: now[0])
    config = app.state.web_config
    try:
        worker = login_client(app, users["worker"])
        now[0] += dt.timedelta(minutes=config.session_idle_minutes - 1)
        assert worker.get("/account", follow_redirects=False).status_code == 200
        now[0] += dt.timedelta(minutes=config.session_idle_minutes + 1)
        expired = worker.get("/account", follow_redirects=False)
        assert expired.status_code == 303
        assert expired.headers["location"] == "/login?next=%2Faccount&expired=1"
        assert "登录已过期" in worker.get(expired.headers["location"]).text
    finally:
        app.state.engine.dispose()


def test_the_login_page_throttles_failed_attempts(
    web_home: Settings, users: dict[str, DemoLogin]
) -> None:
    app = create_app(web_home)
    limit = app.state.web_config.max_failures_per_user
    worker = DemoLogin("fresh", "fresh.worker", "fresh password 1", "community_worker")
    with app.state.engine.begin() as conn:  # an account no other test has failed to log in to
        create_user(conn, worker.username, worker.password, worker.role,
                    Scopes(grids=(app.state.catalog.regions.grids[0].code,)))  # fmt: skip
    try:
        with TestClient(app) as client:
            for _ in range(limit):
                answer = client.post(
                    "/login",
                    data={"username": worker.username, "password": "wrong-wrong-wrong",
                          "csrf_token": _login_form(client)},
                )  # fmt: skip
                assert answer.status_code == 401
            blocked = client.post(
                "/login",
                data={"username": worker.username, "password": worker.password,
                      "csrf_token": _login_form(client)},
                follow_redirects=False,
            )  # fmt: skip
        assert blocked.status_code == 429 and "登录失败次数过多" in blocked.text
        with app.state.engine.connect() as conn:
            reasons = conn.execute(
                select(LoginAttempt.reason, func.count())
                .where(LoginAttempt.username == worker.username)
                .group_by(LoginAttempt.reason)
            ).all()
        assert dict(reasons)["throttled"] == 1 and dict(reasons)["wrong_password"] == limit
    finally:
        app.state.engine.dispose()


def test_only_the_admin_manages_users(client: Callable[[str], WebClient]) -> None:
    for key in ("officer", "datamgr", "worker", "auditor"):
        other = client(key)
        assert other.get("/admin/users").status_code == 403
        attempt = other.post_form(
            "/admin/users", {"username": "x1", "password": "long enough pw", "role": "admin"}
        )
        assert attempt.status_code == 403
    assert client("admin").get("/admin/users").status_code == 200


def test_the_admin_creates_changes_disables_and_resets_a_user(
    home_app: FastAPI, home_client: Callable[[str], WebClient]
) -> None:
    admin = home_client("admin")
    catalog = home_app.state.catalog
    grid = catalog.regions.grids[0].code
    created = admin.post_form(
        "/admin/users",
        {"username": "wang.wei", "display_name": "王伟", "password": "first password 1",
         "role": "community_worker", "grids": grid, "lang": "zh-CN"},
    )  # fmt: skip
    assert created.status_code == 303, created.text[:800]
    assert "wang.wei" in admin.get("/admin/users").text
    bad = admin.post_form(
        "/admin/users",
        {"username": "li.na", "password": "short", "role": "community_worker", "grids": grid},
    )
    assert bad.status_code == 400 and "password" in bad.text
    wang = login_client(home_app, ("wang.wei", "first password 1"))
    assert wang.get("/account").status_code == 200
    # a role change ends the session; the new role applies at the next login
    programs = sorted(catalog.programs)[:1]
    changed = admin.post_form(
        "/admin/users/wang.wei", {"role": "program_officer", "programs": programs}
    )
    assert changed.status_code == 303
    assert wang.get("/account", follow_redirects=False).status_code == 303
    wang = login_client(home_app, ("wang.wei", "first password 1"))
    assert "业务经办人员" in wang.get("/account").text
    assert (
        admin.post_form(
            "/admin/users/wang.wei/password", {"password": "second password 2"}
        ).status_code
        == 303
    )
    assert wang.get("/account", follow_redirects=False).status_code == 303
    wang = login_client(home_app, ("wang.wei", "second password 2"))
    assert admin.post_form("/admin/users/wang.wei/disable").status_code == 303
    assert wang.get("/account", follow_redirects=False).status_code == 303
    with home_app.state.engine.connect() as conn:
        disabled = conn.execute(select(User.disabled).where(User.username == "wang.wei")).scalar()
        live = conn.execute(
            select(func.count())
            .select_from(WebSession)
            .join(User, User.user_id == WebSession.user_id)
            .where(User.username == "wang.wei", WebSession.ended_at.is_(None))
        ).scalar()
    assert disabled and live == 0
    log = admin.get("/audit?action=manage_users").text
    for reason in ("create user", "change role and scopes", "reset password", "disable user"):
        assert reason in log
    assert "first password" not in log and "second password" not in log


def test_a_user_action_outside_the_table_or_without_its_field_changes_nothing(
    home_app: FastAPI, home_client: Callable[[str], WebClient], users: dict[str, DemoLogin]
) -> None:
    """The user page's buttons post to one dispatcher over a table of actions: an address of
    no action is a 404, a reset without the new password a 422; neither is audited."""
    admin = home_client("admin")
    worker = users["worker"].username
    assert admin.post_form(f"/admin/users/{worker}/remove").status_code == 404
    assert admin.post_form(f"/admin/users/{worker}/password").status_code == 422
    with home_app.state.engine.connect() as conn:
        audited = conn.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "manage_users", AuditEntry.target == f"user:{worker}")
        ).scalar()
        disabled = conn.execute(select(User.disabled).where(User.username == worker)).scalar()
    assert audited == 0 and not disabled
    assert (
        login_client(home_app, (worker, users["worker"].password)).get("/account").status_code
        == 200
    )
