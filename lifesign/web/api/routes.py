"""The REST API's routes (/api/v1): one module per concern, each its own router."""

from __future__ import annotations

from fastapi import APIRouter

from lifesign.web.api import changes, evidence, manual, statistics, status, tasks
from lifesign.web.api.calls import API_PREFIX

router = APIRouter(prefix=API_PREFIX)
for module in (status, changes, evidence, manual, tasks, statistics):
    router.include_router(module.router)
