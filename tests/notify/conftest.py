"""Fixtures of the notification tests: the packaged policy and a running flaky SMS service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifesign.notify.config import NotifyConfig, load_notify_config
from tests.notify.support import TOKEN, SmsService, running


@pytest.fixture
def policy() -> NotifyConfig:
    """The packaged policy (quiet hours 21:00-08:00 Beijing, 1 min x2 backoff, 8 attempts)."""
    return load_notify_config()


@pytest.fixture
def sms_service() -> Iterator[SmsService]:
    """A reliable service on 127.0.0.1; tests set the failure rates they want."""
    with running(SmsService(token=TOKEN, seed=7)) as service:
        yield service
