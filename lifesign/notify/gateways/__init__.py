"""SMS gateways. Built-ins (file, console, http, aliyun, tencent) are registered as plugins by
lifesign.notify.gateways.builtin; others come from plugins (lifesign.hookspecs)."""

from lifesign.notify.gateways.base import Gateway, GatewayFactory, OutgoingMessage, SendResult

__all__ = ["Gateway", "GatewayFactory", "OutgoingMessage", "SendResult"]
