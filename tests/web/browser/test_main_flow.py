"""The main flow in a real browser (Chromium): log in, the overview, find a person, record a
visit that certifies them, see the decision on their page, switch to English, the worklist on
a phone. Screenshots of each page go to test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_login_lands_on_the_first_page_of_the_menu(
    page: Any, login: Callable[[Any, str], None], shot: Callable[[Any, str], Path]
) -> None:
    page.goto("/login")
    shot(page, "00-login")
    login(page, "admin")
    page.goto("/account")
    assert page.locator("nav.menu").is_visible()
    assert shot(page, "01-after-login").stat().st_size > 0
