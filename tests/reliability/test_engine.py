"""Whatever a user types, the engine answers with something every channel can deliver."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.channels.telegram.render import MESSAGE_LIMIT, render_reply, split_message
from bot.channels.wechat.xml import MAX_TEXT_BYTES, cut_utf8, parse_message_xml, text_reply_xml
from bot.core.engine import Engine
from bot.core.model import Incoming, Reply
from tests.conftest import CAMPAIGN_NOW, SHANGHAI

CHANNELS = ("web", "wechat", "wecom", "telegram", "cli")
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Words users really send, so random text also lands on real intents and entities.
DOMAIN = [
    "截止", "几时", "边个", "点样", "系唔系", "喺边度", "电话", "联系人", "总结材料", "观摩项目",
    "中建八局", "广州", "深圳", "質量月", "報送", "订阅", "取消订阅", "9月30日", "？", "！", "@bot",
    "/start", "]]>", "<b>", "&amp;", "\\", "'", '"', "粤建质函〔2021〕622号",
]  # fmt: skip

controls = st.text(
    alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs", "Co"]), max_size=200
)
emoji = st.lists(
    st.one_of(
        st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),
        st.sampled_from(["\u200d", "\ufe0f", "\U0001f3fb", "👨‍👩‍👧", "🇨🇳"]),
    ),
    max_size=60,
).map("".join)
whitespace = st.text(alphabet=" \t\n\r\x0b\x0c\u3000\u00a0\u2028\u2029\u200b\ufeff", max_size=50)
mixed = st.lists(
    st.one_of(
        st.sampled_from(DOMAIN),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),  # Arabic
        st.characters(min_codepoint=0x0400, max_codepoint=0x04FF),  # Cyrillic
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul
        st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),  # full-width ASCII
        st.sampled_from(["\u202e", "\u200f", "\u0301", "\u0000", " ", "\n"]),
        st.text(max_size=5),
    ),
    max_size=40,
).map("".join)
anything = st.text(
    alphabet=st.characters(exclude_categories=()), max_size=300
)  # lone surrogates too
questions = st.one_of(anything, controls, emoji, whitespace, mixed)
moments = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(SHANGHAI)
)


def check_deliverable(reply: Reply, question: str) -> None:
    """What every adapter relies on, stated as a user of that channel would notice it."""
    assert isinstance(reply, Reply)
    assert isinstance(reply.text, str) and reply.text.strip(), "empty answer"
    assert isinstance(reply.fallback, bool)
    assert isinstance(reply.suggestions, list) and len(reply.suggestions) <= 3
    assert all(isinstance(s, str) and s.strip() for s in reply.suggestions)
    reply.text.encode("utf-8")  # the answer itself can always be sent

    # WeChat: the passive reply is cut to 2048 bytes and is still well-formed XML.
    cut = cut_utf8(reply.text)
    assert 0 < len(cut.encode("utf-8")) <= MAX_TEXT_BYTES
    xml = text_reply_xml("oUser", "gh_bot", reply.text, 1632103200)
    content = parse_message_xml(xml.encode("utf-8"))["Content"]
    assert content.strip() and len(content.encode("utf-8")) <= MAX_TEXT_BYTES

    # Telegram: every part fits one message and nothing visible is lost in the split.
    parts = split_message(reply.text)
    assert parts and all(0 < len(p) <= MESSAGE_LIMIT for p in parts)
    assert "".join("".join(p.split()) for p in parts) == "".join(reply.text.split())
    html_parts = render_reply(reply)
    assert html_parts and all(0 < len(p) <= MESSAGE_LIMIT for p in html_parts)

    # Web / CLI JSON: serialises and reads back unchanged.
    data = reply.to_dict(question)
    encoded = json.dumps(data, ensure_ascii=False)
    assert json.loads(encoded)["answer"] == reply.text
    assert json.loads(encoded)["fallback"] is reply.fallback


@SETTINGS
@given(text=questions, channel=st.sampled_from(CHANNELS))
@example(text="", channel="web")
@example(text="\x00", channel="wechat")
@example(text="\ud800\udfff", channel="web")
@example(text="   \u3000\n\t", channel="telegram")
@example(text="总结材料几时交？😀", channel="wechat")
def test_any_text_gets_a_deliverable_answer(engine: Engine, text: str, channel: str) -> None:
    reply = engine.answer(Incoming(text, channel, "u1", "u1"), CAMPAIGN_NOW)
    check_deliverable(reply, text)


@SETTINGS
@given(text=mixed, now=moments)
def test_any_moment_gets_a_deliverable_answer(engine: Engine, text: str, now: datetime) -> None:
    """The web API lets callers ask "as of" any time between 2000 and 2100."""
    check_deliverable(engine.answer(Incoming(text, "web"), now), text)


@settings(max_examples=100, deadline=None)
@given(text=questions)
def test_same_question_same_answer(engine: Engine, text: str) -> None:
    """A WeChat retry or a repeated question must not get a different answer."""
    first = engine.answer(Incoming(text, "web"), CAMPAIGN_NOW)
    second = engine.answer(Incoming(text, "web"), CAMPAIGN_NOW)
    assert first.to_dict(text) == second.to_dict(text)


@settings(max_examples=50, deadline=None)
@given(text=st.one_of(whitespace, controls.filter(lambda t: not t.strip())))
def test_blank_input_is_a_fallback_with_suggestions(engine: Engine, text: str) -> None:
    """Nothing to answer: say so, and offer questions the bot can answer."""
    reply = engine.answer(Incoming(text, "web"), CAMPAIGN_NOW)
    check_deliverable(reply, text)
    assert reply.fallback is True
    assert reply.suggestions


def _huge(seed: int, size: int = 100_000) -> str:
    rng = random.Random(seed)
    pool = DOMAIN + ["😀", "\x00", "\u202e", "a", " ", "\n", "質", "截止日期"]
    out: list[str] = []
    n = 0
    while n < size:
        word = rng.choice(pool) if rng.random() < 0.7 else chr(rng.randrange(0x20, 0x2FFFF))
        out.append(word)
        n += len(word)
    return "".join(out)[:size]


@pytest.mark.parametrize(
    "text",
    [
        "截止" * 50_000,
        "😀" * 100_000,
        "\x00" * 100_000,
        " " * 99_999 + "截",
        _huge(1),
        _huge(2),
        "总结材料什么时候交" + "啊" * 99_991,
    ],
    ids=["keyword", "emoji", "nul", "spaces", "random1", "random2", "question-then-noise"],
)
def test_hundred_thousand_characters(engine: Engine, text: str) -> None:
    """A pasted document gets an answer quickly, not a crash or a stall."""
    assert len(text) == 100_000
    started = datetime.now()
    reply = engine.answer(Incoming(text, "web"), CAMPAIGN_NOW)
    assert datetime.now() - started < timedelta(seconds=2)
    check_deliverable(reply, text)


def test_real_question_still_answered_after_noise(engine: Engine) -> None:
    """The property tests can fail: a real question must still get its real answer."""
    reply = engine.answer(Incoming("总结材料什么时候交", "web"), CAMPAIGN_NOW)
    check_deliverable(reply, "总结材料什么时候交")
    assert reply.fallback is False and "9月30日" in reply.text
