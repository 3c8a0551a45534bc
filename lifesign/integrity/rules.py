"""What a fraud rule is: the protocol every rule (built in or from a plugin) implements.

A rule looks at a `ScanContext` — the as-of date, the catalog, its thresholds and one DuckDB
connection holding per-person evidence facts (`evidence_facts`), the records of the persons a
rule flags (`weak_records`, loaded on demand), the whole lake as a view (`evidence`: reading
it reads the lake) and the state tables it needs (see `lifesign.integrity.context` for the
tables and their columns) — and yields `CaseDraft`s.
`lifesign.integrity.scan` opens a case for each draft. Rules are SQL over those tables, kept
portable to Spark (DESIGN.md, decision 3): plain joins, group-bys and window functions.

Plugins contribute rules through the hook `lifesign_fraud_rules()` (lifesign/hookspecs.py),
returning an iterable of objects with this shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lifesign.integrity.cases import CaseKind

if TYPE_CHECKING:
    import duckdb

    from lifesign.catalog import Catalog


@dataclass(frozen=True)
class CaseDraft:
    """A case a rule proposes: who, which benefit (None = the person), how much, and why.

    `evidence` is a list of small dicts (records, payments, enrollments) an officer can check;
    `details` holds the facts the explanation is built from (dates, counts, thresholds).
    """

    person_id: int
    kind: CaseKind
    rule: str
    amount: Decimal | None = None
    enrollment_id: int | None = None
    evidence: tuple[Mapping[str, Any], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ScanContext:
    """What a rule may look at. `thresholds[rule_code]` holds that rule's values from
    lifesign/integrity/data/rules.yaml (or a city's replacement)."""

    as_of: dt.date
    catalog: Catalog
    duck: duckdb.DuckDBPyConnection
    thresholds: Mapping[str, Mapping[str, Any]]
    # The weak store's files when the context was built from the lake (None: the `evidence`
    # view is a test's own records), and how many lake files building the context read.
    weak_files: tuple[Path, ...] | None = None
    lake_files_read: int = 0

    def threshold(self, rule: str, name: str) -> Any:
        """One threshold of one rule; a missing one is a configuration error, not a default."""
        from lifesign.integrity.thresholds import require

        return require(self.thresholds, rule, name)

    def load_weak_records(self, since: Mapping[int, dt.datetime]) -> None:
        """Table `weak_records` (person_id, evidence_type, event_time, source, record_id):
        the weak records of these persons dated from their bound on, known by the as-of date."""
        from lifesign.integrity.context import load_weak_records

        load_weak_records(self, since)


@runtime_checkable
class FraudRule(Protocol):
    """A detector of integrity cases. `code` is stable: it is written on every case."""

    @property
    def code(self) -> str: ...

    @property
    def kind(self) -> CaseKind: ...

    @property
    def description_zh(self) -> str: ...

    @property
    def description_en(self) -> str: ...

    def detect(self, context: ScanContext) -> Iterable[CaseDraft]: ...
