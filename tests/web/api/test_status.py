"""Status of one person and of a batch: normalisation, per-item reasons, limits, audit."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select

from lifesign.web.api.schemas import BatchStatusResponse
from lifesign.web.models import AuditEntry
from tests.web.api.conftest import ApiClient, Recipient

audit_t = cast(Table, AuditEntry.__table__)


def _audit(api: ApiClient) -> list[dict[str, object]]:
    with api.app_.state.engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(audit_t).order_by(audit_t.c.audit_id))
        ]


def test_one_person_status_has_no_more_personal_data_than_needed(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    person = recipients["A1"]
    headers = api.token("hrss")
    answer = api.get(f"/api/v1/persons/{person.id_number}/status", headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["id_number_masked"] == person.id_number[:4] + "*" * 10 + person.id_number[-4:]
    assert body["status"] == "alive"
    assert body["certified"] is False and body["valid_until"] is None
    assert [(e["program"], e["status"], e["external_ref"]) for e in body["enrollments"]] == [
        ("resident_pension", "active", "E-A1")
    ]
    assert body["enrollments"][0]["program_name"] == "城乡居民基本养老保险待遇"
    text = answer.text
    assert person.id_number not in text and "测试A1" not in text and "13800000" not in text
    (row,) = _audit(api)
    assert row["action"] == "api_status" and row["person_id"] == person.person_id
    assert row["username"] == "api:hrss/test-1" and row["role"] == "department"
    assert row["reason"] == "API GET /api/v1/persons/{id_number}/status"


def test_the_id_number_is_normalised(api: ApiClient, recipients: dict[str, Recipient]) -> None:
    number = recipients["B1"].id_number
    spaced = f"{number[:6]} {number[6:14]}-{number[14:]}".lower()
    answer = api.get(f"/api/v1/persons/{spaced}/status", headers=api.token("hrss"))
    assert answer.status_code == 200
    assert answer.json()["enrollments"][0]["external_ref"] == "E-B1"


def test_invalid_is_422_with_its_reason_and_unknown_is_404(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    headers = api.token("hrss")
    number = recipients["A1"].id_number
    wrong_check = number[:17] + ("0" if number[17] != "0" else "1")
    bad = api.get(f"/api/v1/persons/{wrong_check}/status", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["what"] == "the ID number is not valid (bad_check_character)"
    assert wrong_check not in bad.text
    from tests.web.api.conftest import id_number

    stranger = id_number("110101", "19900307", "011")
    missing = api.get(f"/api/v1/persons/{stranger}/status", headers=headers)
    assert missing.status_code == 404
    assert stranger not in missing.text and stranger[-4:] in missing.json()["error"]["what"]
    assert _audit(api) == []  # nobody's data was read


def test_batch_answers_every_item_in_place(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    from tests.web.api.conftest import id_number

    headers = api.token("hrss")
    asked = [
        recipients["A1"].id_number,
        "12345",
        recipients["B2"].id_number.lower(),
        id_number("110101", "19900307", "011"),
        "",
        recipients["A1"].id_number,
    ]
    answer = api.post("/api/v1/status/batch", headers=headers, json={"id_numbers": asked})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["found"], body["not_found"], body["invalid"]) == (2, 1, 2)
    items = body["items"]
    assert [i["index"] for i in items] == list(range(6))
    assert [i["ok"] for i in items] == [True, False, True, False, False, True]
    assert [i.get("reason") for i in items] == [
        None,
        "bad_length",
        None,
        "not_found",
        "empty",
        None,
    ]
    assert items[2]["person"]["enrollments"][0]["program"] == "dibao"
    assert items[1]["message"] and "12345" not in items[1]["message"]
    BatchStatusResponse.model_validate(body)  # the answer has the documented shape
    assert set(items[0]["person"]) == {
        "status", "certified", "valid_until", "last_certified_on", "last_channel", "enrollments"
    }  # fmt: skip
    (row,) = _audit(api)  # one row for the call, every person read listed
    assert row["person_id"] is None and row["target"] == "2 persons"
    assert row["reason"] == "API POST /api/v1/status/batch"
    details = cast(dict[str, list[int]], row["details"])
    assert details["person_ids"] == sorted([recipients["A1"].person_id, recipients["B2"].person_id])


def test_batch_over_10000_is_422_with_a_clear_message(api: ApiClient) -> None:
    headers = api.token("hrss")
    answer = api.post("/api/v1/status/batch", headers=headers, json={"id_numbers": ["1"] * 10_001})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["what"] == "batch too large"
    assert "at most 10000" in error["why"] and "10001" in error["why"]
    assert error["where"] == {"field": "id_numbers"}
    malformed = api.post("/api/v1/status/batch", headers=headers, json={"numbers": []})
    assert malformed.status_code == 422
    assert "id_numbers" in malformed.json()["error"]["why"]


def test_status_after_a_certification(api: ApiClient, recipients: dict[str, Recipient]) -> None:
    person = recipients["A2"]
    face = api.token("civil_affairs", "self_service")
    done = api.post(
        "/api/v1/self-service",
        headers=face,
        json={
            "id_number": person.id_number,
            "outcome": "pass",
            "at": "2026-11-20T09:30:00+08:00",
            "reference": "face-A2-1",
        },
    )
    assert done.status_code == 200 and done.json()["certified"] is True
    status = api.get(f"/api/v1/persons/{person.id_number}/status", headers=face).json()
    assert status["last_channel"] == "self_service"
    assert status["last_certified_on"] == "2026-11-20"
    assert status["valid_until"] > "2027-01-01"
    assert status["certified"] is True
