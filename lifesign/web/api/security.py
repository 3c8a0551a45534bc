"""Who is calling the API: bearer token → `Principal` (role 'department'), rate-limited.

The dependency `api_caller` runs first on every endpoint: no token or an unknown/revoked one
is a 401, an exhausted rate limit a 429 with Retry-After; then each endpoint checks its action
with `require(principal, 'api_…')` and, for the apps acting for people, the token's scope.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection

from lifesign.errors import Location
from lifesign.web.api.calls import call_log_of
from lifesign.web.api.parameters import ApiParameters, load_api_parameters
from lifesign.web.api.ratelimit import RateLimiter, retry_after_header
from lifesign.web.api.tokens import TokenInfo, active_token
from lifesign.web.auth import Principal
from lifesign.web.db import connection
from lifesign.web.errors import Forbidden, LoginRequired, TooManyRequests
from lifesign.web.permissions import DEPARTMENT, require

bearer = HTTPBearer(
    auto_error=False,
    description="A department's API token: `Authorization: Bearer lsk_…` "
    "(created by `lifesign api token create`).",
)


@dataclass(frozen=True)
class ApiCaller:
    """The principal the permission table knows, and the token it came from."""

    principal: Principal
    token: TokenInfo

    def require(self, action: str) -> None:
        require(self.principal, action)

    def require_scope(self, scope: str) -> None:
        """The apps that act for people need a token created with their scope."""
        if scope not in self.token.scopes:
            raise Forbidden(
                "this token may not do that",
                f"it needs the scope {scope!r} (lifesign api token create --scope {scope})",
                Location(key="Authorization"),
            )


def api_parameters(request: Request) -> ApiParameters:
    """The limits in force: the app's own (tests lower them) or data/api.yaml."""
    found = getattr(request.app.state, "api_parameters", None)
    return found if isinstance(found, ApiParameters) else load_api_parameters()


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter = getattr(state, "api_rate_limiter", None)
    if not isinstance(limiter, RateLimiter):
        parameters = api_parameters(request)
        limiter = RateLimiter(parameters.rate_per_second, parameters.burst)
        state.api_rate_limiter = limiter
    return limiter


@functools.lru_cache(maxsize=64)
def _department_sources(catalog_dir: str | None, department: str) -> frozenset[str]:
    from lifesign.catalog import load_catalog
    from lifesign.ingest.sources import load_sources

    catalog = load_catalog(catalog_dir)
    return frozenset(
        code
        for code, source in load_sources(None, catalog).items()
        if source.department == department
    )


def department_sources(request: Request, department: str) -> frozenset[str]:
    """The evidence sources of a department (source definitions, read once per process)."""
    catalog_dir = request.app.state.settings.catalog_dir
    return _department_sources(str(catalog_dir) if catalog_dir else None, department)


def api_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    conn: Annotated[Connection, Depends(connection, scope="function")],
) -> ApiCaller:
    """Dependency of every API endpoint: the caller of a valid token within its rate."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise LoginRequired(
            "no API token",
            "send the header `Authorization: Bearer <token>`",
            Location(key="Authorization"),
        )
    token = active_token(conn, credentials.credentials)
    if token is None:
        raise LoginRequired(
            "the API token is not valid",
            "unknown or revoked; ask the administrator for a new one",
            Location(key="Authorization"),
        )
    call_log_of(request).identify(token.token_id, token.department)
    wait = _limiter(request).take(token.token_id)
    if wait > 0:
        parameters = api_parameters(request)
        raise TooManyRequests(
            "rate limit exceeded",
            f"at most {parameters.rate_per_second:g} calls a second per token (bursts of "
            f"{parameters.burst}); retry after {retry_after_header(wait)} s",
            Location(key="Authorization"),
            retry_after_seconds=int(retry_after_header(wait)),
        )
    principal = Principal(
        user_id=None,
        username=f"api:{token.department}/{token.name}",
        role=DEPARTMENT,
        programs=frozenset(),
        sources=department_sources(request, token.department),
        grids=frozenset(),
        department=token.department,
        lang="zh-CN",
    )
    request.state.principal = principal
    return ApiCaller(principal, token)


Caller = Annotated[ApiCaller, Depends(api_caller)]
# The request's transaction ends when the endpoint returns, before the answer is sent (scope
# "function"): the call log, written after the answer, must not wait on its locks (SQLite).
Conn = Annotated[Connection, Depends(connection, scope="function")]
