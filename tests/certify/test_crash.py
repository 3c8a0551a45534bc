"""The watermark is crash-safe: a pass killed mid-way (SIGKILL, via LIFESIGN_CERTIFY_FAULT)
leaves either nothing or everything; running it again applies each batch exactly once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, select

from lifesign.catalog import Catalog
from lifesign.certify.models import AppliedBatch, Decision
from lifesign.certify.passes import EVIDENCE_BATCH_KINDS, run_pass
from lifesign.store import make_engine
from lifesign.store.models import Batch
from tests.certify.conftest import City, CityHome
from tests.certify.test_replay import table_indexes

RUN = """
import datetime as dt, sys
from lifesign.catalog import load_catalog
from lifesign.certify.passes import run_pass
from lifesign.config import Settings
from lifesign.store import make_engine
from pathlib import Path
settings = Settings(home=Path(sys.argv[1]), database_url=sys.argv[2], catalog_dir=None)
run_pass(settings, make_engine(sys.argv[2]), load_catalog(None), dt.date.fromisoformat(sys.argv[3]))
"""


def run_killed(home: CityHome, as_of: dt.date, point: str) -> int:
    env = {**os.environ, "LIFESIGN_CERTIFY_FAULT": point}
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(home.settings.home), home.settings.database_url,
         as_of.isoformat()],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode


def ledger(home: CityHome) -> tuple[int, set[int], Counter[tuple[Any, ...]]]:
    engine = make_engine(home.settings.database_url)
    decisions_t = cast(Table, Decision.__table__)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(decisions_t)).scalar_one()
        applied = set(
            connection.execute(select(cast(Table, AppliedBatch.__table__).c.batch_id)).scalars()
        )
        keys = Counter(
            tuple(row)
            for row in connection.execute(
                select(decisions_t.c.person_id, decisions_t.c.enrollment_id, decisions_t.c.kind,
                       decisions_t.c.rule, decisions_t.c.effective_date)
            )
        )  # fmt: skip
    engine.dispose()
    return int(count), applied, keys


def committed_batches(home: CityHome) -> set[int]:
    engine = make_engine(home.settings.database_url)
    batches_t = cast(Table, Batch.__table__)
    with engine.connect() as connection:
        found = set(
            connection.execute(
                select(batches_t.c.batch_id).where(
                    batches_t.c.kind.in_(EVIDENCE_BATCH_KINDS), batches_t.c.status == "committed"
                )
            ).scalars()
        )
    engine.dispose()
    return found


def test_a_killed_pass_applies_every_batch_exactly_once(
    certify_city: City, catalog: Catalog, tmp_path: Path
) -> None:
    os.environ.setdefault("LIFESIGN_LAKE_FSYNC", "0")
    home = CityHome.create(certify_city, tmp_path / "home", catalog)
    first, second = dt.date(2024, 11, 30), dt.date(2024, 12, 31)
    home.ingest_until(first)

    # killed before the commit: nothing of the pass remains (its tables' indexes, dropped
    # for the first load and created again after it, are there as before)
    engine = make_engine(home.settings.database_url)
    indexes = table_indexes(engine)
    assert run_killed(home, first, "before_commit") == -9
    assert ledger(home)[:2] == (0, set())
    assert table_indexes(engine) == indexes
    engine.dispose()

    # killed after the commit: all of it remains
    assert run_killed(home, first, "after_commit") == -9
    count, applied, after_commit = ledger(home)
    assert count > 0
    assert applied == committed_batches(home)
    assert max(after_commit.values()) == 1

    # more files arrive; killed again before the commit; then a clean run
    home.ingest_until(second)
    assert run_killed(home, second, "before_commit") == -9
    assert ledger(home)[:2] == (count, applied)
    engine = make_engine(home.settings.database_url)
    report = run_pass(home.settings, engine, catalog, second, "incremental")
    # the new batches, plus those of November whose December records waited for this pass
    assert report.batches_applied >= len(committed_batches(home) - applied) > 0
    again = run_pass(home.settings, engine, catalog, second, "incremental")
    assert (again.batches_applied, again.decisions) == (0, 0)
    engine.dispose()
    final_count, final_applied, final_keys = ledger(home)
    assert final_applied == committed_batches(home)
    assert final_count == count + report.decisions
    assert max(final_keys.values()) == 1  # no decision twice
