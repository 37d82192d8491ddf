"""WeChat push: the real aiohttp client against a recording fake of the WeChat API on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.channels.wechat.push import AccessTokenCache, WeChatApiError, WeChatCustomerServiceSender
from bot.channels.wechat.senders import wechat_senders
from bot.channels.wechat.template import WeChatSender
from bot.config import load_settings
from bot.service import Service
from bot.state.reminders import send_due
from bot.state.store import Store
from tests.fakes.wechat_api import APPID, SECRET, FakeWeChatApi

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
TZ = ZoneInfo("Asia/Shanghai")


class Clock:
    """A monotonic clock the test moves by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Harness = tuple[FakeWeChatApi, WeChatCustomerServiceSender, Clock]


@pytest.fixture
async def fake(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[FakeWeChatApi, str]:
    """The fake API listening on a random port of 127.0.0.1, and its base URL."""
    api = FakeWeChatApi()
    server = await aiohttp_server(api.app(), host="127.0.0.1")
    return api, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def harness(fake: tuple[FakeWeChatApi, str]):
    """A sender wired to the fake through a token cache with a hand-moved clock."""
    api, url = fake
    clock = Clock()
    sender = WeChatCustomerServiceSender(AccessTokenCache(APPID, SECRET, url, clock=clock))
    yield api, sender, clock
    await sender.close()


async def test_send_delivers_json_with_the_issued_token(harness: Harness) -> None:
    api, sender, _ = harness
    assert (await sender.send(OPENID, "距离总结材料截止还有 5 天")).outcome == "sent"
    assert api.token_requests == [
        {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    ]
    assert api.delivered == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "距离总结材料截止还有 5 天"}}
    ]
    (call,) = api.send_requests
    assert call["token"] == "TOKEN-1"
    assert "距离".encode() in call["raw"]  # ensure_ascii=False: real UTF-8, not \u escapes
    assert call["content_type"].startswith("application/json")
    # A second send reuses the cached token.
    assert (await sender.send(OPENID, "再次提醒")).outcome == "sent"
    assert len(api.token_requests) == 1
    assert api.send_requests[1]["token"] == "TOKEN-1"


async def test_concurrent_sends_fetch_the_token_once(harness: Harness) -> None:
    api, sender, _ = harness
    results = await asyncio.gather(*(sender.send(f"openid-{i}", f"提醒 {i}") for i in range(20)))
    assert [r.outcome for r in results] == ["sent"] * 20
    assert len(api.token_requests) == 1
    assert sender.tokens.fetches == 1
    assert sorted(m["touser"] for m in api.delivered) == sorted(f"openid-{i}" for i in range(20))
    assert {c["token"] for c in api.send_requests} == {"TOKEN-1"}


async def test_invalid_token_refetches_once_and_retries(harness: Harness) -> None:
    api, sender, _ = harness
    assert (await sender.send(OPENID, "预热")).outcome == "sent"
    api.next_errors.append(40001)
    assert (await sender.send(OPENID, "重试后送达")).outcome == "sent"
    assert len(api.token_requests) == 2
    assert [c["token"] for c in api.send_requests] == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
    assert [m["text"]["content"] for m in api.delivered] == ["预热", "重试后送达"]


async def test_concurrent_sends_with_a_revoked_token_refetch_once(harness: Harness) -> None:
    api, sender, _ = harness
    assert (await sender.send(OPENID, "预热")).outcome == "sent"
    api.revoke_all()
    results = await asyncio.gather(*(sender.send(f"openid-{i}", "提醒") for i in range(20)))
    assert [r.outcome for r in results] == ["sent"] * 20
    assert len(api.token_requests) == 2  # the first fetch plus ONE refresh for all twenty
    assert len(api.delivered) == 21


async def test_token_rejected_twice_raises_after_one_retry(harness: Harness) -> None:
    api, sender, _ = harness
    api.next_errors.extend([40001, 40001])
    with pytest.raises(WeChatApiError) as err:
        await sender.send(OPENID, "送不出去")
    assert err.value.errcode == 40001
    assert len(api.send_requests) == 2
    assert len(api.token_requests) == 2
    assert api.delivered == []


async def test_outside_48h_window_is_undeliverable(harness: Harness) -> None:
    api, sender, _ = harness
    api.user_errors[OPENID] = 45015
    assert (await sender.send(OPENID, "超过48小时")).outcome == "undeliverable"
    assert len(api.send_requests) == 1  # not retried
    assert len(api.token_requests) == 1


async def test_unfollowed_is_blocked_and_bad_openid_undeliverable(harness: Harness) -> None:
    api, sender, _ = harness
    api.user_errors["gone"] = 43004
    api.user_errors["bogus"] = 40003
    assert (await sender.send("gone", "提醒")).outcome == "blocked"
    assert (await sender.send("bogus", "提醒")).outcome == "undeliverable"
    assert (await sender.send("", "提醒")).outcome == "undeliverable"
    assert len(api.send_requests) == 2


async def test_daily_quota_used_up_is_deferred(harness: Harness) -> None:
    api, sender, _ = harness
    api.next_errors.append(45009)
    delivery = await sender.send(OPENID, "提醒")
    assert delivery.outcome == "deferred" and delivery.answer.startswith("45009")
    assert len(api.send_requests) == 1


@pytest.mark.parametrize("code", [45047, -1, 48001])
async def test_rate_limits_and_other_errors_raise(harness: Harness, code: int) -> None:
    api, sender, _ = harness
    api.next_errors.append(code)
    with pytest.raises(WeChatApiError) as err:
        await sender.send(OPENID, "提醒")
    assert err.value.errcode == code
    assert len(api.send_requests) == 1


async def test_cached_token_is_refetched_shortly_before_expiry(harness: Harness) -> None:
    api, sender, clock = harness
    assert (await sender.send(OPENID, "一")).outcome == "sent"
    clock.now += 7200 - 301  # still inside expires_in minus the safety margin
    assert (await sender.send(OPENID, "二")).outcome == "sent"
    assert len(api.token_requests) == 1
    clock.now += 2  # now within the last five minutes: fetch ahead of WeChat's expiry
    assert (await sender.send(OPENID, "三")).outcome == "sent"
    assert len(api.token_requests) == 2
    assert [c["token"] for c in api.send_requests] == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]


async def test_token_expired_on_the_server_refetches(harness: Harness) -> None:
    api, sender, _ = harness
    assert (await sender.send(OPENID, "一")).outcome == "sent"
    api.expire_all()  # WeChat's clock ran ahead of ours
    assert (await sender.send(OPENID, "二")).outcome == "sent"
    assert [c["token"] for c in api.send_requests] == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
    assert len(api.delivered) == 2


async def test_invalidate_forces_a_refresh(harness: Harness) -> None:
    api, sender, _ = harness
    tokens = sender.tokens
    assert await tokens.get() == "TOKEN-1"
    tokens.invalidate("TOKEN-0")  # a stale token that is no longer cached changes nothing
    assert await tokens.get() == "TOKEN-1"
    tokens.invalidate()
    assert await tokens.get() == "TOKEN-2"
    assert len(api.token_requests) == 2


async def test_long_text_is_cut_under_2048_bytes(harness: Harness) -> None:
    api, sender, _ = harness
    text = "质量月活动总结材料报送" * 300  # 3300 characters, 9900 bytes
    assert (await sender.send(OPENID, text)).outcome == "sent"
    content = api.delivered[0]["text"]["content"]
    size = len(content.encode("utf-8"))
    assert 2040 <= size <= 2048
    assert content.endswith("…")
    assert text.startswith(content[:-1])


async def test_wrong_credentials_raise(fake: tuple[FakeWeChatApi, str]) -> None:
    api, url = fake
    sender = WeChatCustomerServiceSender(AccessTokenCache(APPID, "wrong", url))
    try:
        with pytest.raises(WeChatApiError) as err:
            await sender.send(OPENID, "提醒")
        assert err.value.errcode == 40125
        assert "wrong" not in str(err.value)  # the secret never ends up in a log line
        assert api.send_requests == []
    finally:
        await sender.close()


async def test_network_error_raises(unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"  # nothing listens: connection refused
    sender = WeChatCustomerServiceSender(AccessTokenCache(APPID, SECRET, url))
    try:
        with pytest.raises(aiohttp.ClientError):
            await sender.send(OPENID, "提醒")
    finally:
        await sender.close()


async def test_close_releases_the_session_and_a_later_send_reopens(harness: Harness) -> None:
    api, sender, _ = harness
    assert (await sender.send(OPENID, "一")).outcome == "sent"
    session = sender.tokens.session()
    await sender.close()
    assert session.closed
    assert (await sender.send(OPENID, "二")).outcome == "sent"
    assert len(api.delivered) == 2


def _services(tmp_path: Path, **env: str) -> Service:
    """Service with settings from env; only the settings and store matter for push."""
    store = Store(tmp_path / "bot.sqlite3")
    settings = load_settings(env, db=tmp_path / "bot.sqlite3")
    return Service(engine=None, store=store, settings=settings, clock=lambda: datetime.now(TZ))  # type: ignore[arg-type]


def test_no_settings_no_sender(tmp_path: Path) -> None:
    cases = [{}, {"BOT_WECHAT_APPID": APPID}, {"BOT_WECHAT_SECRET": SECRET}]
    for env in cases:
        services = _services(tmp_path, **env)
        try:
            assert wechat_senders(services) == {}
        finally:
            services.store.close()


async def test_settings_give_a_wechat_sender(
    tmp_path: Path, fake: tuple[FakeWeChatApi, str]
) -> None:
    api, url = fake
    services = _services(
        tmp_path, BOT_WECHAT_APPID=APPID, BOT_WECHAT_SECRET=SECRET, BOT_WECHAT_API_URL=url
    )
    services.store.touch_user("wechat", OPENID, datetime.now(TZ))  # inside the 48 hours
    senders = wechat_senders(services)
    try:
        assert list(senders) == ["wechat"]
        sender = senders["wechat"]
        assert isinstance(sender, WeChatSender)
        assert (await sender.send(OPENID, "配置生效")).outcome == "sent"
        assert api.delivered[0]["touser"] == OPENID
    finally:
        await senders["wechat"].close()  # type: ignore[attr-defined]
        services.store.close()


@dataclass(frozen=True)
class Deadline:
    """The three fields reminders need."""

    id: str
    date: date
    what: str


async def test_reminder_run_records_each_wechat_outcome(
    tmp_path: Path, fake: tuple[FakeWeChatApi, str]
) -> None:
    api, url = fake
    api.user_errors.update({"late": 45015, "gone": 43004})
    now = datetime(2021, 9, 29, 9, 30, tzinfo=TZ)
    deadline = Deadline("submit-summary", date(2021, 9, 30), "报送质量月活动总结")
    services = _services(
        tmp_path, BOT_WECHAT_APPID=APPID, BOT_WECHAT_SECRET=SECRET, BOT_WECHAT_API_URL=url
    )
    store = services.store
    for chat in ("fresh", "late", "gone"):
        store.subscribe("wechat", chat, chat, now - timedelta(days=1))
        store.touch_user("wechat", chat, datetime.now(TZ) - timedelta(hours=1))  # our record: inside 48 h
    senders = wechat_senders(services)
    try:
        report = await send_due(
            [deadline], store, now, TZ, senders, lambda d, days: f"{d.what}：还有 {days} 天"
        )
    finally:
        await senders["wechat"].close()  # type: ignore[attr-defined]
    try:
        assert (report.sent, report.undeliverable, report.blocked, report.failed) == (1, 1, 1, 0)
        assert [m["touser"] for m in api.delivered] == ["fresh"]
        assert api.delivered[0]["text"]["content"] == "报送质量月活动总结：还有 1 天"
        assert len(api.token_requests) == 1
        assert {s.chat for s in store.subscribers("wechat")} == {"fresh", "late"}
    finally:
        store.close()
