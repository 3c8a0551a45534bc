"""State tables of lifesign.notify (declared on the shared Base; created by its migration)."""

from __future__ import annotations

from lifesign.store.models import Base

__all__ = ["Base"]
