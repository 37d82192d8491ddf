"""The one path every channel shares: answer, subscribe only where reminders can arrive, log."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.model import Incoming
from bot.service import Service
from bot.state.store import Store
from tests.conftest import CAMPAIGN_NOW


@pytest.fixture
def services(tmp_path: Path, engine):
    store = Store(tmp_path / "bot.sqlite3")
    yield Service(engine=engine, store=store, settings=Settings(db=tmp_path / "bot.sqlite3"), clock=lambda: CAMPAIGN_NOW)
    store.close()


def test_subscribing_on_a_pushing_channel_is_recorded(services) -> None:
    reply = services.ask(Incoming("订阅提醒", "telegram", "7", "7"))
    assert reply.action == "subscribe"
    assert services.store.is_subscribed("telegram", "7")


@pytest.mark.parametrize("channel", ["web", "wecom", "cli"])
def test_channels_that_cannot_push_do_not_promise_reminders(services, channel: str) -> None:
    reply = services.ask(Incoming("订阅提醒", channel, "u1", "u1"))
    assert reply.action is None
    assert "暂不支持" in reply.text
    assert not services.store.subscribers()


def test_a_server_without_a_wechat_sender_refuses_wechat_subscriptions(services) -> None:
    services.senders = {"telegram": object()}  # serve() set up Telegram only (no WeChat secret)
    assert "暂不支持" in services.ask(Incoming("订阅提醒", "wechat", "o1", "o1")).text
    assert not services.store.is_subscribed("wechat", "o1")


def test_a_server_with_no_sender_accepts_no_subscription(services) -> None:
    services.senders = {}  # web chat only: nothing can push
    assert "暂不支持" in services.ask(Incoming("订阅提醒", "wechat", "o1", "o1")).text


def test_every_question_is_logged_with_its_outcome(services) -> None:
    services.ask(Incoming("总结几时交", "web", "s1"))
    services.ask(Incoming("明天会下雨吗", "web", "s1"))
    stats = services.store.stats()
    assert stats["questions"] == 2 and stats["fallbacks"] == 1
    assert services.store.unanswered() == [("明天会下雨吗", 1)]
