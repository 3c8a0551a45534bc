"""Evidence push: the file pipeline's validation, quarantine and exactly-once, per call."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, select

from lifesign.store.models import Batch, Quarantine
from tests.web.api.conftest import ApiClient, Recipient

batches_t = cast(Table, Batch.__table__)
quarantine_t = cast(Table, Quarantine.__table__)

YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def _record(record_id: str, id_number: str, **extra: str) -> dict[str, str]:
    """A record of the medical-insurance settlement feed, in its own column names."""
    return {
        "结算流水号": record_id,
        "公民身份号码": id_number,
        "姓名": "测试",
        "结算时间": f"{YESTERDAY} 09:30:00",
        "结算类型": "住院",
        "定点机构": "测试医院",
        **extra,
    }


def _push(api: ApiClient, headers: dict[str, str], records: list[dict[str, Any]]) -> Any:
    return api.post(
        "/api/v1/evidence", headers=headers, json={"source": "yibao_settle", "records": records}
    )


def test_push_validates_quarantines_and_is_exactly_once(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    headers = api.token("medical_insurance")
    records = [
        _record("JS-1", recipients["A1"].id_number),
        _record("JS-2", recipients["B1"].id_number.lower()),
        _record("JS-3", "34160219470315002"),  # 17 characters
        _record("JS-4", recipients["A2"].id_number, 结算时间="yesterday"),
        _record("JS-5", recipients["B2"].id_number, 结算类型="美容"),
        {"公民身份号码": recipients["B2"].id_number},  # no record id
    ]
    first = _push(api, headers, records)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["already_ingested"] is False
    assert (body["read"], body["accepted"], body["rejected"]) == (6, 2, 4)
    problems = [(p["row"], p["field"], p["reason"]) for p in body["problems"]]
    assert problems == [
        (3, "id_number", "bad_length"),
        (4, "event_time", "bad_event_time"),
        (5, "evidence_type", "unknown_evidence_type"),
        (6, "record_id", "missing_field"),
    ]
    assert "34160219470315002" not in first.text  # quarantine values are masked
    with api.app_.state.engine.connect() as conn:
        batch = conn.execute(
            select(batches_t).where(batches_t.c.batch_id == body["batch_id"])
        ).one()
        quarantined = conn.execute(
            select(quarantine_t.c.row, quarantine_t.c.raw_record).where(
                quarantine_t.c.batch_id == body["batch_id"]
            )
        ).all()
    assert (batch.kind, batch.source, batch.status) == ("push", "yibao_settle", "committed")
    assert len(quarantined) == 4 and "结算流水号" in quarantined[0].raw_record

    again = _push(api, headers, records)
    assert again.status_code == 200
    assert again.json()["already_ingested"] is True
    assert again.json()["batch_id"] == body["batch_id"]
    assert again.json()["accepted"] == 0 and "nothing changed" in again.json()["message"]

    # the same good records inside another push: dropped as duplicates by record id
    mixed = _push(
        api, headers, [records[1], records[0], _record("JS-7", recipients["B2"].id_number)]
    )
    assert mixed.status_code == 200
    assert (mixed.json()["accepted"], mixed.json()["duplicate"]) == (1, 2)
    with api.app_.state.engine.connect() as conn:
        pushes = conn.execute(select(batches_t).where(batches_t.c.kind == "push")).all()
    assert len(pushes) == 2


def test_push_limits_and_unknown_source(api: ApiClient, recipients: dict[str, Recipient]) -> None:
    headers = api.token("medical_insurance")
    too_many = [_record(f"JS-{n}", recipients["A1"].id_number) for n in range(1001)]
    refused = _push(api, headers, too_many)
    assert refused.status_code == 422
    assert refused.json()["error"]["what"] == "too many records"
    assert "at most 1000" in refused.json()["error"]["why"]
    empty = _push(api, headers, [])
    assert empty.status_code == 422 and empty.json()["error"]["what"] == "no records"
    unknown = api.post(
        "/api/v1/evidence", headers=headers, json={"source": "nowhere", "records": [{}]}
    )
    assert unknown.status_code == 422
    assert "yibao_settle" in unknown.json()["error"]["why"]  # the department's sources


def test_non_recipients_are_counted_not_kept(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    from tests.web.api.conftest import id_number

    headers = api.token("medical_insurance")
    answer = _push(api, headers, [_record("JS-X", id_number("110101", "19900307", "011"))])
    assert answer.status_code == 200
    assert (answer.json()["accepted"], answer.json()["not_recipient"]) == (0, 1)
