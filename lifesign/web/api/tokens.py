"""Department API tokens: created once (shown once), stored as SHA-256, revoked by id.

A token is `lsk_` + URL-safe random text. Every token of a department may read statuses,
changes and statistics and push evidence to its department's sources; `scopes` add the rights
of the two apps that act for people: `self_service` (the face-recognition app) and `visits`
(the civil-affairs community system: tasks and visit outcomes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row, Table, insert, select, update

from lifesign.catalog import Catalog
from lifesign.errors import LifesignError, Location
from lifesign.web.api.models import ApiToken
from lifesign.web.api.parameters import ApiParameters, load_api_parameters

TOKEN_PREFIX = "lsk_"
SCOPES = ("self_service", "visits")

tokens_t = cast(Table, ApiToken.__table__)


class TokenError(LifesignError):
    """A token cannot be created or revoked as asked."""


@dataclass(frozen=True)
class TokenInfo:
    """What is known of a token without its secret."""

    token_id: int
    department: str
    name: str
    prefix: str
    scopes: frozenset[str]
    created_by: str | None
    created_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    engine: Engine,
    catalog: Catalog,
    *,
    department: str,
    name: str,
    scopes: frozenset[str] = frozenset(),
    created_by: str | None = None,
    parameters: ApiParameters | None = None,
) -> tuple[TokenInfo, str]:
    """A new token for `department`: its description and the token itself, which is not
    stored anywhere and cannot be shown again."""
    parameters = parameters or load_api_parameters()
    if department not in catalog.departments:
        raise TokenError(
            f"unknown department {department!r}",
            "a token belongs to one of the catalog's departments: "
            + ", ".join(sorted(catalog.departments)),
            Location(field="department"),
        )
    name = name.strip()
    if not name:
        raise TokenError("a token needs a name", "say which system uses it", Location(field="name"))
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise TokenError(
            f"unknown scope {unknown[0]!r}",
            "scopes are " + ", ".join(SCOPES),
            Location(field="scope"),
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(parameters.token_bytes)
    prefix = token[: parameters.token_prefix_chars]
    with engine.begin() as connection:
        clash = connection.execute(
            select(tokens_t.c.token_id).where(
                tokens_t.c.department == department,
                tokens_t.c.name == name,
                tokens_t.c.revoked_at.is_(None),
            )
        ).first()
        if clash is not None:
            raise TokenError(
                f"department {department!r} already has an active token named {name!r}",
                f"revoke token {clash.token_id} first, or choose another name",
                Location(field="name"),
            )
        token_id = connection.execute(
            insert(tokens_t)
            .values(
                department=department,
                name=name,
                token_sha256=token_digest(token),
                prefix=prefix,
                scopes=sorted(scopes),
                created_by=created_by,
            )
            .returning(tokens_t.c.token_id)
        ).scalar_one()
        info = _info_by_id(connection, int(token_id))
    assert info is not None
    return info, token


def list_tokens(engine: Engine, *, department: str | None = None) -> list[TokenInfo]:
    """Every token (revoked ones too), oldest first."""
    query = select(tokens_t).order_by(tokens_t.c.token_id)
    if department is not None:
        query = query.where(tokens_t.c.department == department)
    with engine.connect() as connection:
        return [_info(row) for row in connection.execute(query)]


def revoke_token(engine: Engine, token_id: int) -> TokenInfo:
    """Revoke a token at once (its next call gets 401); revoking twice is harmless."""
    with engine.begin() as connection:
        info = _info_by_id(connection, token_id)
        if info is None:
            raise TokenError(
                f"there is no API token {token_id}",
                "see `lifesign api token list`",
                Location(field="token_id"),
            )
        if info.revoked_at is None:
            connection.execute(
                update(tokens_t)
                .where(tokens_t.c.token_id == token_id)
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
        info = _info_by_id(connection, token_id)
    assert info is not None
    return info


def active_token(connection: Connection, token: str) -> TokenInfo | None:
    """The active token with this secret, or None (unknown or revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = connection.execute(
        select(tokens_t).where(tokens_t.c.token_sha256 == token_digest(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    return _info(row)


def _info_by_id(connection: Connection, token_id: int) -> TokenInfo | None:
    row = connection.execute(select(tokens_t).where(tokens_t.c.token_id == token_id)).first()
    return None if row is None else _info(row)


def _info(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        token_id=int(row.token_id),
        department=str(row.department),
        name=str(row.name),
        prefix=str(row.prefix),
        scopes=frozenset(row.scopes or ()),
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
