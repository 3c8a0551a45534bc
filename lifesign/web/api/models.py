"""State tables of lifesign.web.api (declared on the shared Base; created by migration 0009)."""

from __future__ import annotations

from lifesign.store.models import Base, BigId  # noqa: F401
