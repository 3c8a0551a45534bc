"""Fixtures: a copy of the packaged catalog to break, and the root CLI."""

from __future__ import annotations

import importlib
import shutil
import sys
import types
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


def _stub_missing_subcommands() -> None:
    """Sub-command modules of other packages that are not in this work tree yet are replaced by
    empty groups, so that the catalog commands can be tested through the root CLI alone.
    Once every module exists this does nothing."""
    source = (Path(__file__).parents[2] / "lifesign" / "cli.py").read_text(encoding="utf-8")
    start = source.index("SUBCOMMANDS = (")
    specs = source[start : source.index(")", start)].split("(", 1)[1]
    for spec in (s.strip().strip(",").strip('"') for s in specs.splitlines()):
        if ":" not in spec or spec.startswith("lifesign.catalog"):
            continue
        name, attr = spec.split(":")
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            stub = types.ModuleType(name)
            setattr(stub, attr, click.Group(attr, help="(not in this work tree yet)"))
            sys.modules[name] = stub


_stub_missing_subcommands()
