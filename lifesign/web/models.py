"""State tables of lifesign.web (declared on the shared Base; created by migration 0008)."""

from __future__ import annotations

from lifesign.store.models import Base, BigId  # noqa: F401
