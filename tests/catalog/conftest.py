"""Fixtures: a copy of the packaged catalog to break, and the root CLI."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import click
import pytest

from lifesign.catalog import PACKAGED_DIR


@pytest.fixture
def city(tmp_path: Path) -> Path:
    """A copy of the packaged catalog folder, free to edit."""
    target = tmp_path / "catalog"
    shutil.copytree(PACKAGED_DIR, target)
    return target


@pytest.fixture
def root_cli() -> click.Group:
    """`lifesign.cli:cli`, the root group the installed `lifesign` command runs."""
    module = importlib.import_module("lifesign.cli")
    group = module.cli
    assert isinstance(group, click.Group)
    return group
