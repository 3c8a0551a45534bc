"""SMS gateways. Built-ins (file, console, http, aliyun, tencent) are registered as plugins by
lifesign.notify.gateways.builtin; others come from plugins (lifesign.hookspecs).

    gateway = open_gateway(settings)            # notify.yaml's `gateway:` (default: file)
    gateway = open_gateway(settings, "http")
"""

from __future__ import annotations

from lifesign.config import Settings
from lifesign.errors import Location
from lifesign.notify.config import NotifyConfig, load_notify_config
from lifesign.notify.gateways.base import (
    Gateway,
    GatewayConfigError,
    GatewayFactory,
    OutgoingMessage,
    SendResult,
)

__all__ = [
    "Gateway",
    "GatewayConfigError",
    "GatewayFactory",
    "OutgoingMessage",
    "SendResult",
    "open_gateway",
]


def open_gateway(
    settings: Settings, name: str | None = None, config: NotifyConfig | None = None
) -> Gateway:
    """Build the gateway called `name` (default: notify.yaml's `gateway`) from any plugin,
    with its options from notify.yaml's `gateways.<name>`."""
    from lifesign.plugins import sms_gateways

    config = config or load_notify_config()
    chosen = name or config.default_gateway
    factories = sms_gateways()
    factory = factories.get(chosen)
    if factory is None:
        raise GatewayConfigError(
            f"no SMS gateway named {chosen!r}",
            f"known gateways: {', '.join(sorted(factories))} (plugins add more)",
            Location(file=config.file, key="gateway"),
        )
    return factory.from_settings(settings, config.gateway_options(chosen))
