"""The quarantine browser (/quarantine, /quarantine/{id}): a data manager sees the entries of
their sources only, masked; dismisses with a reason, checks one again, exports the open
entries for correction and re-ingests the corrected file — through lifesign.ingest.quarantine —
with CSRF and audit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from lifesign.catalog import load_catalog
from lifesign.ingest.sources import load_sources
from lifesign.integrity.models import Export
from lifesign.store.models import Batch, Quarantine
from lifesign.web.auth import Principal
from lifesign.web.queries.quarantine import (
    QuarantineFilter,
    quarantine_counts,
    quarantine_entry,
    quarantine_list,
)
from tests.web.pages.work_support import audit_rows, engine_of, principal_of

Client = Callable[[str], Any]


def _entries(engine: Engine, **where: Any) -> list[Any]:
    query = select(Quarantine).order_by(Quarantine.quarantine_id)
    for column, value in where.items():
        query = query.where(getattr(Quarantine, column) == value)
    with engine.connect() as conn:
        return list(conn.execute(query).mappings())


def _foreign_entry(engine: Engine, own: frozenset[str]) -> int:
    """An entry of a source the data manager does not manage (made if the city has none)."""
    with engine.begin() as conn:
        found = conn.execute(
            select(Quarantine.quarantine_id).where(Quarantine.source.not_in(sorted(own))).limit(1)
        ).scalar()
        if found is not None:
            return int(found)
        batch_id = conn.execute(select(Batch.batch_id).limit(1)).scalar_one()
        return int(
            conn.execute(
                insert(Quarantine)
                .values(batch_id=batch_id, source="test_other_source", reason="missing_field",
                        field="event_time", raw_record='{"a": "1"}', status="open")
                .returning(Quarantine.quarantine_id)
            ).scalar_one()
        )  # fmt: skip


@pytest.fixture
def quarantine(web_home: Any) -> dict[str, Any]:
    engine = engine_of(web_home)
    manager = principal_of(engine, "datamgr")
    own = [e for e in _entries(engine, status="open") if e["source"] in manager.sources]
    assert own, f"the web city has no quarantined record of {sorted(manager.sources)}"
    return {
        "engine": engine,
        "settings": web_home,
        "sources": manager.sources,
        "own": own,
        "foreign": _foreign_entry(engine, manager.sources),
    }


def test_the_data_manager_sees_the_entries_of_their_sources_only(
    quarantine: dict[str, Any], home_client: Client
) -> None:
    manager = home_client("datamgr")
    listing = manager.get("/quarantine?status=all")
    assert listing.status_code == 200
    for entry in quarantine["own"]:
        assert f'href="/quarantine/{entry["quarantine_id"]}"' in listing.text
    assert f'href="/quarantine/{quarantine["foreign"]}"' not in listing.text
    assert manager.get(f"/quarantine/{quarantine['foreign']}").status_code == 404
    auditor = home_client("auditor")
    assert f'href="/quarantine/{quarantine["foreign"]}"' in auditor.get("/quarantine").text


def test_an_entry_is_shown_masked_and_audited(
    quarantine: dict[str, Any], home_client: Client
) -> None:
    sources = load_sources(None, load_catalog(None))
    manager = home_client("datamgr")
    checked = 0
    for entry in quarantine["own"]:
        page = manager.get(f"/quarantine/{entry['quarantine_id']}")
        assert page.status_code == 200
        assert entry["reason"] in page.text
        record = json.loads(entry["raw_record"] or "{}")
        definition = sources[entry["source"]]
        for canonical in ("id_number", "phone", "name"):
            column = definition.columns.get(canonical)
            value = record.get(column) if column else None
            if isinstance(value, str) and len(value) >= 6:
                assert value not in page.text, f"{canonical} of entry {entry['quarantine_id']}"
                checked += 1
    assert checked, "no entry with a personal value was checked"
    viewed = audit_rows(quarantine["engine"], "view_quarantine_entry")
    assert len(viewed) == len(quarantine["own"])


@pytest.mark.parametrize("role", ["officer", "worker"])
def test_roles_without_quarantine_are_refused(client: Client, role: str) -> None:
    assert client(role).get("/quarantine").status_code == 403
    assert client(role).get("/quarantine/1").status_code == 403


def test_dismiss_needs_a_reason_a_token_and_the_role(
    quarantine: dict[str, Any], home_client: Client
) -> None:
    engine = quarantine["engine"]
    entry_id = quarantine["own"][0]["quarantine_id"]
    url = f"/quarantine/{entry_id}/dismiss"
    auditor = home_client("auditor")
    assert 'action="/quarantine/' not in auditor.get(f"/quarantine/{entry_id}").text
    assert auditor.post_form(url, {"reason": "x"}).status_code == 403
    manager = home_client("datamgr")
    assert manager.post(url, data={"reason": "x"}, follow_redirects=False).status_code == 403
    assert manager.post_form(url, {"reason": " "}).status_code == 400
    assert _entries(engine, quarantine_id=entry_id)[0]["status"] == "open"
    done = manager.post_form(url, {"reason": "部门确认该记录重复报送"})
    assert done.status_code == 303
    row = _entries(engine, quarantine_id=entry_id)[0]
    assert (row["status"], row["note"]) == ("dismissed", "部门确认该记录重复报送")
    audited = audit_rows(engine, "dismiss_quarantine")
    assert [(r["target"], r["reason"]) for r in audited] == [
        (f"quarantine:{entry_id}", "部门确认该记录重复报送")
    ]
    again = manager.post_form(url, {"reason": "twice"})
    assert again.status_code == 400  # only open entries can be dismissed


def test_check_one_entry_again(quarantine: dict[str, Any], home_client: Client) -> None:
    engine = quarantine["engine"]
    entry = quarantine["own"][0]
    answer = home_client("datamgr").post_form(f"/quarantine/{entry['quarantine_id']}/retry")
    assert answer.status_code == 303, answer.text[:400]
    with engine.connect() as conn:
        retries = conn.execute(select(Batch).where(Batch.kind == "retry")).mappings().all()
    assert len(retries) == 1 and retries[0]["source"] == entry["source"]
    after = _entries(engine, quarantine_id=entry["quarantine_id"])[0]
    flash = answer.headers["location"].split("flash=")[1]
    if after["status"] == "resolved":
        assert flash == "resolved" and after["resolved_batch_id"] == retries[0]["batch_id"]
    else:
        assert flash == "still_open" and after["status"] == "open"
    audited = audit_rows(engine, "retry_quarantine")[-1]
    assert audited["details"]["source"] == entry["source"]
    assert audited["details"]["resolved"] + audited["details"]["still_open"] == 1
    again = home_client("datamgr").post_form(f"/quarantine/{entry['quarantine_id']}/retry")
    if after["status"] == "resolved":
        assert again.status_code == 400  # only open entries are checked again
    else:  # the same content is ingested once: nothing is done twice
        assert again.headers["location"].endswith("flash=unchanged")
        with engine.connect() as conn:
            assert len(conn.execute(select(Batch).where(Batch.kind == "retry")).all()) == 1


def test_export_for_correction_and_re_ingest_the_file(
    quarantine: dict[str, Any], home_client: Client
) -> None:
    engine = quarantine["engine"]
    source = quarantine["own"][0]["source"]
    open_of_source = [e for e in quarantine["own"] if e["source"] == source and e["raw_record"]]
    manager = home_client("datamgr")
    exported = manager.post_form("/quarantine/export", {"source": source})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, as the CLI writes
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert sorted(int(r["quarantine_id"]) for r in rows) == sorted(
        e["quarantine_id"] for e in open_of_source
    )
    with engine.connect() as conn:
        recorded = conn.execute(select(Export)).mappings().all()
    assert [(r["kind"], r["full_id"], r["rows"], r["exported_by"]) for r in recorded] == [
        ("quarantine", True, len(rows), "datamgr")
    ]
    assert audit_rows(engine, "export_quarantine")[-1]["details"]["rows"] == len(rows)
    uploaded = manager.post(
        "/quarantine/retry",
        data={"csrf_token": manager.csrf_token, "source": source},
        files={"file": (f"quarantine-{source}.csv", exported.content, "text/csv")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303, uploaded.text[:400]
    assert "flash=retried" in uploaded.headers["location"]
    with engine.connect() as conn:
        retry = conn.execute(select(Batch).where(Batch.kind == "retry")).mappings().one()
    assert retry["source"] == source
    details = audit_rows(engine, "retry_quarantine_file")[-1]["details"]
    assert details["resolved"] + details["still_open"] + details["skipped"] == len(rows)
    page = manager.get(uploaded.headers["location"])
    assert 'role="status"' in page.text


def test_a_data_manager_cannot_export_another_source(
    quarantine: dict[str, Any], home_client: Client
) -> None:
    others = sorted(set(load_sources(None, load_catalog(None))) - set(quarantine["sources"]))
    answer = home_client("datamgr").post_form("/quarantine/export", {"source": others[0]})
    assert answer.status_code == 403
    with quarantine["engine"].connect() as conn:
        assert conn.execute(select(Export)).first() is None


def test_filters(client: Client, web_city: Any) -> None:
    engine = engine_of(web_city)
    entries = _entries(engine)
    reason, batch = entries[0]["reason"], entries[0]["batch_id"]
    auditor = client("auditor")
    by_reason = auditor.get(f"/quarantine?status=all&reason={reason}")
    for entry in entries:
        link = f'href="/quarantine/{entry["quarantine_id"]}"'
        assert (link in by_reason.text) == (entry["reason"] == reason)
    by_batch = auditor.get(f"/quarantine?status=all&batch={batch}")
    for entry in entries:
        link = f'href="/quarantine/{entry["quarantine_id"]}"'
        assert (link in by_batch.text) == (entry["batch_id"] == batch)
    future = auditor.get("/quarantine?status=all&since=2099-01-01")
    assert "/quarantine/" + str(entries[0]["quarantine_id"]) + '"' not in future.text


# --- the queries on both databases --------------------------------------------------------


def _principal(role: str, sources: tuple[str, ...] = ()) -> Principal:
    return Principal(1, role, role, frozenset(), frozenset(sources), frozenset(), None, "zh-CN")


def test_quarantine_queries_scope_and_mask(engine: Engine) -> None:
    sources = load_sources(None, load_catalog(None))
    code = sorted(sources)[0]
    id_column = sources[code].columns.get("id_number")
    with engine.begin() as conn:
        batch_id = conn.execute(
            insert(Batch).values(kind="evidence", source=code, status="committed")
            .returning(Batch.batch_id)
        ).scalar_one()  # fmt: skip
        for n, (source, reason) in enumerate(
            [(code, "bad_check_character"), (code, "missing_field"), ("other_src", "bad_length")]
        ):
            conn.execute(
                insert(Quarantine).values(
                    batch_id=batch_id, source=source, file=f"/drop/{source}/day-{n}.csv",
                    row=n + 2, field="id_number", value_masked="3416**********1234",
                    raw_record=json.dumps({id_column or "sfzh": "341602194703150021", "x": n}),
                    reason=reason, message="test", status="open",
                )
            )  # fmt: skip
    manager = _principal("data_manager", (code,))
    with engine.connect() as conn:
        page = quarantine_list(conn, manager, QuarantineFilter())
        assert page.total == 2 and {r.source for r in page.rows} == {code}
        assert page.rows[0].file_name == "day-1.csv"  # the name only, never the folder
        one = quarantine_list(conn, manager, QuarantineFilter(reason="missing_field"))
        assert [r.reason for r in one.rows] == ["missing_field"]
        today = dt.date.today()
        later = QuarantineFilter(since=today + dt.timedelta(days=2))
        assert quarantine_list(conn, manager, later).total == 0
        assert quarantine_list(conn, _principal("auditor"), QuarantineFilter()).total == 3
        assert quarantine_counts(conn, manager) == [
            (code, "bad_check_character", 1),
            (code, "missing_field", 1),
        ]
        foreign = quarantine_list(conn, _principal("auditor"), QuarantineFilter(source="other_src"))
        assert quarantine_entry(conn, manager, sources, foreign.rows[0].quarantine_id) is None
        shown = quarantine_entry(conn, manager, sources, page.rows[0].quarantine_id)
        assert shown is not None and shown.raw_masked is not None
        if id_column:
            assert shown.raw_masked[id_column] != "341602194703150021"
