"""Who may do what: THE table of roles and actions, and the scopes of each role.

Every page and API endpoint calls `require(principal, action)` and narrows its queries with the
scopes below. A person outside the principal's scope is answered with 404, not 403, so that a
worker cannot learn that an ID number belongs to a recipient of another grid.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, exists, false, select

from lifesign.store.models import Enrollment, Person
from lifesign.web.auth import Principal
from lifesign.web.errors import Forbidden, NotFound

ADMIN = "admin"
PROGRAM_OFFICER = "program_officer"
DATA_MANAGER = "data_manager"
COMMUNITY_WORKER = "community_worker"
AUDITOR = "auditor"
DEPARTMENT = "department"  # an API token
USER_ROLES = (ADMIN, PROGRAM_OFFICER, DATA_MANAGER, COMMUNITY_WORKER, AUDITOR)
ROLES = (*USER_ROLES, DEPARTMENT)


def _roles(*roles: str) -> frozenset[str]:
    return frozenset({ADMIN, *roles})  # the administrator may do everything


# action -> roles allowed. Read top to bottom: the pages, the officers' work, the API.
ACTIONS: dict[str, frozenset[str]] = {
    "view_overview": _roles(PROGRAM_OFFICER, DATA_MANAGER, AUDITOR),
    "view_sources": _roles(PROGRAM_OFFICER, DATA_MANAGER, AUDITOR),
    "view_worklist": _roles(COMMUNITY_WORKER),
    "record_visit": _roles(COMMUNITY_WORKER),
    "certify_counter": _roles(PROGRAM_OFFICER),
    "search_people": _roles(PROGRAM_OFFICER, COMMUNITY_WORKER, AUDITOR),
    "view_person": _roles(PROGRAM_OFFICER, COMMUNITY_WORKER, AUDITOR),
    "view_full_id": _roles(),
    "view_reviews": _roles(PROGRAM_OFFICER, AUDITOR),
    "resolve_review": _roles(PROGRAM_OFFICER),
    "view_cases": _roles(PROGRAM_OFFICER, AUDITOR),
    "close_case": _roles(PROGRAM_OFFICER),
    "view_quarantine": _roles(DATA_MANAGER, AUDITOR),
    "manage_quarantine": _roles(DATA_MANAGER),
    "view_payments": _roles(PROGRAM_OFFICER, AUDITOR),
    "export_payments": _roles(PROGRAM_OFFICER),
    # the paying department needs the ID numbers to pay (of its own programs only)
    "export_full_id": _roles(PROGRAM_OFFICER),
    "manage_users": _roles(),
    "view_audit": _roles(AUDITOR),
    # the API, for department tokens (W2 narrows evidence push / self-service / visits / tasks
    # to the tokens entitled to them)
    "api_status": _roles(DEPARTMENT),
    "api_changes": _roles(DEPARTMENT),
    "api_evidence_push": _roles(DEPARTMENT),
    "api_self_service": _roles(DEPARTMENT),
    "api_visits": _roles(DEPARTMENT),
    "api_tasks": _roles(DEPARTMENT),
    "api_statistics": _roles(DEPARTMENT),
}


def allowed(principal: Principal, action: str) -> bool:
    """Whether the principal's role may do `action` (an unknown action is a programming error)."""
    roles = ACTIONS.get(action)
    if roles is None:
        raise KeyError(f"unknown action {action!r}: add it to lifesign.web.permissions.ACTIONS")
    return principal.role in roles


def require(principal: Principal, action: str) -> None:
    """Raise Forbidden (403) unless the principal may do `action`."""
    if not allowed(principal, action):
        raise Forbidden(
            "not allowed", f"the role {principal.role} may not {action.replace('_', ' ')}"
        )


def programs_scope(principal: Principal) -> frozenset[str] | None:
    """The programs whose data the principal sees (None: all; empty: none)."""
    if principal.role == PROGRAM_OFFICER:
        return principal.programs
    if principal.role in (DATA_MANAGER,):
        return frozenset()
    return None


def sources_scope(principal: Principal) -> frozenset[str] | None:
    """The evidence sources whose data the principal sees (None: all)."""
    if principal.role == DATA_MANAGER:
        return principal.sources
    return None


def grids_scope(principal: Principal) -> frozenset[str] | None:
    """The grids whose people the principal sees (None: all)."""
    if principal.role == COMMUNITY_WORKER:
        return principal.grids
    return None


def people_scope(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause on the `people` table for the persons the principal may read (None: all).

    Community worker: people of their grids. Program officer: people with an enrollment in one
    of their programs. Administrator, auditor, department token: everyone. Data manager: no one.
    """
    if principal.role == COMMUNITY_WORKER:
        if not principal.grids:
            return false()
        return Person.grid_code.in_(sorted(principal.grids))
    if principal.role == PROGRAM_OFFICER:
        if not principal.programs:
            return false()
        return exists(
            select(Enrollment.enrollment_id).where(
                Enrollment.person_id == Person.person_id,
                Enrollment.program.in_(sorted(principal.programs)),
            )
        )
    if principal.role in (ADMIN, AUDITOR, DEPARTMENT):
        return None
    return false()


def person_visible(connection: Connection, principal: Principal, person_id: int) -> bool:
    query = select(Person.person_id).where(Person.person_id == person_id)
    scope = people_scope(principal)
    if scope is not None:
        query = query.where(scope)
    return connection.execute(query).first() is not None


def require_person(connection: Connection, principal: Principal, person_id: int) -> None:
    """Raise NotFound (404) unless the person exists and is in the principal's scope."""
    if not person_visible(connection, principal, person_id):
        raise NotFound("no such person", f"person {person_id} is not known, or not yours to see")
