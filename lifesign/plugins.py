"""The plugin manager: built-in plugins, third-party plugins, and what they provide.

The extension points themselves are listed in lifesign.hookspecs. Built-ins are plugins like
any other and are named in DEFAULT_PLUGINS by module (imported lazily, so this module imports
nothing heavy and no package that imports it back). Third-party plugins are found through
the `lifesign` entry-point group of the installed packages.

    from lifesign.plugins import sms_gateways, fraud_rules, extra_source_dirs
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pluggy

from lifesign import hookspecs
from lifesign.errors import LifesignError, Location

if TYPE_CHECKING:
    from lifesign.notify.gateways.base import GatewayFactory

ENTRY_POINT_GROUP = "lifesign"
# Set to 0 to load built-ins only (e.g. to rule out a broken third-party plugin).
LOAD_ENTRY_POINTS_ENV = "LIFESIGN_LOAD_PLUGINS"

# Built-in plugins, by module. A module that does not exist (yet) is skipped.
DEFAULT_PLUGINS = (
    "lifesign.notify.gateways.builtin",
    "lifesign.integrity.builtin_rules",
)


class PluginError(LifesignError):
    """A plugin is broken: it cannot be loaded, or what it provides is unusable."""


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The one plugin manager of this process, with built-ins and installed plugins loaded."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue  # an optional built-in that is not part of this installation
            raise
        manager.register(module, name=module_name)
    if os.environ.get(LOAD_ENTRY_POINTS_ENV, "1") != "0":
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return manager


def reset_plugin_manager() -> None:
    """Forget the cached manager (tests, or after installing a plugin in a running process)."""
    get_plugin_manager.cache_clear()


def sms_gateways() -> dict[str, GatewayFactory]:
    """Every SMS gateway factory by name; two plugins giving the same name is an error."""
    found: dict[str, GatewayFactory] = {}
    owner: dict[str, str] = {}
    manager = get_plugin_manager()
    for plugin_name, provided in _results(manager, "lifesign_sms_gateways"):
        for factory in provided:
            name = getattr(factory, "name", None)
            if not isinstance(name, str) or not callable(getattr(factory, "from_settings", None)):
                raise PluginError(
                    f"plugin {plugin_name} gives an unusable SMS gateway {factory!r}",
                    "a gateway factory needs a `name` and a `from_settings(settings, options)`",
                    Location(key="lifesign_sms_gateways"),
                )
            if name in found:
                raise PluginError(
                    f"two plugins give an SMS gateway named {name!r}",
                    f"{owner[name]} and {plugin_name}: rename one",
                    Location(key="lifesign_sms_gateways"),
                )
            found[name] = factory
            owner[name] = plugin_name
    return found


def fraud_rules() -> list[Any]:
    """Every fraud rule from every plugin, built-ins first."""
    rules: list[Any] = []
    for _plugin, provided in _results(get_plugin_manager(), "lifesign_fraud_rules"):
        rules.extend(provided)
    return rules


def extra_source_dirs() -> list[Path]:
    """Evidence-source definition folders given by plugins (beside the city's own folder)."""
    folders: list[Path] = []
    for _plugin, provided in _results(get_plugin_manager(), "lifesign_source_definition_dirs"):
        folders.extend(Path(folder) for folder in provided)
    return folders


@dataclass(frozen=True)
class PluginSummary:
    """One registered plugin and what it provides, hook by hook (names of things)."""

    name: str
    module: str
    provides: dict[str, list[str]]


def plugin_summaries() -> list[PluginSummary]:
    """What `lifesign plugins` prints."""
    manager = get_plugin_manager()
    describe: dict[str, Callable[[Any], str]] = {
        "lifesign_sms_gateways": lambda item: str(getattr(item, "name", item)),
        "lifesign_fraud_rules": lambda item: str(getattr(item, "code", item)),
        "lifesign_source_definition_dirs": str,
    }
    provided_by: dict[str, dict[str, list[str]]] = {}
    for hook_name, render in describe.items():
        for plugin_name, provided in _results(manager, hook_name):
            provided_by.setdefault(plugin_name, {})[hook_name] = [render(x) for x in provided]
    summaries: list[PluginSummary] = []
    for plugin_name, plugin in manager.list_name_plugin():
        if plugin is None:
            continue  # blocked
        summaries.append(
            PluginSummary(
                name=plugin_name,
                module=getattr(plugin, "__name__", type(plugin).__module__),
                provides=provided_by.get(plugin_name, {}),
            )
        )
    return summaries


def _results(manager: pluggy.PluginManager, hook_name: str) -> list[tuple[str, list[Any]]]:
    """Each plugin's answer to a hook, with the plugin's name, in registration order."""
    answers: list[tuple[str, list[Any]]] = []
    for implementation in getattr(manager.hook, hook_name).get_hookimpls():
        try:
            provided = implementation.function()
        except Exception as error:  # a third-party plugin's own bug: say whose it is
            raise PluginError(
                f"plugin {implementation.plugin_name} failed in {hook_name}",
                f"{type(error).__name__}: {error}",
                Location(key=hook_name),
            ) from error
        answers.append((implementation.plugin_name, list(provided or ())))
    return answers


HOOK_TITLES = {
    "lifesign_sms_gateways": "SMS gateways",
    "lifesign_fraud_rules": "fraud rules",
    "lifesign_source_definition_dirs": "source definition folders",
}


@click.command("plugins")
def plugins_command() -> None:
    """List the plugins (built-in and installed) and what each provides."""
    from rich.console import Console
    from rich.table import Table

    table = Table("plugin", "module", "provides")
    for summary in plugin_summaries():
        lines = [
            f"{HOOK_TITLES[hook]}: {', '.join(items) or '-'}"
            for hook, items in summary.provides.items()
        ]
        table.add_row(summary.name, summary.module, "\n".join(lines) or "-")
    Console().print(table)
