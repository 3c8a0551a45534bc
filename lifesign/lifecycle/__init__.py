"""The daily lifecycle: reminders, visit tasks, suspension, resumption, termination, and the
manual channels (self-service, counter, home visit). See docs/lifecycle.md.

    from lifesign.lifecycle import run_day, certify_self_service, certify_at_counter, record_visit
"""

from lifesign.lifecycle.manual import (
    ManualChannelError,
    certify_at_counter,
    certify_self_service,
    record_visit,
)
from lifesign.lifecycle.run import (
    Confirmation,
    DayReport,
    IngestedFile,
    confirm_suspensions,
    run_day,
)

__all__ = [
    "Confirmation",
    "DayReport",
    "IngestedFile",
    "ManualChannelError",
    "certify_at_counter",
    "certify_self_service",
    "confirm_suspensions",
    "record_visit",
    "run_day",
]
