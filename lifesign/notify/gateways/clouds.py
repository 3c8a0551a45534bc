"""Adapters for the big Chinese SMS clouds: Aliyun (阿里云短信) and Tencent Cloud (腾讯云短信).

Both only send templates the city registered and had approved, under its registered signature;
notify.yaml maps each reason to the provider's template code and the parameters it takes.
Credentials come from the environment only (never from files in the repository):
Aliyun ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET, Tencent
TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY. The SDKs (`pip install lifesign[sms-clouds]`)
are imported when a gateway is built, not before.

Neither provider dedupes on our idempotency key (it travels as Aliyun's OutId and Tencent's
SessionContext, so it shows in their records): so a lost answer (read timeout) is NOT retried
— the message is marked failed with "outcome unknown" instead of risking a second SMS; only
failures that certainly sent nothing (connection refused, throttling, provider errors they
document as retryable) are retried.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lifesign.config import Settings
from lifesign.errors import Location
from lifesign.notify.gateways.base import GatewayConfigError, OutgoingMessage, SendResult

# Failures that happen before a request reaches the provider: safe to retry.
_NOT_SENT_ERRORS = (
    "ConnectTimeout",
    "ConnectionRefused",
    "Connection refused",
    "NewConnectionError",
    "Failed to establish a new connection",
    "NameResolution",
    "Name or service not known",
    "ConnectError",
)


@dataclass(frozen=True)
class CloudTemplate:
    """A template registered with the provider: its code and the parameters it takes, in
    order (Tencent's are positional; Aliyun's are named)."""

    code: str
    params: tuple[str, ...]


def _templates(options: Mapping[str, Any], gateway: str) -> dict[str, CloudTemplate]:
    raw = options.get("templates") or {}
    templates: dict[str, CloudTemplate] = {}
    for reason, entry in raw.items():
        if not isinstance(entry, Mapping) or not entry.get("code"):
            raise GatewayConfigError(
                f"the {gateway} template of reason {reason!r} has no code",
                "give {code: ..., params: [...]}",
                Location(key=f"gateways.{gateway}.templates.{reason}"),
            )
        templates[str(reason)] = CloudTemplate(
            str(entry["code"]), tuple(str(p) for p in entry.get("params") or ())
        )
    return templates


def _credential(variable: str, gateway: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise GatewayConfigError(
            f"the {gateway} SMS gateway has no credentials",
            f"set {variable} in the environment",
            Location(key=variable),
        )
    return value


def _is_retryable(code: str, retryable: Sequence[str]) -> bool:
    """Codes are matched exactly, or by prefix when the configured code ends with a dot."""
    return any(code == r or (r.endswith(".") and code.startswith(r)) for r in retryable)


def _exception_result(error: BaseException) -> SendResult:
    """A network failure: retry only if the request surely never left."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(f"{type(e).__name__} {e}" for e in chain)
    if any(marker in text for marker in _NOT_SENT_ERRORS):
        return SendResult.retry(f"cannot reach the provider: {type(error).__name__}")
    return SendResult.permanent(
        f"outcome unknown ({type(error).__name__}: {str(error)[:200]}); "
        "the provider does not dedupe, so not re-sent"
    )


class _CloudGateway:
    """What both adapters share: the registered templates and signature, the credentials from
    the environment, the provider codes that may be retried, and how a send turns the SDK's
    answer or exception into a `SendResult`. An adapter says how to build its request
    (`_request`), call its SDK (`_call`), read an answer (`interpret`) and name an SDK
    exception (`_sdk_error`)."""

    name: str  # the gateway's name in notify.yaml
    label: str  # the provider, in error messages
    deduplicates = False

    def __init__(
        self,
        *,
        sign_name: str,
        templates: Mapping[str, CloudTemplate],
        retryable_codes: Sequence[str] = (),
        client: Any = None,
    ) -> None:
        self.sign_name = sign_name
        self.templates = dict(templates)
        self.retryable_codes = tuple(retryable_codes)
        self._client = client

    @classmethod
    def _credentials(cls, *variables: str) -> list[str]:
        return [_credential(variable, cls.name) for variable in variables]

    @classmethod
    def _sdk_missing(cls, error: ImportError) -> GatewayConfigError:
        return GatewayConfigError(
            f"the {cls.label} SMS SDK is not installed", "pip install 'lifesign[sms-clouds]'"
        )

    @classmethod
    def _common_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "sign_name": str(options.get("sign_name", "")),
            "templates": _templates(options, cls.name),
            "retryable_codes": [str(c) for c in options.get("retryable_codes") or ()],
        }

    def template_values(self, message: OutgoingMessage) -> tuple[CloudTemplate, dict[str, str]]:
        """The message's template and its parameters in the template's order (ValueError if
        the reason has no template or the message lacks a parameter)."""
        template = self.templates.get(message.reason)
        if template is None:
            raise ValueError(f"no {self.label} template registered for reason {message.reason!r}")
        missing = [p for p in template.params if p not in message.params]
        if missing:
            raise ValueError(f"message lacks template parameter(s) {', '.join(missing)}")
        return template, {p: message.params[p] for p in template.params}

    def error_result(self, code: str, message: str) -> SendResult:
        error = f"{self.label} {code}: {message}"
        if _is_retryable(code, self.retryable_codes):
            return SendResult.retry(error)
        return SendResult.permanent(error)

    def build_request(self, message: OutgoingMessage) -> Any:
        """The SDK's SendSmsRequest for this message (ValueError if it cannot be built)."""
        template, values = self.template_values(message)
        return self._request(message, template, values)

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            request = self.build_request(message)
        except ValueError as error:
            return SendResult.permanent(str(error))
        try:
            response = self._call(request)
        except Exception as error:  # the SDKs' transport errors are not typed
            coded = self._sdk_error(error)
            if coded is None:
                return _exception_result(error)
            return self.error_result(*coded)
        return self.interpret(response)

    def _request(
        self, message: OutgoingMessage, template: CloudTemplate, values: dict[str, str]
    ) -> Any:
        raise NotImplementedError

    def _call(self, request: Any) -> Any:
        raise NotImplementedError

    def _sdk_error(self, error: Exception) -> tuple[str, str] | None:
        """(code, message) of a provider's error answer; None for a network failure."""
        raise NotImplementedError

    def interpret(self, response: Any) -> SendResult:
        raise NotImplementedError


class AliyunGateway(_CloudGateway):
    """Aliyun SMS (dysmsapi 2017-05-25): SendSms with sign name, template code, template
    parameters as JSON, and OutId = the idempotency key."""

    name = "aliyun"
    label = "Aliyun"

    @classmethod
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> AliyunGateway:
        key_id, secret = cls._credentials(
            "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        )
        try:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi.models import Config
        except ImportError as error:
            raise cls._sdk_missing(error) from error
        endpoint = str(options.get("endpoint", "dysmsapi.aliyuncs.com"))
        client = Client(Config(access_key_id=key_id, access_key_secret=secret, endpoint=endpoint))
        return cls(client=client, **cls._common_options(options))

    def _request(
        self, message: OutgoingMessage, template: CloudTemplate, values: dict[str, str]
    ) -> Any:
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        return SendSmsRequest(
            phone_numbers=message.phone.removeprefix("+86"),
            sign_name=self.sign_name,
            template_code=template.code,
            template_param=json.dumps(values, ensure_ascii=False),
            out_id=message.idempotency_key,
        )

    def _call(self, request: Any) -> Any:
        return self._client.send_sms(request).body

    def _sdk_error(self, error: Exception) -> tuple[str, str] | None:
        from Tea.exceptions import TeaException

        if isinstance(error, TeaException):
            return str(error.code), str(error.message)
        return None

    def interpret(self, response: Any) -> SendResult:
        """SendSmsResponseBody → result: code OK is accepted (BizId is the reference)."""
        code = str(getattr(response, "code", "") or "")
        if code == "OK":
            return SendResult.ok(str(response.biz_id))
        return self.error_result(code, str(getattr(response, "message", "") or ""))


class TencentGateway(_CloudGateway):
    """Tencent Cloud SMS (v2021-01-11): SendSms with SmsSdkAppId, SignName, TemplateId,
    positional TemplateParamSet, PhoneNumberSet in +86 form, SessionContext = the key."""

    name = "tencent"
    label = "Tencent"

    def __init__(self, *, sms_sdk_app_id: str, **common: Any) -> None:
        super().__init__(**common)
        self.sms_sdk_app_id = sms_sdk_app_id

    @classmethod
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> TencentGateway:
        secret_id, secret_key = cls._credentials(
            "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"
        )
        try:
            from tencentcloud.common import credential
            from tencentcloud.sms.v20210111.sms_client import SmsClient
        except ImportError as error:
            raise cls._sdk_missing(error) from error
        region = str(options.get("region", "ap-guangzhou"))
        client = SmsClient(credential.Credential(secret_id, secret_key), region)
        return cls(
            sms_sdk_app_id=str(options.get("sms_sdk_app_id", "")),
            client=client,
            **cls._common_options(options),
        )

    def _request(
        self, message: OutgoingMessage, template: CloudTemplate, values: dict[str, str]
    ) -> Any:
        from tencentcloud.sms.v20210111.models import SendSmsRequest

        phone = message.phone if message.phone.startswith("+") else f"+86{message.phone}"
        request = SendSmsRequest()
        request.SmsSdkAppId = self.sms_sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = template.code
        request.TemplateParamSet = list(values.values())  # positional, in the template's order
        request.PhoneNumberSet = [phone]
        request.SessionContext = message.idempotency_key
        return request

    def _call(self, request: Any) -> Any:
        return self._client.SendSms(request)

    def _sdk_error(self, error: Exception) -> tuple[str, str] | None:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )

        if not isinstance(error, TencentCloudSDKException):
            return None
        code = str(error.get_code() or "")
        if code.startswith("ClientNetworkError"):
            return None  # the SDK's wrapper of a transport error
        return code, str(error.get_message() or "")

    def interpret(self, response: Any) -> SendResult:
        """SendSmsResponse → result: the one SendStatus with Code "Ok" is accepted."""
        statuses = list(getattr(response, "SendStatusSet", None) or [])
        if not statuses:
            return SendResult.permanent("Tencent answered without a send status")
        status = statuses[0]
        if status.Code == "Ok":
            return SendResult.ok(str(status.SerialNo))
        return self.error_result(str(status.Code), str(status.Message or ""))
