"""The API's OpenAPI document is served, lists the API's paths and leaves the pages out."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_openapi_lists_the_api_and_not_the_pages(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        answer = client.get("/api/openapi.json")
        docs = client.get("/api/docs")
    assert answer.status_code == 200 and docs.status_code == 200
    # the docs page needs no CDN (the city's machines are offline): no script, no other host
    assert "<script" not in docs.text and "https://" not in docs.text
    document = answer.json()
    assert document["openapi"].startswith("3.") and document["info"]["title"] == "lifesign"
    paths = set(document["paths"])
    # the API: status (one, batch), changes, evidence push, self-service results,
    # visit outcomes, tasks, statistics
    for concern in ("status", "changes", "evidence", "self-service", "visits", "tasks",
                    "statistics"):  # fmt: skip
        assert any(concern in path for path in paths), (concern, sorted(paths))
    for path in paths:
        assert f"<code>{path}</code>" in docs.text
    assert all(path.startswith("/api/v1/") for path in paths), sorted(paths)
    for page in ("/login", "/logout", "/admin/users", "/audit", "/"):
        assert page not in paths


def test_api_errors_are_json_and_pages_errors_are_html(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        api = client.get("/api/v1/no-such-thing")
        page = client.get("/no-such-page")
    assert api.status_code == 404 and api.json()["error"]["what"] == "not found"
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "未找到" in page.text


def test_every_answer_carries_the_security_headers(web_app: FastAPI) -> None:
    with TestClient(web_app) as client:
        page = client.get("/login")
        api = client.get("/api/openapi.json")
        css = client.get("/static/app.css")
    for answer in (page, api, css):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "script-src 'none'" in answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" == api.headers["cache-control"]
    assert css.headers.get("cache-control") != "no-store"
