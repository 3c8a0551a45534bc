"""`lifesign notify send/list/retry/templates` on the embedded default (SQLite in the home)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from lifesign.cli import cli
from lifesign.config import load_settings
from lifesign.store import open_database
from tests.notify.support import add_people, at, queue_certified


def _cli(home: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(
        cli, ["--home", str(home), *args], env={"COLUMNS": "200", "LIFESIGN_DATABASE_URL": None}
    )
    assert result.exit_code == code, result.output
    return result


def _city(home: Path) -> None:
    engine = open_database(load_settings(home=home))
    queue_certified(engine, add_people(engine, 2), at("2026-03-02 09:00"))
    engine.dispose()


def test_send_list_and_retry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _city(home)
    night = _cli(home, "notify", "send", "--now", "2026-03-02T22:00")
    assert "quiet hours: nothing sent; 2 message(s) wait until 2026-03-03 08:00" in night.output
    sent = _cli(home, "notify", "send", "--gateway", "file", "--now", "2026-03-03T10:00")
    assert "gateway file: 2 sent, 0 to retry, 0 failed" in sent.output
    lines = (home / "outbox" / "sms-2026-03-03.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["to"] for r in records] == ["13900000001", "13900000002"]  # the person's own phone
    assert records[0]["body"].startswith("测试1您好：根据您2026年3月1日的医保住院结算记录")

    listing = _cli(home, "notify", "list", "--status", "sent")
    assert "139****0001" in listing.output and "139****0002" in listing.output
    assert "13900000001" not in listing.output  # masked on screen
    assert "2 message(s) shown" in listing.output
    assert "0 message(s) shown" in _cli(home, "notify", "list", "--reason", "suspended").output

    refused = _cli(home, "notify", "retry", "1", code=2)
    assert "message 1 cannot be retried: it is not failed" in refused.output


def test_console_gateway_masks_the_phone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _city(home)
    result = _cli(home, "notify", "send", "--gateway", "console", "--now", "2026-03-02T10:00")
    assert "SMS 1 to 139****0001: 测试1您好" in result.output
    assert "13900000001" not in result.output


def test_unknown_gateway_is_a_clear_error(tmp_path: Path) -> None:
    result = _cli(tmp_path / "home", "notify", "send", "--gateway", "pigeon", code=2)
    assert "no SMS gateway named 'pigeon'" in result.output and "known gateways" in result.output


def test_templates_are_shown_with_samples(tmp_path: Path) -> None:
    chinese = _cli(tmp_path, "notify", "templates")
    assert "certified  70 characters, 1 segment(s)" in chinese.output
    assert "张秀英家属您好：惊悉张秀英不幸离世" in chinese.output
    english = _cli(tmp_path, "notify", "templates", "--lang", "en")
    assert "recovery_notice" in english.output and "instalments can be arranged" in english.output
    assert (
        "no SMS templates for language 'fr'"
        in _cli(tmp_path, "notify", "templates", "--lang", "fr", code=2).output
    )
