"""Every extension point of lifesign, in one place.

A plugin is a module (or any object) with functions named like the hooks below, marked with
`@hookimpl`; it is found through the `lifesign` entry-point group of an installed package:

    # pyproject.toml of the plugin package
    [project.entry-points.lifesign]
    my_city_sms = "my_city_sms.plugin"

    # my_city_sms/plugin.py
    from lifesign.hookspecs import hookimpl

    @hookimpl
    def lifesign_sms_gateways():
        return [MyCityGateway]

The built-in gateways and fraud rules are registered the same way (lifesign.plugins lists
them in DEFAULT_PLUGINS), so a plugin is never second-class. docs/plugins.md walks through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lifesign.notify.gateways.base import GatewayFactory

PROJECT_NAME = "lifesign"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def lifesign_sms_gateways() -> Sequence[GatewayFactory]:
    """SMS gateways this plugin provides.

    Each item is a gateway factory (usually the gateway class itself): it has a unique `name`
    (what `lifesign notify send --gateway NAME` and notify.yaml's `gateway:` select) and a
    `from_settings(settings, options)` class method building a ready gateway from the
    platform settings and the `gateways.<name>` mapping of notify.yaml. The gateway it builds
    follows lifesign.notify.gateways.base.Gateway: `name`, `deduplicates`,
    `send(message) -> SendResult`, and optionally `lookup(message) -> SendResult | None`.
    """
    raise NotImplementedError


@hookspec
def lifesign_fraud_rules() -> Sequence[Any]:
    """Fraud (冒领/多领/重领) rules this plugin provides.

    Each item follows the FraudRule protocol of lifesign.integrity.rules: a stable `code`,
    `description_zh` and `description_en`, and `detect(context) -> Iterable[CaseDraft]`.
    `lifesign integrity scan` runs every rule from every plugin.
    """
    raise NotImplementedError


@hookspec
def lifesign_source_definition_dirs() -> Sequence[Path]:
    """Extra folders of evidence-source definitions (*.yaml, the format of docs/sources.md).

    A new department feed can ship as a plugin: its definition files are loaded together with
    the city's own folder (lifesign.ingest.sources.load_sources), validated the same way; a
    source code defined twice is an error naming both files.
    """
    raise NotImplementedError
