"""Tokens, permission boundaries, the rate limit and the call log (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from typing import cast

from click.testing import CliRunner
from sqlalchemy import Table, select

from lifesign.cli import cli
from lifesign.web.api.models import ApiCall, ApiToken
from lifesign.web.api.parameters import load_api_parameters
from lifesign.web.api.ratelimit import RateLimiter
from lifesign.web.api.tokens import list_tokens, revoke_token
from tests.web.api.conftest import ApiClient, Recipient

calls_t = cast(Table, ApiCall.__table__)
tokens_t = cast(Table, ApiToken.__table__)


def _status_url(person: Recipient) -> str:
    return f"/api/v1/persons/{person.id_number}/status"


def _calls(api: ApiClient) -> list[dict[str, object]]:
    with api.app_.state.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(calls_t).order_by(calls_t.c.call_id))]


def test_no_token_is_401_with_a_clear_body(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    answer = api.get(_status_url(recipients["A1"]))
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["error"]["what"] == "no API token"
    assert "Authorization: Bearer" in answer.json()["error"]["why"]
    wrong = api.get(_status_url(recipients["A1"]), headers={"Authorization": "Bearer lsk_nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["what"] == "the API token is not valid"
    logged = _calls(api)
    assert [c["status"] for c in logged] == [401, 401]
    assert all(c["token_id"] is None for c in logged)


def test_revoked_token_is_401_at_once(api: ApiClient, recipients: dict[str, Recipient]) -> None:
    headers = api.token("hrss")
    assert api.get(_status_url(recipients["A1"]), headers=headers).status_code == 200
    (info,) = list_tokens(api.app_.state.engine)
    revoke_token(api.app_.state.engine, info.token_id)
    answer = api.get(_status_url(recipients["A1"]), headers=headers)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["error"]["why"]


def test_tokens_are_stored_hashed(api: ApiClient) -> None:
    headers = api.token("hrss")
    secret = headers["Authorization"].removeprefix("Bearer ")
    with api.app_.state.engine.connect() as conn:
        row = conn.execute(select(tokens_t)).one()
    assert row.token_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(dict(row._mapping).values())
    assert secret.startswith(row.prefix) and len(row.prefix) < len(secret) // 3


def test_call_log_has_the_route_template_never_the_id_number(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    headers = api.token("hrss")
    person = recipients["A1"]
    assert api.get(_status_url(person), headers=headers).status_code == 200
    answer = api.post(
        "/api/v1/status/batch",
        headers=headers,
        json={"id_numbers": [person.id_number, recipients["B1"].id_number, "bad"]},
    )
    assert answer.status_code == 200
    first, second = _calls(api)
    assert first["path"] == "/api/v1/persons/{id_number}/status"
    assert (first["method"], first["status"], first["items"]) == ("GET", 200, 1)
    assert first["department"] == "hrss" and first["token_id"] is not None
    assert second["path"] == "/api/v1/status/batch" and second["items"] == 3
    assert cast(float, second["duration_ms"]) > 0
    for call in (first, second):
        assert person.id_number not in str(call.values())


def test_department_cannot_push_to_another_departments_source(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    headers = api.token("hrss")
    answer = api.post(
        "/api/v1/evidence",
        headers=headers,
        json={"source": "yibao_settle", "records": [{"结算流水号": "X1"}]},
    )
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["what"] == "source 'yibao_settle' is not of your department"
    assert "medical_insurance" in error["why"] and error["where"] == {"field": "source"}


def test_scopes_guard_the_apps_that_act_for_people(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    plain = api.token("civil_affairs")
    body = {
        "id_number": recipients["A1"].id_number,
        "outcome": "pass",
        "at": "2026-11-20T10:00:00+08:00",
        "reference": "face-1",
    }
    refused = api.post("/api/v1/self-service", headers=plain, json=body)
    assert refused.status_code == 403
    assert "self_service" in refused.json()["error"]["why"]
    assert api.get("/api/v1/tasks", headers=plain).status_code == 403
    visit = {"outcome": "seen_alive", "at": "2026-11-20T10:00:00+08:00", "worker": "w"}
    assert api.post("/api/v1/visits/1/outcome", headers=plain, json=visit).status_code == 403
    face = api.token("civil_affairs", "self_service")
    assert api.post("/api/v1/self-service", headers=face, json=body).status_code == 200
    assert api.get("/api/v1/tasks", headers=face).status_code == 403
    community = api.token("civil_affairs", "visits")
    assert api.get("/api/v1/tasks", headers=community).status_code == 200
    assert api.post("/api/v1/self-service", headers=community, json=body).status_code == 403


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_429_then_ok_after_the_refill(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    clock = _Clock()
    api.app_.state.api_rate_limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=clock)
    headers = api.token("hrss")
    other = api.token("hrss")
    url = _status_url(recipients["A1"])
    assert [api.get(url, headers=headers).status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get(url, headers=headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["what"] == "rate limit exceeded"
    assert api.get(url, headers=other).status_code == 200  # one bucket per token
    clock.now += 0.5  # one unit back at 2 a second
    assert api.get(url, headers=headers).status_code == 200
    assert api.get(url, headers=headers).status_code == 429
    assert [c["status"] for c in _calls(api)][-3:] == [200, 200, 429]


def test_the_packaged_limits_are_sane() -> None:
    limits = load_api_parameters()
    assert limits.batch_status_max == 10_000
    assert limits.burst >= limits.rate_per_second
    assert limits.evidence_push_max_records <= 1_000


def test_token_cli_creates_prints_once_lists_and_revokes(tmp_path: object) -> None:
    home = str(tmp_path)
    runner = CliRunner()
    created = runner.invoke(
        cli,
        ["--home", home, "api", "token", "create", "--department", "civil_affairs",
         "--name", "community", "--scope", "visits"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("lsk_") and len(secret) > 40
    listed = runner.invoke(cli, ["--home", home, "api", "token", "list"])
    assert "civil_affairs" in listed.stdout and "scopes=visits" in listed.stdout
    assert secret not in listed.stdout and secret[:12] in listed.stdout
    clash = runner.invoke(
        cli,
        ["--home", home, "api", "token", "create", "--department", "civil_affairs",
         "--name", "community"],
    )  # fmt: skip
    assert clash.exit_code == 2 and "already has an active token" in clash.output
    revoked = runner.invoke(cli, ["--home", home, "api", "token", "revoke", "1"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert "revoked" in runner.invoke(cli, ["--home", home, "api", "token", "list"]).stdout
    unknown = runner.invoke(
        cli, ["--home", home, "api", "token", "create", "--department", "nowhere"]
    )
    assert unknown.exit_code == 2 and "unknown department" in unknown.output
