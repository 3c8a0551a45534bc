"""The platform's functions a replay drives, in one place.

A replay is a user of the platform like any other: it calls the daily run, the pass, the
manual-channel functions, the outbox and the integrity scan through their public APIs. They
are imported here, lazily, so that the rest of the package reads as the story of a day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from lifesign.config import Settings

if TYPE_CHECKING:
    from lifesign.catalog import Catalog
    from lifesign.notify.gateways.base import Gateway
    from lifesign.registry.importer import ImportReport
    from lifesign.replay.people import Certification, Visit


def run_day(settings: Settings, engine: Engine, catalog: Catalog, as_of: dt.date) -> Any:
    """The daily run (ingest the inbox, the incremental pass, the lifecycle). The files of a
    replay are complete when they appear, so the inbox's stability wait is skipped."""
    from lifesign.lifecycle.run import run_day as lifecycle_run_day

    return lifecycle_run_day(settings, as_of, settle_seconds=0, engine=engine, catalog=catalog)


def run_full_pass(settings: Settings, engine: Engine, catalog: Catalog, as_of: dt.date) -> Any:
    from lifesign.certify.passes import run_pass

    return run_pass(settings, engine, catalog, as_of, "full")


COUNTER_OFFICER = "窗口经办人"  # who certifies at the counter in a replay


def certify(engine: Engine, catalog: Catalog, action: Certification) -> int | None:
    """A person certifies by face (self-service) or at a counter; the decision id, if any."""
    from lifesign.lifecycle.manual import certify_at_counter, certify_self_service

    if action.channel == "self_service":
        return certify_self_service(
            engine,
            catalog,
            person_id=action.person_id,
            at=action.at,
            outcome=action.outcome,
            reference=action.reference,
        )
    return certify_at_counter(
        engine,
        catalog,
        person_id=action.person_id,
        at=action.at,
        officer=COUNTER_OFFICER,
        reference=action.reference,
    )


def record_visit(engine: Engine, catalog: Catalog, visit: Visit) -> int | None:
    from lifesign.lifecycle.manual import record_visit as lifecycle_record_visit

    return lifecycle_record_visit(
        engine,
        catalog,
        task_id=visit.task_id,
        outcome=visit.outcome,
        at=visit.at,
        worker=visit.worker,
        death_date=visit.death_date,
    )


def file_gateway(settings: Settings) -> Gateway:
    """The embedded gateway: SMS written to HOME/outbox/sms-YYYY-MM-DD.jsonl. One instance
    serves a whole replay (it keeps the keys it wrote in memory)."""
    from lifesign.notify.gateways.local import FileGateway

    return FileGateway.from_settings(settings, {"folder": "outbox"})


def deliver_messages(engine: Engine, gateway: Gateway, now: dt.datetime) -> int:
    """Send everything due at `now`; the number of messages sent."""
    from lifesign.notify.outbox import deliver_due

    sent = 0
    while True:
        report = deliver_due(engine, gateway, now)
        sent += report.sent
        if report.attempted == 0:
            return sent


def integrity_scan(settings: Settings, engine: Engine, catalog: Catalog, as_of: dt.date) -> Any:
    from lifesign.integrity.scan import scan

    return scan(settings, engine, catalog, as_of)


def import_registry(settings: Settings, engine: Engine, directory: Path) -> ImportReport:
    """`lifesign registry import DIRECTORY`, as a function; the import report."""
    from lifesign.registry.importer import RegistryImporter, rules_from_catalog
    from lifesign.registry.pseudonym import Pseudonymizer

    pseudonyms = Pseudonymizer.for_home(settings.secrets_dir)
    importer = RegistryImporter(engine, pseudonyms, rules_from_catalog(settings.catalog_dir))
    return importer.import_dir(directory)
