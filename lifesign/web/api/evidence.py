"""Evidence push: a small batch of a department's records per call, through the same pipeline
as its files (lifesign.ingest: validation, quarantine, the lake, exactly once).

Each call is one batch of kind 'push'. The records are in the source's own column names, as
its files have them (the canonical field names are accepted too); they become one chunk of
canonical columns with `row` = the record's position (from 1) and `raw` = the record as sent,
what a data manager sees in quarantine. The batch's content hash is the SHA-256 of the
records in a canonical JSON form: the same records sent again are a no-op that says which batch
holds them, and a record sent again inside another batch is dropped as a duplicate by its
record id, as in files. The pass applies pushed batches like any other at the next daily run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
from fastapi import APIRouter, Request
from sqlalchemy import Table, select

from lifesign.errors import Location
from lifesign.ingest.pipeline import Ingestor
from lifesign.ingest.readers import RawChunk, chunk_schema
from lifesign.ingest.sources import SourceDefinition, load_sources
from lifesign.store.models import Quarantine
from lifesign.web.api.calls import LoggedRoute, count_items
from lifesign.web.api.schemas import (
    ErrorResponse,
    EvidencePush,
    EvidencePushResponse,
    RecordProblem,
)
from lifesign.web.api.security import Caller, api_parameters
from lifesign.web.errors import Forbidden, WebError

router = APIRouter(route_class=LoggedRoute, tags=["evidence"])

quarantine_t = cast(Table, Quarantine.__table__)


@dataclass
class _PushState:
    """The app's ingestor (one per day: it keeps the registry's recipients and the lake's
    record keys in memory) and the lock that lets one push at a time use it."""

    lock: threading.Lock
    sources: dict[str, SourceDefinition] | None = None
    ingestor: Ingestor | None = None


_state_lock = threading.Lock()


def _push_state(request: Request) -> _PushState:
    state = request.app.state
    with _state_lock:
        found = getattr(state, "api_push", None)
        if not isinstance(found, _PushState):
            found = _PushState(threading.Lock())
            state.api_push = found
    return found


def _sources(request: Request, push: _PushState) -> dict[str, SourceDefinition]:
    if push.sources is None:
        push.sources = load_sources(None, request.app.state.catalog)
    return push.sources


def _ingestor(request: Request, push: _PushState, today: dt.date) -> Ingestor:
    """The ingestor of today (a new day reloads the registry's recipients)."""
    if push.ingestor is None or push.ingestor.as_of != today:
        push.ingestor = Ingestor(
            request.app.state.settings,
            request.app.state.catalog,
            _sources(request, push),
            today,
            engine=request.app.state.engine,
        )
    return push.ingestor


def _text(value: Any) -> str | None:
    """A JSON value as the text a file would hold (trimmed; empty → missing)."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    text = text.strip()
    return text or None


def records_chunk(source: SourceDefinition, records: list[Mapping[str, Any]]) -> RawChunk:
    """The pushed records as one chunk of canonical columns, as the file readers make."""
    schema = chunk_schema(source)
    columns: dict[str, pa.Array] = {}
    for name in schema.names:
        if name in ("row", "raw"):
            continue
        if name == "evidence_type" and source.fixed_type:
            columns[name] = pa.array([source.fixed_type] * len(records), pa.string())
            continue
        column = source.columns.get(name)
        values = []
        for record in records:
            value = record.get(column) if column is not None and column in record else None
            if value is None and name in record:  # the canonical name, for apps
                value = record.get(name)
            values.append(_text(value))
        columns[name] = pa.array(values, pa.string())
    columns["row"] = pa.array(range(1, len(records) + 1), pa.int64())
    columns["raw"] = pa.array(
        [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records], pa.string()
    )
    return RawChunk(pa.table(columns, schema=schema))


def content_hash(source: str, records: list[Mapping[str, Any]]) -> str:
    """The SHA-256 of the records in canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps(
        {"source": source, "records": records},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@router.post(
    "/evidence",
    response_model=EvidencePushResponse,
    summary="Push a small batch of evidence records",
    description="Records of one source of the token's department, in the source's own column "
    "names (as in its files). Validated like a file: bad records go to quarantine and are "
    "answered one by one (`problems`: row, field, reason); good ones enter the evidence lake "
    "in one batch, exactly once. Sending the same records again changes nothing and says so "
    "(`already_ingested`); a record id already in the lake counts as `duplicate`. At most "
    "1,000 records a call (larger volumes go by file). The certification pass applies the "
    "batch at the next daily run.",
    responses={403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
def push_evidence(request: Request, caller: Caller, body: EvidencePush) -> EvidencePushResponse:
    caller.require("api_evidence_push")
    count_items(request, len(body.records))
    limit = api_parameters(request).evidence_push_max_records
    if len(body.records) > limit:
        raise WebError(
            "too many records",
            f"at most {limit} records per push; this call sent {len(body.records)} — split "
            "them, or send a file",
            Location(field="records"),
            status_code=422,
        )
    if not body.records:
        raise WebError(
            "no records", "send at least one record", Location(field="records"), status_code=422
        )
    push = _push_state(request)
    sources = _sources(request, push)
    source = sources.get(body.source)
    if source is None:
        raise WebError(
            f"unknown source {body.source!r}",
            "the sources of your department are: "
            + (", ".join(sorted(caller.principal.sources)) or "none"),
            Location(field="source"),
            status_code=422,
        )
    if body.source not in caller.principal.sources:
        raise Forbidden(
            f"source {body.source!r} is not of your department",
            f"it belongs to {source.department}; this token is of {caller.principal.department}",
            Location(field="source"),
        )
    records: list[Mapping[str, Any]] = list(body.records)
    with push.lock:
        ingestor = _ingestor(request, push, dt.date.today())
        report = ingestor.ingest_chunks(
            source,
            [records_chunk(source, records)],
            kind="push",
            origin=f"api:{caller.principal.username}",
            content_hash=content_hash(source.code, records),
        )
    problems: list[RecordProblem] = []
    if not report.already_ingested and report.rejected:
        with request.app.state.engine.connect() as conn:
            problems = [
                RecordProblem(row=r.row, field=r.field, reason=r.reason, message=r.message)
                for r in conn.execute(
                    select(
                        quarantine_t.c.row,
                        quarantine_t.c.field,
                        quarantine_t.c.reason,
                        quarantine_t.c.message,
                    )
                    .where(quarantine_t.c.batch_id == report.batch_id)
                    .order_by(quarantine_t.c.row)
                )
            ]
    return EvidencePushResponse(
        batch_id=report.batch_id,
        already_ingested=report.already_ingested,
        message=report.message,
        read=report.read,
        accepted=report.accepted,
        duplicate=report.duplicate,
        not_recipient=report.not_recipient,
        rejected=report.rejected,
        problems=problems,
    )
