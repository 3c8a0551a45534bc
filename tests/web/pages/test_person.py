"""Finding a person (/people?q=) and their page (/people/{id}): ID numbers normalised, names,
scope (a person out of scope is never listed and is a 404), masking, the audit log, English."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifesign.config import Settings, load_settings
from lifesign.ingest.person_store import person_store
from lifesign.registry.ids import mask_id_number, mask_phone
from lifesign.store import open_database
from lifesign.web.queries.lake import EvidenceRecord, person_evidence
from lifesign.web.queries.person import person_page
from tests.web.pages.people_support import (
    audit_of,
    engine_of,
    person_in_grids,
    person_of_programs,
    user_row,
)

Client = Callable[[str], Any]


def _fancy(id_number: str) -> str:
    """The way a clerk types it: full-width digits, a lowercase x, spaces."""
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in id_number[:6])
    return f" {full_width} {id_number[6:14]} {id_number[14:].lower()} "


def test_search_by_id_number_normalised(client: Client, web_city: Settings) -> None:
    person = person_of_programs(engine_of(web_city), frozenset(), inside=False)
    page = client("admin").get("/people", params={"q": _fancy(person.id_number)})
    assert page.status_code == 200
    assert f'href="/people/{person.person_id}"' in page.text
    assert page.text.count('href="/people/') == 1


def test_search_by_name_within_scope(client: Client, web_city: Settings) -> None:
    engine = engine_of(web_city)
    grids = frozenset(user_row(engine, "worker")["grids"])
    mine = person_in_grids(engine, grids, inside=True)
    other = person_in_grids(engine, grids, inside=False)
    worker = client("worker")
    assert f'href="/people/{mine.person_id}"' in worker.get("/people", params={"q": mine.name}).text
    found = worker.get("/people", params={"q": other.id_number})
    assert f'href="/people/{other.person_id}"' not in found.text
    assert "没有找到" in found.text
    # the administrator finds the other one
    assert (
        f'href="/people/{other.person_id}"'
        in client("admin").get("/people", params={"q": other.id_number}).text
    )


def test_a_search_is_audited_without_the_full_id_number(client: Client, web_city: Settings) -> None:
    engine = engine_of(web_city)
    person = person_of_programs(engine, frozenset(), inside=False)
    client("auditor").get("/people", params={"q": person.id_number})
    row = audit_of(engine, "search_people")[-1]
    assert row["username"] == "auditor"
    assert person.id_number not in (row["target"] or "")
    assert mask_id_number(person.id_number) in row["target"]


def test_the_person_page_masks_and_is_audited(client: Client, web_city: Settings) -> None:
    engine = engine_of(web_city)
    programs = frozenset(user_row(engine, "officer")["programs"])
    person = person_of_programs(engine, programs, inside=True)
    before = len(audit_of(engine, "view_person", person.person_id))
    page = client("officer").get(f"/people/{person.person_id}")
    assert page.status_code == 200
    assert person.id_number not in page.text
    assert mask_id_number(person.id_number) in page.text
    with open_database(web_city).connect() as conn:
        found = person_page(conn, web_city, person.person_id)
    assert found is not None
    if found.phone:
        assert found.phone not in page.text and mask_phone(found.phone) in page.text
    rows = audit_of(engine, "view_person", person.person_id)
    assert len(rows) == before + 1 and rows[-1]["username"] == "officer"
    # the administrator may see the ID number in full
    assert person.id_number in client("admin").get(f"/people/{person.person_id}").text


def test_the_person_page_shows_benefits_decisions_and_evidence(
    client: Client, web_city: Settings
) -> None:
    with open_database(web_city).connect() as conn:
        from sqlalchemy import select

        from lifesign.certify.models import Decision

        person_id = conn.execute(
            select(Decision.person_id)
            .where(Decision.kind == "certified", Decision.channel == "auto")
            .order_by(Decision.decision_id)
            .limit(1)
        ).scalar_one()
        found = person_page(conn, web_city, int(person_id))
    assert found is not None
    assert found.benefits and found.decisions and found.evidence
    times = [e.event_time for e in found.evidence]
    assert times == sorted(times, reverse=True)
    page = client("auditor").get(f"/people/{person_id}")
    assert page.status_code == 200
    assert "出现一条强认证数据" in page.text  # the rule, explained in words
    assert f'id="decision-{found.decisions[0].decision_id}"' in page.text
    english = client("auditor").get(f"/people/{person_id}?lang=en")
    assert "Evidence timeline" in english.text and "Decisions and why" in english.text
    assert "strong evidence record" in english.text


def test_out_of_scope_is_not_found(client: Client, web_city: Settings) -> None:
    engine = engine_of(web_city)
    grids = frozenset(user_row(engine, "worker")["grids"])
    other = person_in_grids(engine, grids, inside=False)
    mine = person_in_grids(engine, grids, inside=True)
    worker = client("worker")
    assert worker.get(f"/people/{other.person_id}").status_code == 404
    assert worker.get(f"/people/{mine.person_id}").status_code == 200
    programs = frozenset(user_row(engine, "officer")["programs"])
    outside = person_of_programs(engine, programs, inside=False)
    assert client("officer").get(f"/people/{outside.person_id}").status_code == 404
    assert client("admin").get("/people/999999999").status_code == 404


@pytest.mark.parametrize("path", ["/people", "/people/1"])
def test_a_data_manager_sees_no_person(client: Client, path: str) -> None:
    assert client("datamgr").get(path).status_code == 403


def test_the_evidence_timeline_frame(client: Client, web_city: Settings) -> None:
    engine = engine_of(web_city)
    grids = frozenset(user_row(engine, "worker")["grids"])
    mine = person_in_grids(engine, grids, inside=True)
    other = person_in_grids(engine, grids, inside=False)
    with open_database(web_city).connect() as conn:
        found = person_page(conn, web_city, mine.person_id)
    assert found is not None
    worker = client("worker")
    page = worker.get(f"/people/{mine.person_id}")
    assert f'src="/people/{mine.person_id}/evidence"' in page.text  # the page never waits
    before = len(audit_of(engine, "view_person_evidence", mine.person_id))
    frame = worker.get(f"/people/{mine.person_id}/evidence")
    assert frame.status_code == 200
    assert frame.text.count("<li class=") == len(found.evidence)
    for record in found.evidence[:3]:
        assert record.event_time.strftime("%Y-%m-%d %H:%M") in frame.text
    assert len(audit_of(engine, "view_person_evidence", mine.person_id)) == before + 1
    assert worker.get(f"/people/{other.person_id}/evidence").status_code == 404
    assert client("datamgr").get(f"/people/{mine.person_id}/evidence").status_code == 403


def test_a_malformed_id_number_finds_nobody(client: Client) -> None:
    page = client("admin").get("/people", params={"q": "34160219470315002X"})
    assert page.status_code == 200
    assert "没有找到" in page.text


def test_only_the_evidence_frame_may_be_framed_and_only_here(
    client: Client, web_city: Settings
) -> None:
    engine = engine_of(web_city)
    person = person_of_programs(engine, frozenset(), inside=False)
    admin = client("admin")
    page = admin.get(f"/people/{person.person_id}")
    assert page.headers["x-frame-options"] == "DENY"
    frame = admin.get(f"/people/{person.person_id}/evidence")
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert "script-src 'none'" in frame.headers["content-security-policy"]


def _whole_lake(lake_dir: Path, person_id: int) -> list[tuple[Any, ...]]:
    """The person's records read from every lake file (what the store must give back)."""
    import duckdb

    glob = str(lake_dir / "evidence" / "**" / "*.parquet")
    return (
        duckdb.connect()
        .execute(
            "SELECT event_time, evidence_type, source, record_id, batch_id FROM read_parquet(?, "
            "hive_partitioning = false, union_by_name = true) WHERE person_id = ? "
            "ORDER BY event_time DESC, record_id",
            [glob, person_id],
        )
        .fetchall()
    )


def _as_rows(records: list[EvidenceRecord]) -> list[tuple[Any, ...]]:
    return [(r.event_time, r.evidence_type, r.source, r.record_id, r.batch_id) for r in records]


def test_the_person_store_folds_new_batches_and_agrees_with_the_lake(
    web_city: Settings, tmp_path: Path
) -> None:
    """The timeline is read from the person-sorted store; a batch published after it was built
    is read from its lake file until folded in, and is folded in by the next read — the records
    are the whole lake's either way, also while another process holds the store's lock."""
    import fcntl
    import shutil

    home = tmp_path / "home"
    shutil.copytree(web_city.lake_dir, home / "lake", ignore=shutil.ignore_patterns("_*"))
    settings = load_settings(home=home, database_url=web_city.database_url)
    files = sorted((settings.lake_dir / "evidence").rglob("batch-*.parquet"))
    last = max(int(p.stem.removeprefix("batch-")) for p in files)
    held_back = [p for p in files if p.stem == f"batch-{last}"]
    aside = tmp_path / "aside"
    for path in held_back:
        (aside / path.relative_to(settings.lake_dir)).parent.mkdir(parents=True, exist_ok=True)
        path.rename(aside / path.relative_to(settings.lake_dir))
    import duckdb

    people = [
        int(row[0])
        for row in duckdb.connect()
        .execute(
            "SELECT DISTINCT person_id FROM read_parquet(?) WHERE person_id IS NOT NULL "
            "ORDER BY 1 LIMIT 5",
            [[str(aside / p.relative_to(settings.lake_dir)) for p in held_back]],
        )
        .fetchall()
    ]
    assert people  # the last batch has records of recipients
    for person_id in people:
        assert _as_rows(person_evidence(settings, person_id, 10_000)) == _whole_lake(
            settings.lake_dir, person_id
        )
    store = person_store(settings.lake_dir)
    assert last not in store.manifest().batches and store.manifest().parts
    for path in held_back:  # the batch is published
        (aside / path.relative_to(settings.lake_dir)).rename(path)
    with (store.root / "update.lock").open("ab") as lock:  # another process is updating
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        for person_id in people:
            records = _as_rows(person_evidence(settings, person_id, 10_000))
            assert records == _whole_lake(settings.lake_dir, person_id)
            assert any(r[4] == last for r in records)
        assert last not in store.manifest().batches  # read from the lake file meanwhile
    for person_id in people:
        assert _as_rows(person_evidence(settings, person_id, 10_000)) == _whole_lake(
            settings.lake_dir, person_id
        )
    assert last in store.manifest().batches  # folded in by the read
    newest = person_evidence(settings, people[0], 2)
    assert _as_rows(newest) == _whole_lake(settings.lake_dir, people[0])[:2]


def test_before_the_pass_the_page_shows_the_registry_s_last_certification(
    engine: Any, small_registry: dict[str, int], tmp_path: Path
) -> None:
    """A person the pass has not seeded yet has no state row: the page shows the last
    certification the city's former system recorded (as the review queue and the status API
    do), not 'never certified'."""
    import datetime as dt

    from sqlalchemy import update

    from lifesign.store.models import Person

    a1 = small_registry["A1"]
    with engine.begin() as conn:
        conn.execute(
            update(Person)
            .where(Person.person_id == a1)
            .values(last_certified_on=dt.date(2026, 3, 2), last_certification_channel="counter")
        )
    with engine.connect() as conn:
        page = person_page(conn, load_settings(home=tmp_path), a1, timeline=False)
    assert page is not None
    assert page.last_certified_on == dt.date(2026, 3, 2)
    assert page.channel == "counter"
