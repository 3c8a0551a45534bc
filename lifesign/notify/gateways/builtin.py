"""The built-in SMS gateways, registered as a plugin like any other (lifesign.plugins)."""

from __future__ import annotations

from collections.abc import Sequence

from lifesign.hookspecs import hookimpl
from lifesign.notify.gateways.base import GatewayFactory
from lifesign.notify.gateways.clouds import AliyunGateway, TencentGateway
from lifesign.notify.gateways.http import HttpGateway
from lifesign.notify.gateways.local import ConsoleGateway, FileGateway


@hookimpl
def lifesign_sms_gateways() -> Sequence[GatewayFactory]:
    return [FileGateway, ConsoleGateway, HttpGateway, AliyunGateway, TencentGateway]
