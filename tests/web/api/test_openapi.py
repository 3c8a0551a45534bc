"""The OpenAPI document describes every API operation, its auth and its error body."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from lifesign.config import load_settings

API_OPERATIONS = {
    ("get", "/api/v1/persons/{id_number}/status"),
    ("post", "/api/v1/status/batch"),
    ("get", "/api/v1/changes"),
    ("post", "/api/v1/evidence"),
    ("post", "/api/v1/self-service"),
    ("post", "/api/v1/visits/{task_id}/outcome"),
    ("get", "/api/v1/tasks"),
    ("get", "/api/v1/statistics"),
}


def test_every_operation_is_documented_and_needs_a_bearer_token(tmp_path: Path) -> None:
    from lifesign.web.app import create_app

    app = create_app(load_settings(home=tmp_path, database_url=f"sqlite:///{tmp_path}/s.db"))
    document = TestClient(app).get("/api/openapi.json").json()
    operations = {
        (method, path): spec
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, spec in methods.items()
    }
    assert set(operations) == API_OPERATIONS
    for key, spec in operations.items():
        assert spec.get("summary"), key
        assert len(spec.get("description", "")) > 80, key
        assert spec.get("security") == [{"HTTPBearer": []}], key
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    batch = document["components"]["schemas"]["BatchStatusItem"]["properties"]
    assert "not_found" in batch["reason"]["description"]
    assert "ErrorResponse" in document["components"]["schemas"]
