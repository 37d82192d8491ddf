"""How people really ask: follow-ups, padding, countdowns, several questions, numbers, what the notice does not say."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.core.engine import Engine
from bot.core.model import Context, Incoming, Reply
from bot.knowledge.evaluate import body
from tests.conftest import SHANGHAI

NOW = datetime(2021, 9, 20, 10, 0, tzinfo=SHANGHAI)  # ten days before the 9月30日 deadline
AFTER = datetime(2021, 10, 8, 10, 0, tzinfo=SHANGHAI)
ROWS = ("腾讯", "东晓南路", "锦龙苑", "新华医院", "虎门", "保利")


def chat(engine: Engine, *turns: str, now: datetime = NOW) -> Reply:
    """Send the turns in one conversation; the last reply."""
    context = Context()
    reply = None
    for turn in turns:
        reply, context = engine.respond(Incoming(turn, "cli", chat="t"), now, context)
    assert reply is not None
    return reply


def ask(engine: Engine, text: str, now: datetime = NOW) -> Reply:
    return engine.answer(Incoming(text, "cli"), now)


def only(text: str, *wanted: str) -> bool:
    """The answer names these project rows and no other."""
    return all(w in text for w in wanted) and not any(r in text for r in ROWS if r not in wanted)


# ----------------------------------------------------------------------------- follow-ups


def test_a_city_follow_up_swaps_the_city_and_lists_only_its_rows(engine: Engine) -> None:
    assert only(body(chat(engine, "深圳有哪些观摩项目")), "锦龙苑", "新华医院")
    assert only(body(chat(engine, "深圳有哪些观摩项目", "揭阳呢？")), "保利")
    reply = chat(engine, "广州有观摩项目吗", "那汕头有没有")
    assert "没有" in reply.text and not any(r in body(reply) for r in ("腾讯", "东晓南路"))


def test_a_row_follow_up_asks_another_column_of_the_same_row(engine: Engine) -> None:
    assert "华西" in body(chat(engine, "第3个项目是什么", "是哪个单位施工的"))
    assert only(body(chat(engine, "序号2是哪个项目", "下一个呢")), "锦龙苑")
    assert "揭阳" in body(chat(engine, "中建四局做的是哪个项目", "它在哪个城市"))


def test_a_contact_follow_up_gives_that_contact_s_other_details(engine: Engine) -> None:
    assert "jt-zac@gd.gov.cn" in body(chat(engine, "联系人是谁", "他的邮箱呢"))
    assert "83133587" in body(chat(engine, "联系电话多少", "传真呢"))


def test_a_numbered_point_after_a_list_points_into_that_list(engine: Engine) -> None:
    reply = body(chat(engine, "工作要求有几点", "第三点呢"))
    assert "实际问题" in reply and "统筹协调" not in reply and "疫情" not in reply


def test_a_countdown_follow_up_counts_the_days_left(engine: Engine) -> None:
    assert "10天" in body(chat(engine, "总结材料截止日期是哪天", "还剩几天"))
    after = body(chat(engine, "总结材料截止日期是哪天", "现在交还来得及吗", now=AFTER))
    assert "已于2021年9月30日截止" in after and "还有" not in after


def test_a_new_topic_is_not_bent_toward_the_previous_one(engine: Engine) -> None:
    reply = body(chat(engine, "深圳有哪些观摩项目", "通知的文号是多少"))
    assert "622号" in reply and not any(r in reply for r in ROWS)
    reply = body(chat(engine, "联系人是谁", "活动主题是什么"))
    assert "质量强国" in reply and "潘泽军" not in reply


# ----------------------------------------------------------------------------- the way people type


@pytest.mark.parametrize(
    "padded, plain",
    [
        ("请问一下，麻烦问下联系电话是多少呀", "联系电话是多少"),
        ("我是佛山一家施工企业的，想了解一下总结材料几时交", "总结材料几时交"),
        ("那个，我想问问活动主题是啥来着", "活动主题是什么"),
    ],
)
def test_padding_and_who_the_user_is_do_not_change_the_answer(engine: Engine, padded: str, plain: str) -> None:
    a, b = ask(engine, padded), ask(engine, plain)
    assert not a.fallback and a.sources[0].id == b.sources[0].id


def test_the_user_s_own_company_selects_its_rows(engine: Engine) -> None:
    assert only(body(ask(engine, "我们公司是中建五局的，我们的项目在名单里吗")), "虎门")


@pytest.mark.parametrize(
    "question",
    ["离截止还有多少天", "现在交总结还赶得及吗", "总结材料是不是快过期了", "倒计时还有几天"],
)
def test_countdown_questions_answer_with_date_and_days_left(engine: Engine, question: str) -> None:
    text = body(ask(engine, question))
    assert "2021年9月30日" in text and "还有10天" in text
    assert "已于2021年9月30日截止" in body(ask(engine, question, AFTER))


def test_two_questions_in_one_message_are_answered_in_order(engine: Engine) -> None:
    text = body(ask(engine, "联系人是谁？传真号码多少？"))
    assert text.index("潘泽军") < text.index("83133587")
    text = body(ask(engine, "活动主题是什么，几月份开展"))
    assert "质量强国" in text and "9月" in text
    assert len(ask(engine, "主题是什么？联系电话？观摩项目有哪些？").text) <= 800


@pytest.mark.parametrize(
    "question, wanted, unwanted",
    [
        ("二（四）是什么内容", "防渗漏", "论坛"),
        ("主要内容第三条的第五点讲什么", "虚假报告", "砂石"),
        ("三（二）说的是什么", "疫情防控", "统筹协调"),
        ("第4个观摩项目是哪个", "新华医院", "锦龙苑"),
        ("通知第一部分讲什么", "质量强国", "观摩"),
    ],
)
def test_numbers_and_positions_point_into_the_notice(engine: Engine, question: str, wanted: str, unwanted: str) -> None:
    text = body(ask(engine, question))
    assert wanted in text and unwanted not in text


def test_an_ambiguous_number_is_asked_back(engine: Engine) -> None:
    reply = ask(engine, "第二条是什么")
    assert reply.fallback and reply.intent == "clarify" and reply.text.startswith("您是想问")
    assert len(reply.suggestions) >= 2
    chosen = ask(engine, reply.suggestions[0])
    assert not chosen.fallback


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("lianxiren shi shei", "潘泽军"),
        ("shenzhen you naxie guanmo xiangmu", "锦龙苑"),
        ("观魔项目有哪些", "腾讯"),
        ("深证的观摩项目", "新华医院"),
        ("连系电话", "83133733"),
        ("what is the theme", "质量强国"),
    ],
)
def test_pinyin_typos_and_english_still_find_the_answer(engine: Engine, typed: str, meant: str) -> None:
    assert meant in body(ask(engine, typed))


# ----------------------------------------------------------------------------- what the notice does not say


@pytest.mark.parametrize(
    "question",
    [
        "省建筑业协会的电话是多少",  # a party the notice names, but not its phone
        "中建八局的联系电话",
        "深圳住建局的邮箱是什么",
        "潘泽军的微信是多少",  # a kind of fact the notice never gives
        "预拌混凝土大对比总结会议在哪里开",
        "工程质量论坛什么时候召开",
        "观摩交流活动报名费多少钱",
        "总结材料要写多少字",
        "《广东省住房和城乡建设厅关于推广省级优秀施工工法和优秀质量管理小组成果的通知》的文号是什么",
    ],
)
def test_a_fact_the_notice_does_not_give_is_declined_without_another_party_s_fact(engine: Engine, question: str) -> None:
    reply = ask(engine, question)
    assert reply.fallback, reply.text
    assert "83133733" not in reply.text and "jt-zac" not in reply.text  # never the notice's own contact as theirs


def test_the_cited_document_s_date_is_given_when_the_notice_states_it(engine: Engine) -> None:
    assert "8月中旬" in body(ask(engine, "优秀施工工法那个通知是什么时候印发的"))
