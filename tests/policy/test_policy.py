"""Runs every policy case of tests/policy/cases/*.yaml (format: tests/policy/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.policy.framework import case_files, load_cases, load_step_modules, run_case

load_step_modules()

CASES = [
    pytest.param(case, id=f"{path.stem}:{case['name']}")
    for path in case_files()
    for case in load_cases(path)
]


@pytest.mark.parametrize("case", CASES)
def test_policy_case(case: dict[str, Any], database_url: str, tmp_path: Path) -> None:
    run_case(case, tmp_path / "home", database_url)
