"""Pages: the administrator manages the users (create, change role and scopes, disable,
re-enable, reset a password). Every change is written to the audit log (never a password)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from lifesign.catalog import Catalog
from lifesign.web.accounts import (
    AccountError,
    Scopes,
    change_role,
    create_user,
    get_account,
    list_accounts,
    reset_password,
    set_disabled,
    split_codes,
)
from lifesign.web.audit import audit
from lifesign.web.auth import Principal, page_user, require_csrf
from lifesign.web.db import connection
from lifesign.web.i18n import LANGUAGES, translate
from lifesign.web.permissions import USER_ROLES, require
from lifesign.web.templating import page_lang, render

router = APIRouter()

User = Annotated[Principal, Depends(page_user)]
Conn = Annotated[Connection, Depends(connection)]
CSRF = [Depends(require_csrf)]


def _catalog(request: Request) -> Catalog:
    catalog = request.app.state.catalog
    assert isinstance(catalog, Catalog)
    return catalog


def _choices(request: Request) -> dict[str, Any]:
    catalog = _catalog(request)
    return {
        "roles": USER_ROLES,
        "languages": LANGUAGES,
        "programs": sorted(catalog.programs.values(), key=lambda p: p.code),
        "departments": sorted(catalog.departments.values(), key=lambda d: d.code),
    }


def _scopes(programs: list[str], sources: str, grids: str, department: str) -> Scopes:
    return Scopes(
        programs=tuple(dict.fromkeys(programs)),
        sources=split_codes(sources),
        grids=split_codes(grids),
        department=department or None,
    )


def _done(request: Request, key: str, username: str, target: str = "/admin/users") -> Response:
    message = translate(key, page_lang(request, None), username=username)
    from urllib.parse import quote

    return RedirectResponse(f"{target}?done={quote(message)}", status_code=303)


@router.get("/admin/users")
def users_page(request: Request, principal: User, conn: Conn, done: str | None = None) -> Response:
    require(principal, "manage_users")
    return render(
        request,
        "admin/users.html",
        {"accounts": list_accounts(conn), "done": done, "problem": None, "form": {},
         **_choices(request)},
        principal=principal,
    )  # fmt: skip


@router.post("/admin/users", dependencies=CSRF)
def create_user_submit(
    request: Request,
    principal: User,
    conn: Conn,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form()] = "",
    lang: Annotated[str, Form()] = "zh-CN",
    programs: Annotated[list[str] | None, Form()] = None,
    sources: Annotated[str, Form()] = "",
    grids: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "manage_users")
    scopes = _scopes(programs or [], sources, grids, department)
    try:
        create_user(
            conn, username.strip(), password, role, scopes, display_name=display_name or None,
            lang=lang, catalog=_catalog(request), config=request.app.state.web_config,
        )  # fmt: skip
    except AccountError as problem:
        form = {"username": username, "display_name": display_name, "role": role, "lang": lang,
                "programs": programs or [], "sources": sources, "grids": grids,
                "department": department}  # fmt: skip
        return render(
            request, "admin/users.html",
            {"accounts": list_accounts(conn), "done": None, "problem": problem, "form": form,
             **_choices(request)},
            principal=principal, status_code=400,
        )  # fmt: skip
    audit(conn, principal, "manage_users", target=f"user:{username.strip()}", request=request,
          reason="create user", details={"role": role, "programs": list(scopes.programs),
          "grids": list(scopes.grids), "sources": list(scopes.sources),
          "department": scopes.department})  # fmt: skip
    return _done(request, "core.users.created", username.strip())


@router.get("/admin/users/{username}")
def user_page(
    username: str, request: Request, principal: User, conn: Conn, done: str | None = None
) -> Response:
    require(principal, "manage_users")
    try:
        account = get_account(conn, username)
    except AccountError:
        from lifesign.web.errors import NotFound

        raise NotFound("no such user", username) from None
    return render(
        request, "admin/user.html",
        {"account": account, "done": done, "problem": None, **_choices(request)},
        principal=principal,
    )  # fmt: skip


def _edit_failed(
    request: Request, principal: Principal, conn: Connection, username: str, problem: AccountError
) -> Response:
    return render(
        request, "admin/user.html",
        {"account": get_account(conn, username), "done": None, "problem": problem,
         **_choices(request)},
        principal=principal, status_code=400,
    )  # fmt: skip


@router.post("/admin/users/{username}", dependencies=CSRF)
def change_user_submit(
    username: str,
    request: Request,
    principal: User,
    conn: Conn,
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form()] = "",
    programs: Annotated[list[str] | None, Form()] = None,
    sources: Annotated[str, Form()] = "",
    grids: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "manage_users")
    scopes = _scopes(programs or [], sources, grids, department)
    try:
        change_role(conn, username, role, scopes, display_name=display_name,
                    catalog=_catalog(request))  # fmt: skip
    except AccountError as problem:
        return _edit_failed(request, principal, conn, username, problem)
    audit(conn, principal, "manage_users", target=f"user:{username}", request=request,
          reason="change role and scopes", details={"role": role,
          "programs": list(scopes.programs), "grids": list(scopes.grids),
          "sources": list(scopes.sources), "department": scopes.department})  # fmt: skip
    return _done(request, "core.users.saved", username, f"/admin/users/{username}")


@router.post("/admin/users/{username}/disable", dependencies=CSRF)
def disable_user_submit(username: str, request: Request, principal: User, conn: Conn) -> Response:
    require(principal, "manage_users")
    try:
        set_disabled(conn, username, True)
    except AccountError as problem:
        return _edit_failed(request, principal, conn, username, problem)
    audit(conn, principal, "manage_users", target=f"user:{username}", request=request,
          reason="disable user")  # fmt: skip
    return _done(request, "core.users.disabled_done", username, f"/admin/users/{username}")


@router.post("/admin/users/{username}/enable", dependencies=CSRF)
def enable_user_submit(username: str, request: Request, principal: User, conn: Conn) -> Response:
    require(principal, "manage_users")
    try:
        set_disabled(conn, username, False)
    except AccountError as problem:
        return _edit_failed(request, principal, conn, username, problem)
    audit(conn, principal, "manage_users", target=f"user:{username}", request=request,
          reason="enable user")  # fmt: skip
    return _done(request, "core.users.enabled_done", username, f"/admin/users/{username}")


@router.post("/admin/users/{username}/password", dependencies=CSRF)
def reset_password_submit(
    username: str,
    request: Request,
    principal: User,
    conn: Conn,
    password: Annotated[str, Form()],
) -> Response:
    require(principal, "manage_users")
    try:
        reset_password(conn, username, password, config=request.app.state.web_config)
    except AccountError as problem:
        return _edit_failed(request, principal, conn, username, problem)
    audit(conn, principal, "manage_users", target=f"user:{username}", request=request,
          reason="reset password")  # fmt: skip
    return _done(request, "core.users.password_reset", username, f"/admin/users/{username}")
