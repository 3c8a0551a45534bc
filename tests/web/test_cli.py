"""`lifesign users …` and `lifesign serve` (a real server on a free localhost port)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner
from sqlalchemy import select

from lifesign.cli import cli
from lifesign.config import Settings
from lifesign.store import open_database
from lifesign.web.models import User


def _run(settings: Settings, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(cli, ["--home", str(settings.home), *args], input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_users_add_list_disable_enable_password(web_home: Settings) -> None:
    from lifesign.catalog import load_catalog

    grid = load_catalog(None).regions.grids[0].code
    out = _run(web_home, "users", "add", "zhang.min", "--role", "community_worker",
               "--grid", grid, "--name", "张敏", "--password-stdin",
               stdin="a long password 1\n")  # fmt: skip
    assert "zhang.min created" in out and "a long password" not in out
    listed = _run(web_home, "users", "list")
    assert "zhang.min" in listed and grid in listed and "active" in listed
    _run(web_home, "users", "disable", "zhang.min")
    assert "disabled" in _run(web_home, "users", "list")
    _run(web_home, "users", "enable", "zhang.min")
    _run(web_home, "users", "password", "zhang.min", "--password-stdin", stdin="another one 22\n")
    engine = open_database(web_home)
    with engine.connect() as conn:
        row = conn.execute(select(User).where(User.username == "zhang.min")).mappings().one()
    engine.dispose()
    assert row["grids"] == [grid] and not row["disabled"]
    assert row["password_hash"].startswith("$argon2id$")
    # bad input: what, why, where — exit status 2, one line
    bad = CliRunner().invoke(
        cli, ["--home", str(web_home.home), "users", "add", "x1", "--role", "community_worker",
              "--grid", "999", "--password-stdin"], input="a long password 1\n",
    )  # fmt: skip
    assert bad.exit_code == 2 and "unknown grid code" in bad.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_localhost(web_home: Settings) -> None:
    port = _free_port()
    env = {**os.environ, "LIFESIGN_HOME": str(web_home.home)}
    env.pop("LIFESIGN_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-c", "from lifesign.cli import main; main()", "serve",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200
        assert "登录" in answer.text
        css = httpx.get(f"http://127.0.0.1:{port}/static/app.css", timeout=5)
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        spec = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=5)
        assert spec.status_code == 200 and spec.json()["paths"]
    finally:
        server.terminate()
        server.wait(timeout=20)
