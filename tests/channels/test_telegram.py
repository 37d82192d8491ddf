"""Telegram adapter: the real PTB Application over HTTP against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.channels.telegram.handlers import TelegramSender
from bot.channels.telegram.render import split_message
from bot.channels.telegram.runtime import WEBHOOK_SECRET_HEADER, Runner, start_telegram
from bot.config import ROOT, load_settings
from bot.core.engine import Engine
from bot.core.model import Incoming
from bot.service import Service, load_engine
from bot.state.reminders import send_due
from bot.state.store import Store
from tests.fakes.bot_api import BOT_USERNAME, TOKEN, FakeBotApi, Sent

# PTB itself warns whenever it builds a RetryAfter (int vs timedelta migration); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TZ = ZoneInfo("Asia/Shanghai")
FIXED_NOW = datetime(2021, 9, 20, 10, 0, tzinfo=TZ)  # ten days before the 9月30日 deadline
ADMIN = 4242
USER = 1001
GROUP = -100555
TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip


# ----------------------------------------------------------------------------- helpers


class _TelegramHtml(HTMLParser):
    """Parses text the way Telegram's HTML mode would, noting anything it would reject."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tags: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"unsupported tag <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"unsupported tag </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in {"lt", "gt", "amp", "quot"}:
            self.problems.append(f"unsupported entity &{name};")
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))


def parse_telegram_html(text: str) -> tuple[list[str], str]:
    """Tags used and the text a user sees; fails on markup Telegram would refuse."""
    assert re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text) is None, text
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    assert not parser.problems, parser.problems
    return parser.tags, "".join(parser.text)


def visible(sent: Sent) -> str:
    """What the user reads in the chat."""
    return parse_telegram_html(sent.text)[1]


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition on state the bot changes in the background."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine(ROOT / "knowledge", ROOT / "intents.yaml")


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.close()


def make_services(db: Path, engine: Engine, fake: FakeBotApi, **overrides: object) -> Service:
    """Service as the running bot builds them, pointed at the fake API, with a fixed clock."""
    overrides.setdefault("admins", frozenset({str(ADMIN)}))
    settings = load_settings(
        {}, db=db, telegram_token=TOKEN, telegram_api_url=fake.base_url, **overrides
    )
    return Service(engine=engine, store=Store(db), settings=settings, clock=lambda: FIXED_NOW)


@pytest.fixture
def services(tmp_path, engine, fake) -> Service:
    services = make_services(tmp_path / "bot.sqlite3", engine, fake)
    yield services
    services.store.close()


@pytest.fixture
async def bot(services, fake) -> AsyncIterator[Runner]:
    runner = await asyncio.wait_for(start_telegram(services, None), 10)
    assert runner.mode == "polling"
    yield runner
    await asyncio.wait_for(runner.stop(), 10)


def suggestion_buttons(sent: Sent) -> list[dict]:
    """The suggested-question buttons of an answer (not its 👍/👎 row)."""
    return [b for b in sent.buttons if not b["text"].startswith(("👍", "👎"))]


def engine_text(services: Service, question: str, chat: int = USER) -> str:
    """The engine's own answer, to compare with what the user was shown."""
    incoming = Incoming(question, channel="telegram", user=str(chat), chat=str(chat))
    return services.engine.answer(incoming, FIXED_NOW).text


# ----------------------------------------------------------------------------- split_message


def test_short_text_is_one_message():
    assert split_message("总结材料9月30日前报送") == ["总结材料9月30日前报送"]
    assert split_message("") == []


def test_long_text_splits_on_line_boundaries_under_the_limit():
    lines = [f"第{i}行：各地各有关主管部门要认真开展监督检查。" for i in range(400)]
    text = "\n".join(lines)
    parts = split_message(text)
    assert len(parts) > 1
    assert all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text  # nothing lost, no line cut in half
    assert all(p.split("\n")[0] in lines for p in parts)


def test_one_huge_line_is_cut_at_sentence_ends():
    text = "认真开展质量宣传活动。" * 1000
    parts = split_message(text, limit=500)
    assert all(len(p) <= 500 for p in parts)
    assert "".join(parts) == text
    assert all(p.endswith("。") for p in parts)


def test_cut_never_splits_an_html_entity():
    text = "A&amp;B " * 2000
    for part in split_message(text, limit=97):
        assert len(part) <= 97
        parse_telegram_html(part)


# ----------------------------------------------------------------------------- private chats


async def test_start_shows_help_and_commands(bot, fake, services):
    fake.push_text(USER, "/start")
    [sent] = await fake.wait_sent(USER)
    assert sent.parse_mode == "HTML"
    shown = visible(sent)
    assert services.engine.intent_reply("help").splitlines()[0] in shown
    assert "/deadlines" in shown and "/subscribe" in shown


async def test_help_command_is_the_same_help(bot, fake):
    fake.push_text(USER, "/help")
    [sent] = await fake.wait_sent(USER)
    assert "/contact" in visible(sent)


async def test_private_question_gets_the_deadline_as_html(bot, fake):
    fake.push_text(USER, "总结材料什么时候交")
    [sent] = await fake.wait_sent(USER)
    assert sent.parse_mode == "HTML"
    assert "9月30日" in visible(sent)
    assert "reply_parameters" not in sent.params  # private chats need no quoting


async def test_question_with_markup_is_answered_and_rendered_safely(bot, fake, services):
    question = "<b>总结材料</b>什么时候交 & 交给谁"
    fake.push_text(USER, question)
    [sent] = await fake.wait_sent(USER)
    tags, shown = parse_telegram_html(sent.text)
    assert "<b>总结材料</b>" not in sent.text  # the user's markup is not passed through
    assert tags.count("b") == 1  # only the answer's own heading is bold
    assert shown == engine_text(services, question)
    assert "9月30日" in shown


async def test_unanswered_question_with_markup_reaches_admin_as_text(bot, fake):
    fake.push_text(USER, "<script>alert(1)</script> & 今晚吃什么")
    await fake.wait_sent(USER)
    fake.push_text(ADMIN, "/unanswered")
    [sent] = await fake.wait_sent(ADMIN)
    tags, shown = parse_telegram_html(sent.text)
    assert "script" not in tags
    assert "<script>alert(1)</script> & 今晚吃什么" in shown


async def test_answer_heading_is_bold_and_source_italic(bot, fake):
    fake.push_text(USER, "广州观摩项目")
    [sent] = await fake.wait_sent(USER)
    assert re.match(r"<b>【[^<]+】[^<]+</b>\n", sent.text)
    assert re.search(r"\n<i>——摘自[^<]+</i>$", sent.text)


async def test_internal_failure_apologises_and_bot_keeps_answering(
    bot, fake, services, monkeypatch
):
    real_ask = services.ask

    def flaky_ask(incoming, now=None):
        if "炸" in incoming.text:
            raise RuntimeError("engine exploded")
        return real_ask(incoming, now)

    monkeypatch.setattr(services, "ask", flaky_ask)
    fake.push_text(USER, "炸一下")
    fake.push_text(USER, "总结材料什么时候交")
    sent = await fake.wait_sent(USER, 2)
    assert "抱歉" in visible(sent[0])
    assert "9月30日" in visible(sent[1])


async def test_deadlines_command_lists_date_and_countdown(bot, fake):
    fake.push_text(USER, "/deadlines")
    [sent] = await fake.wait_sent(USER)
    shown = visible(sent)
    assert "2021年9月30日" in shown
    assert "还有10天" in shown


async def test_contact_command_answers_with_the_phone(bot, fake):
    fake.push_text(USER, "/contact")
    [sent] = await fake.wait_sent(USER)
    assert "020-83133733" in visible(sent)


async def test_projects_command_with_a_city(bot, fake, services):
    fake.push_text(USER, "/projects 广州")
    [sent] = await fake.wait_sent(USER)
    shown = visible(sent)
    assert "广州" in shown
    assert shown == engine_text(services, "广州观摩项目")


async def test_non_text_message_gets_a_hint(bot, fake):
    update = fake.push_text(USER, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {
        "file_id": "f",
        "file_unique_id": "u",
        "type": "regular",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
    }
    [sent] = await fake.wait_sent(USER)
    assert "文字" in visible(sent)


# ----------------------------------------------------------------------------- suggestions


async def test_suggestion_buttons_answer_the_suggested_question(bot, fake, services):
    fake.push_text(USER, "总结材料什么时候交")
    [first] = await fake.wait_sent(USER)
    buttons = first.buttons
    assert buttons, "answer should offer follow-up questions"
    for button in buttons:
        assert len(button["callback_data"].encode()) <= 64
    pressed = suggestion_buttons(first)[0]
    suggestion = pressed["text"]
    reply = services.engine.answer(Incoming("总结材料什么时候交", "telegram"), FIXED_NOW)
    assert suggestion in reply.suggestions
    query_id = fake.push_callback(first, pressed["callback_data"], user_id=USER)
    sent = await fake.wait_sent(USER, 2)
    assert any(a["callback_query_id"] == query_id for a in fake.answered_callbacks)
    assert visible(sent[1]) == engine_text(services, suggestion)
    assert visible(sent[1]) != visible(first)


async def test_long_suggestion_gets_a_short_key_that_still_works(bot, fake, services, monkeypatch):
    long_question = "广州市有哪些住房城乡建设系统质量月观摩项目以及各项目的施工单位分别是谁"
    real = services.engine.respond

    def with_long_suggestion(incoming, now, *rest):
        reply, context = real(incoming, now, *rest)
        reply.suggestions = [long_question]
        return reply, context

    monkeypatch.setattr(services.engine, "respond", with_long_suggestion)
    fake.push_text(USER, "联系人")
    [first] = await fake.wait_sent(USER)
    [button] = suggestion_buttons(first)
    assert len(button["callback_data"].encode()) <= 64
    monkeypatch.setattr(services.engine, "respond", real)
    fake.push_callback(first, button["callback_data"], user_id=USER)
    sent = await fake.wait_sent(USER, 2)
    assert visible(sent[1]) == engine_text(services, long_question)


async def test_thumbs_under_an_answer_are_stored_with_it(bot, fake, services):
    fake.push_text(USER, "总结材料什么时候交")
    [first] = await fake.wait_sent(USER)
    thumbs = [b for b in first.buttons if b["text"].startswith(("👍", "👎"))]
    assert [b["text"] for b in thumbs] == ["👍 有用", "👎 没用"]
    fake.push_callback(first, thumbs[1]["callback_data"], user_id=USER)
    [answer] = await fake.wait_call("answerCallbackQuery")
    assert "谢谢" in answer.get("text", "")
    [vote] = services.store.feedback_rows()
    assert vote["vote"] == -1 and vote["channel"] == "telegram"
    assert vote["question"] == "总结材料什么时候交" and vote["top_source"] == "summary-report"


async def test_declined_answer_has_no_thumbs(bot, fake):
    fake.push_text(USER, "明天天气怎么样")
    [sent] = await fake.wait_sent(USER)
    assert not [b for b in sent.buttons if b["text"].startswith(("👍", "👎"))]


async def test_expired_button_says_so_instead_of_guessing(bot, fake):
    fake.push_text(USER, "联系人")
    [first] = await fake.wait_sent(USER)
    fake.push_callback(first, "f" * 64, user_id=USER)  # data the bot never handed out (or forgot)
    [answer] = await fake.wait_call("answerCallbackQuery")
    assert "过期" in answer.get("text", "")
    await fake.settle(0.3)
    assert len(fake.sent_to(USER)) == 1


# ----------------------------------------------------------------------------- groups


async def test_group_plain_message_is_ignored_but_mention_is_answered(bot, fake):
    fake.push_group_text(GROUP, "总结材料什么时候交", user_id=USER)
    update = fake.push_group_text(GROUP, f"@{BOT_USERNAME} 总结材料什么时候交", user_id=USER)
    [sent] = await fake.wait_sent(GROUP)
    await fake.settle(0.3)
    assert len(fake.sent_to(GROUP)) == 1  # the plain message got nothing
    assert "9月30日" in visible(sent)
    assert sent.params["reply_parameters"]["message_id"] == update["message"]["message_id"]


async def test_group_mention_is_stripped_before_asking(bot, fake, services):
    fake.push_group_text(GROUP, f"联系人是谁@{BOT_USERNAME}", user_id=USER)
    [sent] = await fake.wait_sent(GROUP)
    assert visible(sent) == engine_text(services, "联系人是谁", GROUP)
    assert BOT_USERNAME not in visible(sent)


async def test_group_reply_to_the_bot_is_answered(bot, fake):
    fake.push_group_text(GROUP, f"@{BOT_USERNAME} 你好", user_id=USER)
    [greeting] = await fake.wait_sent(GROUP)
    fake.push_group_text(
        GROUP, "那总结材料几时交？", user_id=USER, reply_to=fake.bot_message(greeting)
    )
    sent = await fake.wait_sent(GROUP, 2)
    assert "9月30日" in visible(sent[1])


async def test_group_reply_to_someone_else_is_ignored(bot, fake):
    other = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": GROUP, "type": "supergroup", "title": "群"},
        "from": fake.user(2002),
        "text": "大家好",
    }
    fake.push_group_text(GROUP, "总结材料几时交？", user_id=USER, reply_to=other)
    fake.push_group_text(GROUP, f"/contact@{BOT_USERNAME}", user_id=USER)
    [sent] = await fake.wait_sent(GROUP)
    await fake.settle(0.3)
    assert len(fake.sent_to(GROUP)) == 1
    assert "020-83133733" in visible(sent)


async def test_group_command_is_answered(bot, fake):
    fake.push_group_text(GROUP, "/deadlines", user_id=USER)
    [sent] = await fake.wait_sent(GROUP)
    assert "2021年9月30日" in visible(sent)


# ----------------------------------------------------------------------------- subscriptions


async def test_subscribe_then_unsubscribe_updates_the_store(bot, fake, services):
    fake.push_text(USER, "/subscribe")
    [subscribed] = await fake.wait_sent(USER)
    assert services.store.is_subscribed("telegram", str(USER))
    assert [s.chat for s in services.store.subscribers("telegram")] == [str(USER)]
    assert "订阅" in visible(subscribed)
    fake.push_text(USER, "/unsubscribe")
    sent = await fake.wait_sent(USER, 2)
    assert not services.store.is_subscribed("telegram", str(USER))
    assert "取消" in visible(sent[1])


async def test_group_subscribes_the_group_chat(bot, fake, services):
    fake.push_group_text(GROUP, f"/subscribe@{BOT_USERNAME}", user_id=USER)
    await fake.wait_sent(GROUP)
    assert services.store.is_subscribed("telegram", str(GROUP))


async def test_blocked_user_is_unsubscribed(bot, fake, services):
    services.store.subscribe("telegram", str(USER), str(USER), FIXED_NOW)
    fake.block(USER)
    fake.push_text(USER, "总结材料什么时候交")
    await wait_until(lambda: not services.store.is_subscribed("telegram", str(USER)))
    assert fake.sent_to(USER) == []
    fake.push_text(USER + 1, "联系人")  # the bot keeps serving everyone else
    await fake.wait_sent(USER + 1)


# ----------------------------------------------------------------------------- sender


async def test_sender_splits_long_reminders(bot, fake):
    text = "\n".join(f"{i}. 请于9月30日前报送“质量月”活动总结材料。" for i in range(300))
    assert len(text) > 4096
    outcome = await bot.sender.send(str(USER), text)
    assert outcome == "sent"
    sent = fake.sent_to(USER)
    assert len(sent) >= 2
    assert all(len(s.text) <= 4096 for s in sent)
    assert "\n".join(visible(s) for s in sent) == text


async def test_a_blocked_reminder_unsubscribes_once(bot, fake, services, monkeypatch):
    services.store.subscribe("telegram", "3003", "3003", datetime(2021, 9, 1, tzinfo=TZ))
    fake.block(3003)
    assert await bot.sender.send("3003", "提醒") == "blocked"
    assert services.store.is_subscribed("telegram", "3003")  # the sender only reports it
    calls: list[tuple] = []
    real = services.store.deactivate
    monkeypatch.setattr(services.store, "deactivate", lambda *a: (calls.append(a), real(*a)))
    report = await send_due(
        services.engine.knowledge.deadlines(), services.store, datetime(2021, 9, 23, 10, tzinfo=TZ), TZ,
        {"telegram": bot.sender}, lambda d, n: "提醒",
    )
    assert report.blocked == 1
    assert calls == [("telegram", "3003", "blocked")]
    assert not services.store.is_subscribed("telegram", "3003")


async def test_sender_waits_out_flood_control_once(bot, fake):
    fake.flood(USER, retry_after=1, times=1)
    started = time.monotonic()
    assert await bot.sender.send(str(USER), "提醒：还有 10 天") == "sent"
    assert time.monotonic() - started >= 0.9
    assert [visible(s) for s in fake.sent_to(USER)] == ["提醒：还有 10 天"]


async def test_sender_raises_when_flood_control_persists(bot, fake):
    from telegram.error import RetryAfter

    fake.flood(USER, retry_after=1, times=2)
    with pytest.raises(RetryAfter):
        await asyncio.wait_for(bot.sender.send(str(USER), "提醒"), 5)
    assert fake.sent_to(USER) == []


async def test_sender_is_usable_without_a_running_application(fake, services):
    from telegram import Bot

    async with Bot(TOKEN, base_url=fake.base_url) as plain_bot:
        sender = TelegramSender(plain_bot, services)
        assert await sender.send(str(USER), "a < b & c") == "sent"
    [sent] = fake.sent_to(USER)
    assert visible(sent) == "a < b & c"


# ----------------------------------------------------------------------------- startup


async def test_command_menu_is_published_at_startup(bot, fake):
    public = {c["command"]: c["description"] for c in fake.commands["default"]}
    assert {"start", "help", "deadlines", "contact", "projects", "subscribe", "unsubscribe"} <= set(
        public
    )
    assert all(re.search(r"[\u4e00-\u9fff]", d) for d in public.values())
    assert not {"stats", "broadcast", "reload", "unanswered"} & set(public)
    admin = {c["command"] for c in fake.commands[f"chat:{ADMIN}"]}
    assert {"stats", "broadcast", "reload", "unanswered", "deadlines"} <= admin


async def test_polling_starts_from_a_clean_webhook(bot, fake):
    await fake.wait_call("getUpdates")
    assert any(m == "deleteWebhook" for m, _ in fake.calls)


async def test_stop_is_quick_and_clean_even_right_after_start(fake, services, caplog):
    for wait_for_poll in (True, False):
        runner = await start_telegram(services, None)
        if wait_for_poll:
            await fake.wait_call("getUpdates")
        started = time.monotonic()
        await runner.stop()
        assert time.monotonic() - started < 0.8
        assert not runner.application.running
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


# ----------------------------------------------------------------------------- admin


async def test_admin_stats(bot, fake, services):
    fake.push_text(USER, "总结材料什么时候交")
    await fake.wait_sent(USER)
    services.store.subscribe("telegram", str(USER), str(USER), FIXED_NOW)
    fake.push_text(ADMIN, "/stats")
    [sent] = await fake.wait_sent(ADMIN)
    shown = visible(sent)
    assert "提问数：1" in shown
    assert "telegram 1" in shown


async def test_non_admin_gets_nothing_admin_like(bot, fake):
    for command in ("/stats", "/unanswered", "/broadcast 大家好", "/reload"):
        fake.push_text(USER, command)
    fake.push_text(USER, "联系人")  # processed after the commands above
    [sent] = await fake.wait_sent(USER)
    await fake.settle(0.3)
    assert len(fake.sent_to(USER)) == 1
    shown = visible(sent)
    assert "020-83133733" in shown
    assert "统计" not in shown and "群发" not in shown


async def test_admin_commands_stay_silent_in_groups(bot, fake):
    fake.push_group_text(GROUP, "/stats", user_id=ADMIN)
    fake.push_group_text(GROUP, "/deadlines", user_id=ADMIN)
    [sent] = await fake.wait_sent(GROUP)
    await fake.settle(0.3)
    assert len(fake.sent_to(GROUP)) == 1
    assert "2021年9月30日" in visible(sent)


async def test_admin_reload_without_support_says_unavailable(bot, fake):
    fake.push_text(ADMIN, "/reload")
    [sent] = await fake.wait_sent(ADMIN)
    assert "不支持" in visible(sent)


async def test_admin_reload_calls_the_services_reload(fake, tmp_path, engine):
    reloads: list[str] = []

    def reload() -> str:
        reloads.append("called")
        return "知识库版本 v2"

    base = make_services(tmp_path / "r.sqlite3", engine, fake)
    services = Service(base.engine, base.store, base.settings, base.clock, reload=reload)
    runner = await start_telegram(services, None)
    try:
        fake.push_text(ADMIN, "/reload")
        [sent] = await fake.wait_sent(ADMIN)
    finally:
        await runner.stop()
        services.store.close()
    assert reloads == ["called"]
    assert "已重新加载" in visible(sent) and "v2" in visible(sent)


async def test_reload_with_the_app_reloader_answers_once_and_tells_other_admins(
    fake, tmp_path, engine
):
    from bot.app import Reloader

    other_admin = 4343
    services = make_services(
        tmp_path / "r.sqlite3", engine, fake, admins=frozenset({str(ADMIN), str(other_admin)})
    )
    runner = await start_telegram(services, None)
    try:
        services.reload = Reloader(services, runner.notify_admins).reload
        fake.push_text(ADMIN, "/reload")
        [answer] = await fake.wait_sent(ADMIN, timeout=10)
        [notice] = await fake.wait_sent(other_admin)
        await fake.settle(0.3)
    finally:
        await runner.stop()
        services.store.close()
    assert "知识库已重新加载" in visible(answer)
    assert services.engine.version in visible(answer)
    assert visible(notice) == visible(answer)
    assert len(fake.sent_to(ADMIN)) == 1  # no second copy as a notification


async def test_broadcast_previews_then_delivers_after_confirm(bot, fake, services):
    for chat in ("5001", "5002", "5003"):
        services.store.subscribe("telegram", chat, chat, FIXED_NOW)
    fake.block(5003)
    fake.push_text(ADMIN, "/broadcast 请各单位于9月30日前报送<总结材料> & 电子版")
    [preview] = await fake.wait_sent(ADMIN)
    assert "3" in visible(preview) and "<总结材料> & 电子版" in visible(preview)
    assert fake.sent_to(5001) == []  # nothing goes out before the admin confirms
    confirm = next(b for b in preview.buttons if b["text"].startswith("确认发送"))
    fake.push_callback(preview, confirm["callback_data"], user_id=ADMIN)
    sent = await fake.wait_sent(ADMIN, 2)
    report = visible(sent[1])
    assert "已送达 2" in report and "1 个已屏蔽" in report
    for chat in (5001, 5002):
        [delivered] = fake.sent_to(chat)
        assert visible(delivered) == "请各单位于9月30日前报送<总结材料> & 电子版"
    assert not services.store.is_subscribed("telegram", "5003")
    fake.push_callback(preview, confirm["callback_data"], user_id=ADMIN)  # a second press
    await fake.wait_call("answerCallbackQuery", 2)
    await fake.settle(0.3)
    assert len(fake.sent_to(5001)) == 1


async def test_broadcast_can_be_cancelled(bot, fake, services):
    services.store.subscribe("telegram", "5001", "5001", FIXED_NOW)
    fake.push_text(ADMIN, "/broadcast 测试")
    [preview] = await fake.wait_sent(ADMIN)
    cancel = next(b for b in preview.buttons if b["text"] == "取消")
    fake.push_callback(preview, cancel["callback_data"], user_id=ADMIN)
    sent = await fake.wait_sent(ADMIN, 2)
    assert "取消" in visible(sent[1])
    assert fake.sent_to(5001) == []


# ----------------------------------------------------------------------------- webhook


@pytest.fixture
async def webhook(tmp_path, engine, fake, aiohttp_client):
    services = make_services(
        tmp_path / "w.sqlite3",
        engine,
        fake,
        telegram_webhook_url="https://bot.example.org/telegram/webhook",
        telegram_webhook_secret="s3cret-Token_1",
    )
    web_app = web.Application()
    runner = await asyncio.wait_for(start_telegram(services, web_app), 10)
    client = await aiohttp_client(web_app)
    yield runner, client
    await runner.stop()
    services.store.close()


async def test_webhook_is_registered_with_its_secret(webhook, fake):
    runner, _ = webhook
    assert runner.mode == "webhook"
    assert runner.application.updater is None
    assert fake.webhook["url"] == "https://bot.example.org/telegram/webhook"
    assert fake.webhook["secret_token"] == "s3cret-Token_1"
    assert not any(m == "getUpdates" for m, _ in fake.calls)


async def test_webhook_with_the_right_secret_is_answered(webhook, fake):
    _, client = webhook
    update = fake.update_for_webhook(USER, "总结材料什么时候交")
    resp = await client.post(
        "/telegram/webhook", json=update, headers={WEBHOOK_SECRET_HEADER: "s3cret-Token_1"}
    )
    assert resp.status == 200
    [sent] = await fake.wait_sent(USER)
    assert "9月30日" in visible(sent)


async def test_webhook_without_or_with_wrong_secret_is_refused(webhook, fake):
    _, client = webhook
    update = fake.update_for_webhook(USER, "总结材料什么时候交")
    resp = await client.post("/telegram/webhook", json=update)
    assert resp.status == 403
    resp = await client.post(
        "/telegram/webhook", json=update, headers={WEBHOOK_SECRET_HEADER: "guess"}
    )
    assert resp.status == 403
    await fake.settle(0.3)
    assert fake.sent_to(USER) == []


async def test_webhook_rejects_garbage_without_crashing(webhook, fake):
    _, client = webhook
    headers = {WEBHOOK_SECRET_HEADER: "s3cret-Token_1"}
    resp = await client.post("/telegram/webhook", data=b"{not json", headers=headers)
    assert resp.status == 400
    resp = await client.post("/telegram/webhook", json=[1, 2], headers=headers)
    assert resp.status == 400
    update = fake.update_for_webhook(USER, "联系人")
    resp = await client.post("/telegram/webhook", json=update, headers=headers)
    assert resp.status == 200
    await fake.wait_sent(USER)


class RecordingSender:
    """A push channel other than Telegram (WeChat in production): records what it was given."""

    def __init__(self, outcome: str = "sent") -> None:
        self.outcome = outcome
        self.sent: list[tuple[str, str]] = []

    async def send(self, chat: str, text: str) -> str:
        self.sent.append((chat, text))
        return self.outcome


async def test_broadcast_reaches_wechat_subscribers_too(bot, fake, services):
    wechat = RecordingSender()
    services.senders = {"wechat": wechat}
    services.store.subscribe("telegram", "5001", "5001", FIXED_NOW)
    services.store.subscribe("wechat", "openid-1", "openid-1", FIXED_NOW)
    services.store.subscribe("wecom", "corp-user", "corp-user", FIXED_NOW)  # no sender: not counted
    fake.push_text(ADMIN, "/broadcast 明天截止")
    [preview] = await fake.wait_sent(ADMIN)
    assert "2" in visible(preview)
    confirm = next(b for b in preview.buttons if b["text"].startswith("确认发送"))
    fake.push_callback(preview, confirm["callback_data"], user_id=ADMIN)
    sent = await fake.wait_sent(ADMIN, 2)
    assert "已送达 2" in visible(sent[1])
    assert wechat.sent == [("openid-1", "明天截止")]
    assert [visible(m) for m in fake.sent_to(5001)] == ["明天截止"]


async def test_a_follow_up_is_understood_in_a_private_chat(bot, fake):
    fake.push_text(USER, "联系人是谁")
    await fake.wait_sent(USER)
    fake.push_text(USER, "他的邮箱呢")
    sent = await fake.wait_sent(USER, 2)
    assert "jt-zac@gd.gov.cn" in visible(sent[1])


async def test_in_a_group_each_member_has_a_conversation_of_their_own(bot, fake):
    fake.push_group_text(GROUP, f"@{BOT_USERNAME} 深圳有哪些观摩项目", user_id=USER)
    await fake.wait_sent(GROUP)
    fake.push_group_text(GROUP, f"@{BOT_USERNAME} 广州有哪些观摩项目", user_id=USER + 7)
    await fake.wait_sent(GROUP, 2)
    fake.push_group_text(GROUP, f"@{BOT_USERNAME} 那东莞呢", user_id=USER)  # swaps 深圳, not 广州
    sent = await fake.wait_sent(GROUP, 3)
    assert "虎门" in visible(sent[2]) and "锦龙苑" not in visible(sent[2])
