"""State tables of lifesign.web.api (declared on the shared Base; created by migration 0009).

- `api_tokens`: one bearer token of a department (or of one of its apps). Only the SHA-256 of
  the token is kept: a leaked database does not leak usable tokens. `prefix` (the token's
  first characters) lets an administrator tell tokens apart in `lifesign api token list`.
- `api_calls`: every call of the API — who (token, department), which route (the path
  *template*: an ID number in a path never reaches the log), the HTTP status, how many items
  it carried, how long it took.
- `status_documents` (migration 0011): the batch status's read model — per person with an ID
  number, what of their `BatchPerson` answer changes rarely (registry values, benefits), kept
  in step by database triggers on people and enrollments; the state is read from person_state
  (see lifesign.web.api.statusdocs).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from lifesign.store.models import Base, BigId

__all__ = ["ApiCall", "ApiToken", "Base", "StatusDocument"]


def _now() -> Any:
    return func.now()


class ApiToken(Base):
    """A department's API token (hashed); `scopes` are the extra rights beyond reading."""

    __tablename__ = "api_tokens"

    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    department: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiCall(Base):
    """One call of the API (also the refused ones: a 401 has no token)."""

    __tablename__ = "api_calls"

    call_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.token_id"))
    department: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(256))  # the route template, never the real path
    status: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float] = mapped_column(Float)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index(None, "token_id", "at"), Index(None, "at"))


class StatusDocument(Base):
    """What of a person's batch status answer changes rarely: their person id, the registry's
    own certification (people's, the answer's values where person_state has none) and
    `document_enrollments`, their benefits as the answer's JSON text, closing the document.

    The rest — status, `certified` (it depends on the day asked about), valid_until, the last
    certification — is person_state's, read at request time (lifesign.web.api.statusdocs): the
    daily pass writes ~45 k certifications a Bozhou day, and a read model following each cost
    the day +4.6 s CPU (docs/decisions.md, 19). Keyed by the ID number and without a rowid on
    SQLite, so a batch finds a number with one probe of one B-tree. Written only by the
    database's triggers on people and enrollments (migration 0011): no write path can forget
    it.
    """

    __tablename__ = "status_documents"

    id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    # no foreign key: the triggers delete a person's document with their people row
    person_id: Mapped[int] = mapped_column(BigId, unique=True)
    last_certified_on: Mapped[dt.date | None] = mapped_column(Date)
    last_certification_channel: Mapped[str | None] = mapped_column(String(16))
    document_enrollments: Mapped[str] = mapped_column(Text)

    __table_args__ = ({"sqlite_with_rowid": False},)
