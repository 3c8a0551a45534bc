"""Plugins: a third-party package found through the `lifesign` entry-point group gives an SMS
gateway and a folder of evidence-source definitions, and both are used; broken plugins are
named; built-ins are plugins too."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from lifesign.catalog import load_catalog
from lifesign.cli import cli
from lifesign.config import load_settings
from lifesign.hookspecs import hookimpl
from lifesign.ingest.sources import SourceDefinitionError, load_sources
from lifesign.notify.gateways import open_gateway
from lifesign.notify.gateways.base import OutgoingMessage, SendResult
from lifesign.plugins import (
    PluginError,
    extra_source_dirs,
    fraud_rules,
    get_plugin_manager,
    plugin_summaries,
    reset_plugin_manager,
    sms_gateways,
)

PLUGIN_MODULE = '''\
"""A city's own plugin: its SMS service and a department feed the platform does not ship."""

from pathlib import Path

from lifesign.hookspecs import hookimpl

SENT = []


class PigeonGateway:
    name = "pigeon"
    deduplicates = True

    def __init__(self, loft):
        self.loft = loft

    @classmethod
    def from_settings(cls, settings, options):
        return cls(loft=options.get("loft", "default loft"))

    def send(self, message):
        from lifesign.notify.gateways.base import SendResult

        SENT.append(message.idempotency_key)
        return SendResult.ok(f"pigeon-{message.idempotency_key}")


@hookimpl
def lifesign_sms_gateways():
    return [PigeonGateway]


@hookimpl
def lifesign_source_definition_dirs():
    return [Path(__file__).parent / "sources"]
'''

CLINIC_SOURCE = """\
code: city_clinic
department: medical_insurance
name_zh: 社区门诊
format: csv
encoding: utf-8
file_pattern: "city_clinic_*.csv"
columns:
  record_id: 流水号
  id_number: 身份证号
  event_time: 时间
type_column: 类型
types:
  门诊: mi_outpatient
date_formats:
  event_time: ["%Y-%m-%d %H:%M:%S"]
"""


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def installed_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None
) -> Iterator[Path]:
    """An installed package `lifesign-city-plugin` (a dist-info on sys.path, as pip makes)."""
    site = tmp_path / "site"
    package = site / "lifesign_city_plugin"
    (package / "sources").mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    (package / "sources" / "city_clinic.yaml").write_text(CLINIC_SOURCE, encoding="utf-8")
    dist_info = site / "lifesign_city_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lifesign-city-plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[lifesign]\ncity = lifesign_city_plugin\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("LIFESIGN_SOURCES", raising=False)
    monkeypatch.delenv("LIFESIGN_LOAD_PLUGINS", raising=False)
    sys.modules.pop("lifesign_city_plugin", None)
    yield package
    sys.modules.pop("lifesign_city_plugin", None)  # the next test installs its own copy


def test_an_installed_plugin_gives_a_gateway_and_a_source_folder(
    installed_plugin: Path, tmp_path: Path
) -> None:
    gateways = sms_gateways()
    assert {"file", "console", "http", "aliyun", "tencent", "pigeon"} <= set(gateways)
    gateway = open_gateway(load_settings(home=tmp_path), "pigeon")
    message = OutgoingMessage("7", "13900000007", "您好", "certified", "zh-CN/certified", "zh-CN")
    assert gateway.send(message) == SendResult.ok("pigeon-7")

    assert extra_source_dirs() == [installed_plugin / "sources"]
    sources = load_sources(None, load_catalog(None))
    assert "city_clinic" in sources  # the plugin's department feed...
    assert len(sources) == 28  # ...beside the 27 packaged ones
    assert sources["city_clinic"].types == {"门诊": "mi_outpatient"}

    names = [summary.name for summary in plugin_summaries()]
    assert names[0] == "lifesign.notify.gateways.builtin" and "city" in names
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "lifesign_city_plugin" in result.output and "pigeon" in result.output
    assert "SMS gateways: file, console, http, aliyun, tencent" in result.output


def test_a_plugin_source_clashing_with_a_packaged_one_names_both_files(
    installed_plugin: Path,
) -> None:
    clash = CLINIC_SOURCE.replace("code: city_clinic", "code: yibao_settle")
    (installed_plugin / "sources" / "city_clinic.yaml").write_text(clash, encoding="utf-8")
    with pytest.raises(SourceDefinitionError) as caught:
        load_sources(None, load_catalog(None))
    text = str(caught.value)
    assert "duplicate source code 'yibao_settle'" in text and "yibao_settle.yaml" in text
    assert str(installed_plugin / "sources" / "city_clinic.yaml") in text


def test_entry_points_can_be_switched_off(
    installed_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFESIGN_LOAD_PLUGINS", "0")
    assert "pigeon" not in sms_gateways()
    assert extra_source_dirs() == []


def test_built_ins_are_plugins(fresh_plugins: None) -> None:
    manager = get_plugin_manager()
    assert manager.has_plugin("lifesign.notify.gateways.builtin")
    assert manager is get_plugin_manager()  # cached
    rules = fraud_rules()
    if manager.has_plugin("lifesign.integrity.builtin_rules"):
        assert rules and all(isinstance(rule.code, str) for rule in rules)


class _GatewayPlugin:
    def __init__(self, *factories: object) -> None:
        self.factories = factories

    @hookimpl
    def lifesign_sms_gateways(self) -> list[object]:
        return list(self.factories)


class _BrokenPlugin:
    @hookimpl
    def lifesign_source_definition_dirs(self) -> list[Path]:
        raise KeyError("sources")


def test_broken_plugins_are_named(fresh_plugins: None) -> None:
    manager = get_plugin_manager()
    twin = SimpleNamespace(name="file", from_settings=lambda settings, options: None)
    manager.register(_GatewayPlugin(twin), name="twin")
    with pytest.raises(PluginError, match="two plugins give an SMS gateway named 'file'"):
        sms_gateways()
    manager.unregister(name="twin")
    manager.register(_GatewayPlugin(object()), name="nameless")
    with pytest.raises(PluginError, match="plugin nameless gives an unusable SMS gateway"):
        sms_gateways()
    manager.unregister(name="nameless")
    manager.register(_BrokenPlugin(), name="broken")
    with pytest.raises(PluginError, match="plugin broken failed in lifesign_source_definition"):
        extra_source_dirs()


def test_hookspecs_list_every_extension_point() -> None:
    from lifesign import hookspecs

    hooks = sorted(name for name in dir(hookspecs) if name.startswith("lifesign_"))
    assert hooks == [
        "lifesign_fraud_rules",
        "lifesign_sms_gateways",
        "lifesign_source_definition_dirs",
    ]
    for name in hooks:
        assert getattr(hookspecs, name).__doc__, name
    assert textwrap.dedent(hookspecs.__doc__ or "").count("[project.entry-points.lifesign]") == 1
