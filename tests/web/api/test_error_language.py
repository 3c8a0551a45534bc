"""The API's refusals in the caller's language: English by default (departments' programs),
Chinese for `Accept-Language: zh-CN` or `?lang=zh-CN` — every refusal of every endpoint, through
the one error handler and the i18n catalogs (lifesign.web.errortext)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from lifesign.web.api.ratelimit import RateLimiter
from lifesign.web.errortext import CATALOG, accepted_language, say
from lifesign.web.i18n import messages
from tests.web.api.conftest import ApiClient, Recipient, id_number

CJK = re.compile(r"[\u4e00-\u9fff]")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}

Call = Callable[[ApiClient, dict[str, str]], httpx.Response]


def _refusals(recipients: dict[str, Recipient]) -> dict[str, tuple[int, str, Call]]:
    """Every kind of refusal: (status, the English `what`, the call given extra headers)."""
    person = recipients["A1"].id_number
    stranger = id_number("110101", "19900307", "011")
    at = "2026-11-20T09:30:00+08:00"

    def with_token(department: str, *scopes: str) -> Callable[[ApiClient], dict[str, str]]:
        return lambda api: api.token(department, *scopes)

    hrss, visits = with_token("hrss"), with_token("civil_affairs", "visits")
    return {
        "no token": (401, "no API token", lambda api, h: api.get(
            f"/api/v1/persons/{person}/status", headers=h)),
        "bad token": (401, "the API token is not valid", lambda api, h: api.get(
            f"/api/v1/persons/{person}/status", headers={**h, "Authorization": "Bearer lsk_no"})),
        "scope": (403, "this token may not do that", lambda api, h: api.get(
            "/api/v1/tasks", headers={**hrss(api), **h})),
        "invalid id": (422, "the ID number is not valid (bad_length)", lambda api, h: api.get(
            "/api/v1/persons/12345/status", headers={**hrss(api), **h})),
        "unknown id": (404, "no recipient with ID number 1101**********", lambda api, h: api.get(
            f"/api/v1/persons/{stranger}/status", headers={**hrss(api), **h})),
        "batch": (422, "batch too large", lambda api, h: api.post(
            "/api/v1/status/batch", json={"id_numbers": [person] * 10_001},
            headers={**hrss(api), **h})),
        "page": (422, "page too large", lambda api, h: api.get(
            "/api/v1/changes?limit=100000", headers={**hrss(api), **h})),
        "cursor": (422, "the cursor is not valid", lambda api, h: api.get(
            "/api/v1/changes?cursor=abc", headers={**hrss(api), **h})),
        "task status": (422, "unknown task status 'lost'", lambda api, h: api.get(
            "/api/v1/tasks?status=lost", headers={**visits(api), **h})),
        "unknown task": (404, "there is no visit task 999999", lambda api, h: api.post(
            "/api/v1/visits/999999/outcome", json={"outcome": "seen_alive", "at": at,
                                                   "worker": "w"}, headers={**visits(api), **h})),
        "unknown source": (422, "unknown source 'nowhere'", lambda api, h: api.post(
            "/api/v1/evidence", json={"source": "nowhere", "records": [{"a": 1}]},
            headers={**hrss(api), **h})),
        "foreign source": (403, "source 'binyiguan_cremation' is not of your department",
                           lambda api, h: api.post(
            "/api/v1/evidence", json={"source": "binyiguan_cremation", "records": [{"a": 1}]},
            headers={**hrss(api), **h})),
        "no records": (422, "no records", lambda api, h: api.post(
            "/api/v1/evidence", json={"source": "binyiguan_cremation", "records": []},
            headers={**with_token("funeral_home")(api), **h})),
        "bad body": (422, "the request is not valid", lambda api, h: api.post(
            "/api/v1/status/batch", json={"numbers": []}, headers={**hrss(api), **h})),
        "no route": (404, "not found", lambda api, h: api.get("/api/v1/nothing", headers=h)),
    }  # fmt: skip


def test_every_refusal_is_english_by_default_and_chinese_on_request(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    for name, (status, what, call) in _refusals(recipients).items():
        english = call(api, {})
        assert english.status_code == status, (name, english.text)
        assert english.headers["Content-Language"] == "en"
        assert english.json()["error"]["what"].startswith(what.split("*")[0]), name
        chinese = call(api, ZH)
        assert chinese.status_code == status, (name, chinese.text)
        assert chinese.headers["Content-Language"] == "zh-CN"
        assert "Accept-Language" in chinese.headers["Vary"]
        said, meant = chinese.json()["error"], english.json()["error"]
        assert CJK.search(said["what"]), (name, said)  # nothing left in English
        if name != "bad body":  # (pydantic's own explanation of the body stays as it says it)
            assert CJK.search(said["why"]), (name, said)
        assert said["where"] == meant["where"], name
    # the varying parts carried over: the limit and the count sent, the masked number
    batch = _refusals(recipients)["batch"][2](api, ZH).json()["error"]["why"]
    assert "10000" in batch and "10001" in batch
    unknown = _refusals(recipients)["unknown id"][2](api, ZH).json()["error"]["what"]
    assert "1101**********" in unknown and "0113" not in unknown.replace("*", "")


def test_the_rate_limit_in_chinese_keeps_retry_after(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    clock = [0.0]
    api.app_.state.api_rate_limiter = RateLimiter(1.0, 1, clock=lambda: clock[0])
    headers = {**api.token("hrss"), **ZH}
    url = f"/api/v1/persons/{recipients['A1'].id_number}/status"
    assert api.get(url, headers=headers).status_code == 200
    refused = api.get(url, headers=headers)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    error = refused.json()["error"]
    assert error["what"] == "调用过于频繁" and "1 秒后重试" in error["why"]


def test_the_language_asked_by_query_or_header(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    url = "/api/v1/persons/12345/status"
    headers = api.token("hrss")

    def what(address: str, extra: dict[str, str] | None = None) -> str:
        answer = api.get(address, headers={**headers, **(extra or {})})
        return str(answer.json()["error"]["what"])

    english, chinese = "the ID number is not valid (bad_length)", "身份证号码无效（bad_length）"
    assert what(url) == english
    assert what(url + "?lang=zh-CN") == chinese
    assert what(url, {"Accept-Language": "fr, zh;q=0.5"}) == chinese  # the best one we speak
    assert what(url, {"Accept-Language": "en-GB, zh;q=0.8"}) == english
    assert what(url, {"Accept-Language": "de"}) == english
    assert what(url + "?lang=en", ZH) == english  # the address says more than the header


def test_batch_items_explained_in_the_language_asked(
    api: ApiClient, recipients: dict[str, Recipient]
) -> None:
    stranger = id_number("110101", "19900307", "011")
    body = {"id_numbers": [recipients["A1"].id_number, "12345", stranger, ""]}
    items = api.post("/api/v1/status/batch", json=body, headers={**api.token("hrss"), **ZH}).json()[
        "items"
    ]
    assert [i.get("reason") for i in items] == [None, "bad_length", "not_found", "empty"]
    assert items[1]["message"] == "身份证号码应为 18 位（旧号码 15 位），此号码为 5 位"
    assert all(CJK.search(i["message"]) for i in items[1:])


def test_the_catalogs_pair_every_message_with_the_same_placeholders() -> None:
    def catalog(lang: str) -> dict[str, str]:
        return {k: v for k, v in messages(lang).items() if k.startswith(CATALOG)}

    english, chinese = catalog("en"), catalog("zh-CN")
    assert english and set(english) == set(chinese)
    for key, text in english.items():
        names = set(re.findall(r"\{(\w+)\}", text))
        assert names == set(re.findall(r"\{(\w+)\}", chinese[key])), key
        assert CJK.search(chinese[key]), key


@pytest.mark.parametrize(
    ("header", "expected"),
    [("zh-CN", "zh-CN"), ("zh-Hans-CN", "zh-CN"), ("en-US,en;q=0.9", "en"),
     ("zh;q=0, en", "en"), ("*", None), ("", None), (";;;", None)],
)  # fmt: skip
def test_accept_language(header: str, expected: str | None) -> None:
    assert accepted_language(header) == expected


def test_a_message_no_template_matches_stays_as_it_was() -> None:
    assert say("something nobody translated", "zh-CN") == "something nobody translated"
    assert say("batch too large", "en") == "batch too large"
