"""The demo accounts: one per role, scopes that show data, created again without harm."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from sqlalchemy import func, select

from lifesign.catalog import load_catalog
from lifesign.certify.models import PersonStateRow
from lifesign.config import Settings
from lifesign.store import open_database
from lifesign.store.models import Enrollment, Person
from lifesign.web.demo_accounts import DEMO_LOGINS, DUE_WITHIN_DAYS, create_demo_accounts
from lifesign.web.models import User

from .conftest import login_client


def test_one_account_per_role_with_scopes_that_show_data(web_app: FastAPI) -> None:
    engine = web_app.state.engine
    with engine.connect() as conn:
        accounts = {
            r.username: r for r in conn.execute(select(User)).all() if r.username in
            {d.username for d in DEMO_LOGINS}
        }  # fmt: skip
        assert {a.role for a in accounts.values()} == {d.role for d in DEMO_LOGINS}
        worker, officer, manager = accounts["worker"], accounts["officer"], accounts["datamgr"]
        assert len(worker.grids) == 2 and len(officer.programs) == 2
        assert manager.department and manager.sources
        as_of = conn.execute(select(func.max(PersonStateRow.updated_on))).scalar()
        horizon = (as_of or dt.date.today()) + dt.timedelta(days=DUE_WITHIN_DAYS)
        for grid in worker.grids:
            due = conn.execute(
                select(func.count())
                .select_from(Person)
                .join(PersonStateRow, PersonStateRow.person_id == Person.person_id)
                .where(Person.grid_code == grid, PersonStateRow.valid_until <= horizon)
            ).scalar()
            assert due, f"grid {grid} has nobody due"
        for program in officer.programs:
            assert conn.execute(
                select(func.count()).where(Enrollment.program == program)
            ).scalar()  # fmt: skip
    # and the README's passwords log in
    for login in DEMO_LOGINS:
        assert login_client(web_app, login).get("/account").status_code == 200


def test_creating_them_again_keeps_one_of_each(web_home: Settings) -> None:
    engine = open_database(web_home)
    try:
        with engine.connect() as conn:
            before = list(conn.execute(select(User.username)).scalars())
        create_demo_accounts(engine, load_catalog(None))
        with engine.connect() as conn:
            after = list(conn.execute(select(User.username)).scalars())
    finally:
        engine.dispose()
    assert sorted(after) == sorted(before)
    assert {d.username for d in DEMO_LOGINS} <= set(after)
