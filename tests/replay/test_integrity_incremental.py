"""The integrity scan's incremental reads agree with reading the whole lake, on a replayed city.

After a replay the certification pass has folded every batch into its per-person summary: the
scan takes its facts from there (reading no lake file) and the flagged persons' weak records
from its weak store. Both must give exactly what the whole lake gives.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from lifesign.catalog import load_catalog
from lifesign.config import load_settings
from lifesign.integrity.builtin_rules import BUILTIN_RULES
from lifesign.integrity.context import build_context, context_over
from lifesign.integrity.rules import CaseDraft
from lifesign.store import open_database

if TYPE_CHECKING:
    from .conftest import ReplayedHome


def _drafts(drafts: list[CaseDraft]) -> list[tuple[object, ...]]:
    return sorted(
        (d.rule, d.person_id, d.enrollment_id, d.amount, repr(d.details), repr(d.evidence))
        for d in drafts
    )


def test_facts_and_findings_agree_with_the_whole_lake(
    replayed: ReplayedHome, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(replayed.settings.home, home)
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'lifesign.db'}")
    engine = open_database(settings)
    catalog = load_catalog(None)
    as_of = replayed.last

    # the last scan was on the 1st: the store folds in the batches of the days since, once
    catching_up = build_context(settings, engine, catalog, as_of)
    assert catching_up.lake_files_read > 0
    incremental = build_context(settings, engine, catalog, as_of)
    assert incremental.lake_files_read == 0  # every batch is in the summary and the store
    assert incremental.weak_files

    whole = build_context(settings, engine, catalog, as_of)
    # the same connection, facts and weak records taken from its `evidence` view: the lake
    whole_lake = context_over(whole.duck, engine, catalog, as_of)
    facts = "SELECT * FROM evidence_facts ORDER BY person_id"
    assert incremental.duck.execute(facts).fetchall() == whole_lake.duck.execute(facts).fetchall()

    found = [d for rule in BUILTIN_RULES for d in rule.detect(incremental)]
    expected = [d for rule in BUILTIN_RULES for d in rule.detect(whole_lake)]
    assert _drafts(found) == _drafts(expected)
    assert any(d.rule == "payments_without_strong_evidence" for d in found)

    # a scan of an earlier day than the pass's: the summary knows too much, so the facts come
    # from the whole lake
    earlier = build_context(settings, engine, catalog, as_of - dt.timedelta(days=5))
    assert earlier.lake_files_read > 0
