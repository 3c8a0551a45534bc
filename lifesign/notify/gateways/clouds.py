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


def _params_for(message: OutgoingMessage, template: CloudTemplate) -> list[tuple[str, str]]:
    missing = [p for p in template.params if p not in message.params]
    if missing:
        raise KeyError(", ".join(missing))
    return [(p, message.params[p]) for p in template.params]


class AliyunGateway:
    """Aliyun SMS (dysmsapi 2017-05-25): SendSms with sign name, template code, template
    parameters as JSON, and OutId = the idempotency key."""

    name = "aliyun"
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
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> AliyunGateway:
        key_id = _credential("ALIBABA_CLOUD_ACCESS_KEY_ID", cls.name)
        secret = _credential("ALIBABA_CLOUD_ACCESS_KEY_SECRET", cls.name)
        try:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi.models import Config
        except ImportError as error:
            raise GatewayConfigError(
                "the Aliyun SMS SDK is not installed",
                "pip install 'lifesign[sms-clouds]'",
            ) from error
        client = Client(
            Config(
                access_key_id=key_id,
                access_key_secret=secret,
                endpoint=str(options.get("endpoint", "dysmsapi.aliyuncs.com")),
            )
        )
        return cls(
            sign_name=str(options.get("sign_name", "")),
            templates=_templates(options, cls.name),
            retryable_codes=[str(c) for c in options.get("retryable_codes") or ()],
            client=client,
        )

    def build_request(self, message: OutgoingMessage) -> Any:
        """The SDK's SendSmsRequest for this message (ValueError if it cannot be built)."""
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        template = self.templates.get(message.reason)
        if template is None:
            raise ValueError(f"no Aliyun template registered for reason {message.reason!r}")
        try:
            params = dict(_params_for(message, template))
        except KeyError as error:
            raise ValueError(f"message lacks template parameter(s) {error.args[0]}") from error
        return SendSmsRequest(
            phone_numbers=message.phone.removeprefix("+86"),
            sign_name=self.sign_name,
            template_code=template.code,
            template_param=json.dumps(params, ensure_ascii=False),
            out_id=message.idempotency_key,
        )

    def interpret(self, body: Any) -> SendResult:
        """SendSmsResponseBody → result: code OK is accepted (BizId is the reference)."""
        code = str(getattr(body, "code", "") or "")
        if code == "OK":
            return SendResult.ok(str(body.biz_id))
        return self.error_result(code, str(getattr(body, "message", "") or ""))

    def error_result(self, code: str, message: str) -> SendResult:
        error = f"Aliyun {code}: {message}"
        if _is_retryable(code, self.retryable_codes):
            return SendResult.retry(error)
        return SendResult.permanent(error)

    def send(self, message: OutgoingMessage) -> SendResult:
        from Tea.exceptions import TeaException

        try:
            request = self.build_request(message)
        except ValueError as error:
            return SendResult.permanent(str(error))
        try:
            response = self._client.send_sms(request)
        except TeaException as error:
            return self.error_result(str(error.code), str(error.message))
        except Exception as error:  # the SDK's transport errors are not typed
            return _exception_result(error)
        return self.interpret(response.body)


class TencentGateway:
    """Tencent Cloud SMS (v2021-01-11): SendSms with SmsSdkAppId, SignName, TemplateId,
    positional TemplateParamSet, PhoneNumberSet in +86 form, SessionContext = the key."""

    name = "tencent"
    deduplicates = False

    def __init__(
        self,
        *,
        sms_sdk_app_id: str,
        sign_name: str,
        templates: Mapping[str, CloudTemplate],
        retryable_codes: Sequence[str] = (),
        client: Any = None,
    ) -> None:
        self.sms_sdk_app_id = sms_sdk_app_id
        self.sign_name = sign_name
        self.templates = dict(templates)
        self.retryable_codes = tuple(retryable_codes)
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings, options: Mapping[str, Any]) -> TencentGateway:
        secret_id = _credential("TENCENTCLOUD_SECRET_ID", cls.name)
        secret_key = _credential("TENCENTCLOUD_SECRET_KEY", cls.name)
        try:
            from tencentcloud.common import credential
            from tencentcloud.sms.v20210111.sms_client import SmsClient
        except ImportError as error:
            raise GatewayConfigError(
                "the Tencent Cloud SMS SDK is not installed",
                "pip install 'lifesign[sms-clouds]'",
            ) from error
        client = SmsClient(
            credential.Credential(secret_id, secret_key), str(options.get("region", "ap-guangzhou"))
        )
        return cls(
            sms_sdk_app_id=str(options.get("sms_sdk_app_id", "")),
            sign_name=str(options.get("sign_name", "")),
            templates=_templates(options, cls.name),
            retryable_codes=[str(c) for c in options.get("retryable_codes") or ()],
            client=client,
        )

    def build_request(self, message: OutgoingMessage) -> Any:
        """The SDK's SendSmsRequest for this message (ValueError if it cannot be built)."""
        from tencentcloud.sms.v20210111.models import SendSmsRequest

        template = self.templates.get(message.reason)
        if template is None:
            raise ValueError(f"no Tencent template registered for reason {message.reason!r}")
        try:
            values = [value for _name, value in _params_for(message, template)]
        except KeyError as error:
            raise ValueError(f"message lacks template parameter(s) {error.args[0]}") from error
        phone = message.phone if message.phone.startswith("+") else f"+86{message.phone}"
        request = SendSmsRequest()
        request.SmsSdkAppId = self.sms_sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = template.code
        request.TemplateParamSet = values
        request.PhoneNumberSet = [phone]
        request.SessionContext = message.idempotency_key
        return request

    def interpret(self, response: Any) -> SendResult:
        """SendSmsResponse → result: the one SendStatus with Code "Ok" is accepted."""
        statuses = list(getattr(response, "SendStatusSet", None) or [])
        if not statuses:
            return SendResult.permanent("Tencent answered without a send status")
        status = statuses[0]
        if status.Code == "Ok":
            return SendResult.ok(str(status.SerialNo))
        return self.error_result(str(status.Code), str(status.Message or ""))

    def error_result(self, code: str, message: str) -> SendResult:
        error = f"Tencent {code}: {message}"
        if _is_retryable(code, self.retryable_codes):
            return SendResult.retry(error)
        return SendResult.permanent(error)

    def send(self, message: OutgoingMessage) -> SendResult:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )

        try:
            request = self.build_request(message)
        except ValueError as error:
            return SendResult.permanent(str(error))
        try:
            response = self._client.SendSms(request)
        except TencentCloudSDKException as error:
            code = str(error.get_code() or "")
            if code.startswith("ClientNetworkError"):
                return _exception_result(error)
            return self.error_result(code, str(error.get_message() or ""))
        except Exception as error:  # transport errors
            return _exception_result(error)
        return self.interpret(response)
