"""The API's request and response bodies (pydantic): what the OpenAPI document shows.

Personal data is kept to what each answer needs: a status answer carries no name, no
address, no phone, and the ID number only masked (the caller sent it: it knows it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --------------------------------------------------------------------------- errors


class ErrorWhere(BaseModel):
    file: str | None = None
    line: int | None = None
    key: str | None = None
    field: str | None = None


class ErrorBody(BaseModel):
    """What happened, why, and where (the field or parameter)."""

    what: str = Field(examples=["batch too large"])
    why: str = Field(
        default="", examples=["at most 10000 ID numbers per call; this call sent 12000"]
    )
    where: ErrorWhere = Field(default_factory=ErrorWhere)


class ErrorResponse(BaseModel):
    """Every refused call (4xx) answers this body."""

    error: ErrorBody


# --------------------------------------------------------------------------- status


class EnrollmentStatus(BaseModel):
    """One benefit of the person."""

    program: str = Field(description="Program code (catalog).", examples=["resident_pension"])
    program_name: str = Field(description="The program's name (zh-CN).")
    status: Literal["active", "suspended", "terminated"]
    external_ref: str = Field(description="The paying department's own reference.")
    start_date: dt.date
    end_date: dt.date | None = None


class PersonStatus(BaseModel):
    """The certification status of one person, as of the platform's latest daily run."""

    id_number_masked: str = Field(examples=["3416**********1234"])
    status: str = Field(
        description="alive, deceased, imprisoned, emigrated, moved_away or review (a "
        "contradiction an officer is looking at).",
        examples=["alive"],
    )
    certified: bool = Field(description="A certification valid on `as_of`.")
    valid_until: dt.date | None = Field(description="Last day of the current certification.")
    last_certified_on: dt.date | None = None
    last_channel: Literal["auto", "self_service", "counter", "home_visit"] | None = Field(
        default=None, description="auto = silent certification from departments' records."
    )
    as_of: dt.date = Field(description="The day the platform's data is as of.")
    enrollments: list[EnrollmentStatus]


class BatchEnrollment(BaseModel):
    program: str
    status: Literal["active", "suspended", "terminated"]
    external_ref: str


class BatchPerson(BaseModel):
    """A person's status in a batch answer: the single status without what the caller has
    already (its own ID number, the batch's `as_of`, the programs' names, benefit dates)."""

    status: str
    certified: bool
    valid_until: dt.date | None
    last_certified_on: dt.date | None
    last_channel: Literal["auto", "self_service", "counter", "home_visit"] | None
    enrollments: list[BatchEnrollment]


class BatchStatusRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id_numbers": ["34160219500101123X"]}]}
    )

    id_numbers: list[str] = Field(
        description="Up to 10,000 resident ID numbers (18 or old 15 characters; spaces, "
        "hyphens, full-width digits and a lowercase x are accepted)."
    )


class BatchStatusItem(BaseModel):
    """The answer for one ID number of the batch, at the same position."""

    index: int = Field(description="Position in the request (from 0).")
    ok: bool
    reason: str | None = Field(
        default=None,
        description="When not ok: empty, bad_length, bad_character, bad_region, "
        "bad_birth_date, future_birth_date, bad_check_character, or not_found.",
    )
    message: str | None = None
    person: BatchPerson | None = None


class BatchStatusResponse(BaseModel):
    as_of: dt.date
    found: int
    not_found: int
    invalid: int
    items: list[BatchStatusItem]


# --------------------------------------------------------------------------- changes


class StatusChange(BaseModel):
    target: Literal["person", "enrollment"]
    program: str | None = None
    external_ref: str | None = None
    from_status: str
    to_status: str
    at: dt.date


class Change(BaseModel):
    """One decision of the ledger, with the status changes it caused."""

    decision_id: int
    kind: str = Field(examples=["certified"])
    id_number: str | None = Field(
        description="The person's ID number in full: the department joins on it (it holds "
        "it already for its own recipients). Every page read is audited."
    )
    program: str | None = Field(
        default=None, description="Set when the decision is about one benefit."
    )
    external_ref: str | None = None
    effective_date: dt.date
    decided_on: dt.date
    channel: str | None = None
    valid_until: dt.date | None = None
    rule: str
    status_changes: list[StatusChange]


class ChangesPage(BaseModel):
    items: list[Change]
    next_cursor: str | None = Field(
        description="Where to continue: pass it as `cursor` for the next page, and keep the "
        "last one to ask later for what came after it (null only when nothing was ever read)."
    )
    has_more: bool


# --------------------------------------------------------------------------- evidence


class EvidencePush(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "yibao_settle",
                    "records": [
                        {
                            "结算流水号": "JS2026112900001",
                            "公民身份号码": "34160219500101123X",
                            "姓名": "张三",
                            "结算时间": "2026-11-28 09:30:00",
                            "结算类型": "住院",
                            "定点机构": "亳州市人民医院",
                        }
                    ],
                }
            ]
        }
    )

    source: str = Field(description="A source (feed) code of the token's department.")
    records: list[dict[str, Any]] = Field(
        description="Records in the source's own column names (as in its files; the "
        "canonical field names are accepted too)."
    )


class RecordProblem(BaseModel):
    row: int | None = Field(description="Position of the record in `records`, from 1.")
    field: str | None
    reason: str
    message: str | None


class EvidencePushResponse(BaseModel):
    batch_id: int | None
    already_ingested: bool = Field(
        description="True when these exact records were pushed before: nothing changed."
    )
    message: str
    read: int
    accepted: int
    duplicate: int = Field(description="Records already in the lake (same record id).")
    not_recipient: int
    rejected: int = Field(description="Records quarantined; see `problems`.")
    problems: list[RecordProblem]


# --------------------------------------------------------------------------- manual channels


class SelfServiceResult(BaseModel):
    id_number: str
    outcome: Literal["pass", "fail"]
    at: dt.datetime = Field(description="When the face verification was made.")
    reference: str = Field(
        min_length=1,
        max_length=128,
        description="The verification's id in the app: sending it again is harmless.",
    )


class VisitOutcomeRequest(BaseModel):
    outcome: Literal["seen_alive", "deceased", "moved_away", "not_found"]
    at: dt.datetime
    worker: str = Field(min_length=1, max_length=100)
    death_date: dt.date | None = Field(
        default=None, description="Required when outcome is deceased."
    )
    note: str | None = Field(default=None, max_length=1000)


class ManualResult(BaseModel):
    decision_id: int | None = Field(
        description="The decision made (null: nothing certified — a failed verification, "
        "a person not found at home, or a contradiction sent to the review queue)."
    )
    certified: bool
    message: str


# --------------------------------------------------------------------------- tasks


class TaskItem(BaseModel):
    task_id: int
    grid: str | None
    due_date: dt.date
    reason: str
    status: str
    attempts: int
    name: str | None
    id_number_masked: str
    address: str | None
    phone: str | None = Field(description="The community worker calls before visiting.")


class TasksPage(BaseModel):
    items: list[TaskItem]
    next_cursor: str | None
    has_more: bool


# --------------------------------------------------------------------------- statistics


class Count(BaseModel):
    key: str
    count: int


class RegionStatistics(BaseModel):
    code: str = Field(description="Region code (catalog).")
    name: str
    recipients: int
    certified: int
    silent: int = Field(description="Certified silently (channel auto).")
    not_yet: int
    suspended: int
    terminated: int


class ProgramStatistics(BaseModel):
    code: str
    name: str
    active: int
    suspended: int
    terminated: int
    certified: int = Field(description="Live enrollments whose person is certified.")
    silent: int


class Statistics(BaseModel):
    """City-wide figures (no person-level data)."""

    as_of: dt.date
    recipients: int = Field(description="Persons with an active or suspended benefit.")
    certified: int = Field(description="Alive with a certification valid on `as_of`.")
    silent_share: float | None = Field(description="Share of the certified certified silently.")
    by_certification: list[Count] = Field(
        description="Recipients by the channel of their valid certification (auto, "
        "self_service, counter, home_visit, other = before go-live) or none (not yet)."
    )
    by_status: list[Count] = Field(
        description="Recipients suspended, terminated (every benefit ended), deceased."
    )
    by_county: list[RegionStatistics]
    by_program: list[ProgramStatistics]
