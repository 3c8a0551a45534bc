"""Catalogs as data: departments, evidence types, programs (with effective-dated amounts and
reminder schedules) and the region tree, loaded from YAML files and validated on load.

    from lifesign.catalog import load_catalog
    cat = load_catalog()            # the packaged catalog (or a city's folder)
    cat.programs["dibao"].monthly_amount(date(2025, 3, 1))
"""

from lifesign.catalog import model
from lifesign.catalog.loader import PACKAGED_DIR, load_catalog
from lifesign.catalog.model import *  # noqa: F403 — the names of model.__all__

__all__ = ["PACKAGED_DIR", "load_catalog"]
__all__ += model.__all__
