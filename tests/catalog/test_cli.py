"""`lifesign catalog check` and `lifesign catalog show` through the root CLI."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from .helpers import edit


def run(cli: click.Group, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env or {"LIFESIGN_CATALOG": ""})
    return result.exit_code, result.output


def test_help_on_every_command(root_cli: click.Group) -> None:
    for args in (["catalog"], ["catalog", "check"], ["catalog", "show"]):
        code, out = run(root_cli, *args, "--help")
        assert code == 0 and "Usage:" in out
    assert "check" in run(root_cli, "catalog", "--help")[1]


def test_check_packaged(root_cli: click.Group) -> None:
    code, out = run(root_cli, "catalog", "check")
    assert code == 0, out
    assert "catalog 2026.1 is valid" in out
    assert "26 departments" in out
    assert "48 evidence types (39 strong / 9 weak)" in out
    assert "22 programs" in out
    assert "4 counties" in out and "townships" in out and "grids" in out


def test_check_reports_every_problem_and_fails(root_cli: click.Group, city: Path) -> None:
    edit(city / "programs.yaml", "excludes: [tekun]", "excludes: [tekunn]")
    edit(
        city / "evidence_types.yaml",
        "department: power, strength: weak,",
        "department: power, strength: medium,",
    )
    code, out = run(root_cli, "catalog", "check", "--dir", str(city))
    assert code == 1
    assert "problems" in out
    assert "evidence_types.yaml:" in out
    assert "evidence_types.power_use.strength: strength 'medium' is not one of: strong, weak" in out
    assert "programs.dibao.excludes[0]: excludes unknown program 'tekunn'" in out
    assert "programs.tekun.excludes[0]: exclusion is not symmetric" in out


def test_check_uses_the_root_catalog_option(root_cli: click.Group, city: Path) -> None:
    edit(city / "catalog.yaml", 'version: "2026.1"', 'version: "city-7"')
    code, out = run(root_cli, "--catalog", str(city), "catalog", "check")
    assert code == 0 and "catalog city-7 is valid" in out
    code, out = run(root_cli, "catalog", "check", env={"LIFESIGN_CATALOG": str(city)})
    assert code == 0 and "catalog city-7 is valid" in out


def test_check_prints_warnings(root_cli: click.Group, city: Path) -> None:
    edit(
        city / "evidence_types.yaml",
        "department: gas, strength: weak,",
        "department: gas, strength: strong,",
    )
    code, out = run(root_cli, "catalog", "check", "--dir", str(city))
    assert code == 0
    assert "warning:" in out and "40 strong and 8 weak" in out


def test_show_programs_on_a_date(root_cli: click.Group) -> None:
    code, out = run(root_cli, "catalog", "show", "programs", "--on", "2024-06-01")
    assert code == 0, out
    assert "城乡居民基本养老保险待遇" in out
    assert "50 (80+) / 100 (90+) / 250 (100+)" in out
    assert "sms 60d, sms 30d, visit 15d" in out
    assert "12 mo" in out
    code, out = run(root_cli, "catalog", "show", "programs", "--on", "2025-07-01", "--lang", "en")
    assert "Minimum living allowance" in out
    assert "300 (100+)" in out and "3000" in out


def test_show_departments_and_evidence(root_cli: click.Group) -> None:
    code, out = run(root_cli, "catalog", "show", "departments")
    assert code == 0 and "殡仪馆" in out and "组织部" in out and "agency" in out
    code, out = run(root_cli, "catalog", "show", "evidence", "--lang", "en")
    assert code == 0 and "Real-name rail boarding" in out and "39 strong / 9 weak" in out


def test_show_regions_and_drill_down(root_cli: click.Group) -> None:
    code, out = run(root_cli, "catalog", "show", "regions")
    assert code == 0 and "谯城区" in out and "花戏楼街道" in out
    assert "341602001001" not in out  # down to townships only
    code, out = run(root_cli, "catalog", "show", "regions", "--county", "341622")
    assert code == 0 and "蒙城县" in out and "341622001001" in out
    assert "谯城区" not in out


def test_show_everything_by_default(root_cli: click.Group) -> None:
    code, out = run(root_cli, "catalog", "show")
    assert code == 0
    for title in ("Departments", "Evidence types", "Programs", "Regions"):
        assert title in out


def test_show_a_broken_catalog_is_an_error(root_cli: click.Group, city: Path) -> None:
    (city / "programs.yaml").unlink()
    result = CliRunner().invoke(root_cli, ["catalog", "show", "--dir", str(city)])
    assert result.exit_code != 0
