"""Pages: the administrator manages the users (create, change role and scopes, disable,
re-enable, reset a password). Every change is written to the audit log (never a password)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from lifesign.errors import Location
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
from lifesign.web.auth import Principal
from lifesign.web.errors import NotFound, WebError
from lifesign.web.i18n import LANGUAGES, translate
from lifesign.web.pages._work import CSRF, Conn, User, catalog_of
from lifesign.web.permissions import USER_ROLES, require
from lifesign.web.templating import page_lang, render

router = APIRouter()


def _choices(request: Request) -> dict[str, Any]:
    catalog = catalog_of(request)
    return {
        "roles": USER_ROLES,
        "languages": LANGUAGES,
        "programs": sorted(catalog.programs.values(), key=lambda p: p.code),
        "departments": sorted(catalog.departments.values(), key=lambda d: d.code),
    }


class RoleForm:
    """The role and scope fields of the create and edit forms (a dependency of both routes)."""

    def __init__(
        self,
        role: Annotated[str, Form()],
        display_name: Annotated[str, Form()] = "",
        programs: Annotated[list[str] | None, Form()] = None,
        sources: Annotated[str, Form()] = "",
        grids: Annotated[str, Form()] = "",
        department: Annotated[str, Form()] = "",
    ) -> None:
        self.role = role
        self.display_name = display_name
        self.programs = programs or []
        self.sources = sources
        self.grids = grids
        self.department = department

    @property
    def scopes(self) -> Scopes:
        return Scopes(
            programs=tuple(dict.fromkeys(self.programs)),
            sources=split_codes(self.sources),
            grids=split_codes(self.grids),
            department=self.department or None,
        )

    def as_sent(self) -> dict[str, Any]:
        """The fields as typed, to fill the form again after a refusal."""
        return {
            "display_name": self.display_name,
            "role": self.role,
            "programs": self.programs,
            "sources": self.sources,
            "grids": self.grids,
            "department": self.department,
        }


Roles = Annotated[RoleForm, Depends()]


def _role_details(role: str, scopes: Scopes) -> dict[str, Any]:
    """What the audit log keeps of a role and its scopes."""
    return {
        "role": role,
        "programs": list(scopes.programs),
        "grids": list(scopes.grids),
        "sources": list(scopes.sources),
        "department": scopes.department,
    }


def _done(request: Request, key: str, username: str, target: str = "/admin/users") -> Response:
    message = translate(key, page_lang(request, None), username=username)
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
    fields: Roles,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    lang: Annotated[str, Form()] = "zh-CN",
) -> Response:
    require(principal, "manage_users")
    scopes = fields.scopes
    try:
        create_user(
            conn, username.strip(), password, fields.role, scopes,
            display_name=fields.display_name or None, lang=lang, catalog=catalog_of(request),
            config=request.app.state.web_config,
        )  # fmt: skip
    except AccountError as problem:
        form = {"username": username, "lang": lang, **fields.as_sent()}
        return render(
            request, "admin/users.html",
            {"accounts": list_accounts(conn), "done": None, "problem": problem, "form": form,
             **_choices(request)},
            principal=principal, status_code=400,
        )  # fmt: skip
    audit(conn, principal, "manage_users", target=f"user:{username.strip()}", request=request,
          reason="create user", details=_role_details(fields.role, scopes))  # fmt: skip
    return _done(request, "core.users.created", username.strip())


@router.get("/admin/users/{username}")
def user_page(
    username: str, request: Request, principal: User, conn: Conn, done: str | None = None
) -> Response:
    require(principal, "manage_users")
    try:
        account = get_account(conn, username)
    except AccountError:
        raise NotFound("no such user", username) from None
    return render(
        request, "admin/user.html",
        {"account": account, "done": done, "problem": None, **_choices(request)},
        principal=principal,
    )  # fmt: skip


# The changes to one existing user, each a form on the user's page.


@dataclass(frozen=True)
class UserForm:
    """What a form on the user's page sent (each action reads its own fields)."""

    role: str = ""
    display_name: str = ""
    scopes: Scopes = field(default_factory=Scopes)
    password: str | None = None


@dataclass(frozen=True)
class UserAction:
    # does it; raises AccountError when refused; returns the audit row's details
    apply: Callable[[Request, Connection, str, UserForm], dict[str, Any] | None]
    reason: str  # the audit row's reason
    done: str  # the message shown after it (i18n key)


def _change(request: Request, conn: Connection, username: str, form: UserForm) -> dict[str, Any]:
    change_role(conn, username, form.role, form.scopes, display_name=form.display_name,
                catalog=catalog_of(request))  # fmt: skip
    return _role_details(form.role, form.scopes)


def _disable(request: Request, conn: Connection, username: str, form: UserForm) -> None:
    set_disabled(conn, username, True)


def _enable(request: Request, conn: Connection, username: str, form: UserForm) -> None:
    set_disabled(conn, username, False)


def _reset_password(request: Request, conn: Connection, username: str, form: UserForm) -> None:
    if form.password is None:
        raise WebError(
            "a new password is needed",
            "the reset form sends it in the field `password`",
            Location(field="password"),
            status_code=422,
        )
    reset_password(conn, username, form.password, config=request.app.state.web_config)


# By the address the form posts to: `/admin/users/{username}/{name}`, and the edit form to
# the user's own address (the name "", which no `{name}` segment can reach).
USER_ACTIONS: dict[str, UserAction] = {
    "": UserAction(_change, "change role and scopes", "core.users.saved"),
    "disable": UserAction(_disable, "disable user", "core.users.disabled_done"),
    "enable": UserAction(_enable, "enable user", "core.users.enabled_done"),
    "password": UserAction(_reset_password, "reset password", "core.users.password_reset"),
}


def _apply(
    name: str, username: str, request: Request, principal: Principal, conn: Connection,
    form: UserForm,
) -> Response:  # fmt: skip
    """One change to a user: done, audited (never the password) and shown on the user's page;
    refused, the user's page again with the problem (400)."""
    require(principal, "manage_users")
    action = USER_ACTIONS.get(name)
    if action is None:
        known = ", ".join(name for name in USER_ACTIONS if name)
        raise NotFound("no such user action", f"{name!r} is none of {known}")
    try:
        details = action.apply(request, conn, username, form)
    except AccountError as problem:
        return render(
            request, "admin/user.html",
            {"account": get_account(conn, username), "done": None, "problem": problem,
             **_choices(request)},
            principal=principal, status_code=400,
        )  # fmt: skip
    audit(conn, principal, "manage_users", target=f"user:{username}", request=request,
          reason=action.reason, details=details)  # fmt: skip
    return _done(request, action.done, username, f"/admin/users/{username}")


@router.post("/admin/users/{username}", dependencies=CSRF)
def change_user_submit(
    username: str, request: Request, principal: User, conn: Conn, fields: Roles
) -> Response:
    form = UserForm(role=fields.role, display_name=fields.display_name, scopes=fields.scopes)
    return _apply("", username, request, principal, conn, form)


@router.post("/admin/users/{username}/{action}", dependencies=CSRF)
def user_action_submit(
    username: str,
    action: str,
    request: Request,
    principal: User,
    conn: Conn,
    password: Annotated[str | None, Form()] = None,
) -> Response:
    """disable, enable, password (reset): the buttons of the user's page."""
    return _apply(action, username, request, principal, conn, UserForm(password=password))
