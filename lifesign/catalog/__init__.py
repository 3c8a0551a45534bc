"""Catalogs as data: departments, evidence types, programs (with effective-dated amounts and
reminder schedules) and the region tree, loaded from YAML files and validated on load.

    from lifesign.catalog import load_catalog
    cat = load_catalog()            # the packaged catalog (or a city's folder)
    cat.programs["dibao"].monthly_amount(date(2025, 3, 1))
"""

from lifesign.catalog.loader import PACKAGED_DIR, load_catalog
from lifesign.catalog.model import (
    AmountRule,
    Catalog,
    CatalogError,
    CatalogProblem,
    Department,
    EvidenceType,
    Level,
    Program,
    Region,
    RegionTree,
    Reminder,
    ReminderAction,
    Status,
    StatusAction,
    Strength,
)

__all__ = [
    "PACKAGED_DIR",
    "AmountRule",
    "Catalog",
    "CatalogError",
    "CatalogProblem",
    "Department",
    "EvidenceType",
    "Level",
    "Program",
    "Region",
    "RegionTree",
    "Reminder",
    "ReminderAction",
    "Status",
    "StatusAction",
    "Strength",
    "load_catalog",
]
