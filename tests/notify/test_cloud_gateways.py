"""Aliyun and Tencent Cloud adapters: the SDK request objects they build and how they read
answers and errors. No network: nothing here calls a provider."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from alibabacloud_dysmsapi20170525.models import SendSmsResponseBody
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.sms.v20210111.models import SendSmsResponse

from lifesign.config import load_settings
from lifesign.notify.config import load_notify_config
from lifesign.notify.gateways import GatewayConfigError, open_gateway
from lifesign.notify.gateways.base import OutgoingMessage, SendResult
from lifesign.notify.gateways.clouds import (
    AliyunGateway,
    TencentGateway,
    _exception_result,
    _templates,
)
from lifesign.notify.templates import load_templates

REMINDER = load_templates("zh-CN").render(
    "reminder_30", {"name": "张秀英", "valid_until": "2026年4月3日", "days_left": 30}
)
MESSAGE = OutgoingMessage(
    idempotency_key="1234",
    phone="13900001234",
    body=REMINDER.body,
    reason="reminder_30",
    template=REMINDER.template,
    lang="zh-CN",
    params=REMINDER.params,
)


def _aliyun() -> AliyunGateway:
    options = load_notify_config().gateway_options("aliyun")
    return AliyunGateway(
        sign_name=options["sign_name"],
        templates=_templates(options, "aliyun"),
        retryable_codes=options["retryable_codes"],
    )


def _tencent() -> TencentGateway:
    options = load_notify_config().gateway_options("tencent")
    return TencentGateway(
        sms_sdk_app_id=options["sms_sdk_app_id"],
        sign_name=options["sign_name"],
        templates=_templates(options, "tencent"),
        retryable_codes=options["retryable_codes"],
    )


def test_aliyun_request() -> None:
    request = _aliyun().build_request(MESSAGE)
    assert request.phone_numbers == "13900001234"
    assert request.sign_name == "亳州市人社局"
    assert request.template_code == "SMS_000000003"
    assert request.out_id == "1234"  # the idempotency key, visible in Aliyun's records
    assert request.to_map()["TemplateParam"] == (
        '{"name": "张秀英", "valid_until": "2026年4月3日", "days_left": "30", '
        '"app_name": "国家社会保险公共服务平台或“皖事通”App", "hotline": "12333"}'
    )


def test_aliyun_answers_and_errors() -> None:
    gateway = _aliyun()
    assert gateway.interpret(SendSmsResponseBody(code="OK", biz_id="9001^0")) == SendResult.ok(
        "9001^0"
    )
    illegal = gateway.interpret(
        SendSmsResponseBody(code="isv.MOBILE_NUMBER_ILLEGAL", message="非法手机号")
    )
    assert illegal == SendResult.permanent("Aliyun isv.MOBILE_NUMBER_ILLEGAL: 非法手机号")
    throttled = gateway.interpret(SendSmsResponseBody(code="isv.BUSINESS_LIMIT_CONTROL"))
    assert throttled.retryable and not throttled.accepted
    assert gateway.error_result("Throttling.User", "slow down").retryable


def test_tencent_request() -> None:
    request = _tencent().build_request(MESSAGE)
    assert request.SmsSdkAppId == "1400000000"
    assert request.SignName == "亳州市人社局"
    assert request.TemplateId == "1000003"
    # Positional, in the order notify.yaml gives for the registered template.
    assert request.TemplateParamSet == [
        "张秀英",
        "2026年4月3日",
        "30",
        "国家社会保险公共服务平台或“皖事通”App",
        "12333",
    ]
    assert request.PhoneNumberSet == ["+8613900001234"]
    assert request.SessionContext == "1234"


def test_tencent_answers_and_errors() -> None:
    gateway = _tencent()
    accepted = SendSmsResponse()
    accepted._deserialize(
        {
            "SendStatusSet": [
                {"SerialNo": "2433:1", "PhoneNumber": "+8613900001234", "Code": "Ok", "Fee": 2}
            ],
            "RequestId": "r-1",
        }
    )
    assert gateway.interpret(accepted) == SendResult.ok("2433:1")
    refused = SendSmsResponse()
    refused._deserialize(
        {
            "SendStatusSet": [
                {"Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "bad"}
            ]
        }
    )
    assert gateway.interpret(refused) == SendResult.permanent(
        "Tencent InvalidParameterValue.IncorrectPhoneNumber: bad"
    )
    assert gateway.error_result("InternalError.Timeout", "").retryable  # prefix "InternalError."
    assert gateway.error_result("RequestLimitExceeded", "").retryable
    assert not gateway.error_result("FailedOperation.SignatureIncorrectOrUnapproved", "").retryable
    error = TencentCloudSDKException("ClientNetworkError", "Connection refused")
    assert _exception_result(error).retryable


def test_a_reason_without_a_registered_template_is_a_permanent_failure() -> None:
    message = OutgoingMessage("1", "13900001234", "x", "birthday", "zh-CN/birthday", "zh-CN")
    for gateway in (_aliyun(), _tencent()):
        result = gateway.send(message)  # refused before any client is touched
        assert not result.accepted and not result.retryable
        assert "no" in str(result.error) and "'birthday'" in str(result.error)


def test_only_failures_that_surely_sent_nothing_are_retried() -> None:
    refused = requests.exceptions.ConnectionError("Failed to establish a new connection")
    aborted = requests.exceptions.ConnectionError("Connection aborted.")  # maybe after sending
    try:
        raise RuntimeError("SDK wrapper") from requests.exceptions.ConnectTimeout("connect")
    except RuntimeError as wrapped:
        assert _exception_result(wrapped).retryable
    assert _exception_result(refused).retryable
    assert not _exception_result(aborted).retryable
    lost = _exception_result(requests.exceptions.ReadTimeout("read timed out"))
    assert not lost.retryable and str(lost.error).startswith("outcome unknown")


def test_credentials_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(home=tmp_path)
    for variable in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(GatewayConfigError, match="set ALIBABA_CLOUD_ACCESS_KEY_ID"):
        open_gateway(settings, "aliyun")
    with pytest.raises(GatewayConfigError, match="set TENCENTCLOUD_SECRET_ID"):
        open_gateway(settings, "tencent")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "test-id")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "test-secret")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "test-id")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "test-key")
    aliyun = open_gateway(settings, "aliyun")
    tencent = open_gateway(settings, "tencent")
    assert isinstance(aliyun, AliyunGateway) and isinstance(tencent, TencentGateway)
    assert aliyun.deduplicates is False and tencent.deduplicates is False
    assert set(aliyun.templates) == set(tencent.templates) == set(load_templates().templates)
    with pytest.raises(GatewayConfigError, match="no SMS gateway named 'pigeon'"):
        open_gateway(settings, "pigeon")
