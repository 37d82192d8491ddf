"""The answer engine as a user meets it: exact facts, sections, countdowns, filtered rows, honest fallbacks."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest
import yaml

from bot.core.compose import MAIN_LIMIT
from bot.core.engine import Engine
from bot.core.model import Incoming
from bot.knowledge.evaluate import evaluate
from tests.conftest import DEV_SET, ROOT, SHANGHAI


def ask(engine: Engine, text: str, now: datetime):
    return engine.answer(Incoming(text, "cli"), now)


def test_dev_question_set_passes(engine: Engine, now: datetime) -> None:
    cases = yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))
    passed, failures = evaluate(engine, cases, now)
    assert passed / len(cases) >= 0.97, "\n".join(failures)
    fallback_failures = [f for f in failures if "should fall back" in f]
    assert not fallback_failures, fallback_failures


@pytest.mark.parametrize(
    "question",
    ["总结材料几时要交", "總結材料幾時要交", "总结材料截至几号", "总结 deadline", "總結材料要喺幾時前報送"],
)
def test_deadline_in_any_script_or_dialect(engine: Engine, now: datetime, question: str) -> None:
    reply = ask(engine, question, now)
    assert not reply.fallback
    assert "9月30日" in reply.text
    assert reply.intent == "deadline"
    assert [d.id for d in reply.deadlines] == ["summary-report"]


def test_contact_question_in_cantonese_keeps_lianxi(engine: Engine, now: datetime) -> None:
    reply = ask(engine, "联系人系边个", now)
    assert "潘泽军" in reply.text and "020-83133733" in reply.text


@pytest.mark.parametrize(
    ("when", "expected", "days"),
    [
        (datetime(2021, 9, 25, 10, 0, tzinfo=SHANGHAI), "还有5天", 5),
        (datetime(2021, 9, 30, 23, 0, tzinfo=SHANGHAI), "今天截止", 0),
        # 16:30 UTC on 9-30 is already 10-01 in Shanghai: the countdown follows Asia/Shanghai.
        (datetime.fromisoformat("2021-09-30T16:30:00+00:00"), "已于2021年9月30日截止", -1),
    ],
)
def test_deadline_countdown_follows_shanghai_time(engine: Engine, when: datetime, expected: str, days: int) -> None:
    reply = ask(engine, "总结材料什么时候截止", when)
    assert expected in reply.text
    assert reply.deadlines[0].days_left == days


def test_city_filter_lists_exactly_its_rows(engine: Engine, now: datetime) -> None:
    text = ask(engine, "深圳有冇观摩项目", now).text
    assert "安居锦龙苑" in text and "新华医院" in text
    for other in ("腾讯", "东晓南路", "虎门", "保利"):
        assert other not in text


def test_city_without_projects_says_none(engine: Engine, now: datetime) -> None:
    reply = ask(engine, "佛山有没有观摩项目", now)
    assert not reply.fallback
    assert "没有" in reply.text
    assert "腾讯广州总部大楼" not in reply.text


def test_company_alias_finds_its_project_only(engine: Engine, now: datetime) -> None:
    text = ask(engine, "中建八局有咩观摩项目", now).text
    assert "深圳市新华医院项目" in text
    assert "腾讯" not in text and "安居锦龙苑" not in text


def test_project_short_name_gives_city_and_contractor(engine: Engine, now: datetime) -> None:
    text = ask(engine, "虎门高铁站那个项目系边个施工", now).text
    assert "东莞" in text and "中国建筑第五工程局有限公司" in text
    assert "腾讯" not in text


def test_sub_item_is_quoted_not_the_whole_section(engine: Engine, now: datetime) -> None:
    reply = ask(engine, "混凝土质量检测出虚假报告怎么处理", now)
    assert "虚假报告" in reply.text
    assert "二（三）" in reply.text
    assert "砂石" not in reply.text  # another item of the same section


def test_answers_cite_section_and_document(engine: Engine, now: datetime) -> None:
    reply = ask(engine, "省市政行业协会搞咩活动", now)
    assert "二（六）" in reply.text
    assert "比对试验" in reply.text
    assert "622号" in reply.text
    assert reply.sources and reply.sources[0].score > 0


def test_answer_has_related_suggestions(engine: Engine, now: datetime) -> None:
    reply = ask(engine, "活动主题是什么", now)
    assert 2 <= len(reply.suggestions) <= 3
    assert all(isinstance(s, str) and s for s in reply.suggestions)
    for suggestion in reply.suggestions:  # every suggestion is itself answerable
        assert not ask(engine, suggestion, now).fallback, suggestion


@pytest.mark.parametrize(
    "question",
    ["今晚食咩好", "帮我订一张去北京的机票", "特种作业操作证去哪里考", "asdfghjkl", "？？？", "", "   ", "🙂🙂"],
)
def test_unknown_questions_fall_back_with_help_and_contact(engine: Engine, now: datetime, question: str) -> None:
    reply = ask(engine, question, now)
    assert reply.fallback
    assert reply.suggestions
    if question.strip(" ？🙂"):
        assert "83133733" in reply.text


def test_main_answer_stays_short(engine: Engine, now: datetime) -> None:
    for question in ["主要内容", "加强质量主题教育宣传", "观摩项目有哪些", "工作要求"]:
        reply = ask(engine, question, now)
        main = reply.text.rsplit("\n——", 1)[0]
        assert len(main) <= MAIN_LIMIT, question


def test_greeting_and_subscribe_intents(engine: Engine, now: datetime) -> None:
    assert ask(engine, "你好", now).intent == "greeting"
    sub = ask(engine, "订阅截止提醒", now)
    assert sub.intent == "subscribe" and sub.action == "subscribe"
    assert ask(engine, "取消订阅", now).action == "unsubscribe"


def test_fast_scoring_matches_scikit_learn(engine: Engine) -> None:
    index = engine.index
    for question in ["总结材料什么时候截止", "广州有哪些观摩项目", "建筑机器人", "qwerty", "联系电话"]:
        analysis = index.analyze(question)
        fast = dict(index.search(analysis))
        reference = dict(index.reference_search(analysis))
        assert list(fast)[:3] == list(reference)[:3]
        for target, score in fast.items():
            if target in reference:
                assert score == pytest.approx(reference[target], abs=1e-9)


def test_engine_imports_no_channel_library() -> None:
    code = "import sys, bot.core.engine; print(sorted(m for m in ('telegram', 'aiohttp') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_swap_replaces_knowledge_atomically(engine: Engine, now: datetime) -> None:
    from bot.knowledge.load import load_knowledge
    from tests.conftest import INTENTS, KNOWLEDGE

    before = engine.index
    engine.swap(load_knowledge(KNOWLEDGE, INTENTS))
    assert engine.index is not before
    assert "9月30日" in ask(engine, "总结材料什么时候截止", now).text


HOLDOUT = ROOT / "tests" / "data" / "holdout_questions.yaml"
SECOND = ROOT / "tests" / "data" / "second_questions.yaml"
OUT_OF_SCOPE = ROOT / "tests" / "data" / "out_of_scope.yaml"


@pytest.mark.parametrize("path", [HOLDOUT, SECOND], ids=["holdout", "second"])
def test_held_out_questions_pass(engine: Engine, now: datetime, path) -> None:
    """Questions written from the notice alone, without seeing the knowledge's paraphrases."""
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    passed, failures = evaluate(engine, cases, now)
    assert passed / len(cases) >= 0.95, "\n".join(failures)


def test_out_of_scope_questions_are_refused(engine: Engine, now: datetime) -> None:
    cases = yaml.safe_load(OUT_OF_SCOPE.read_text(encoding="utf-8"))
    passed, failures = evaluate(engine, cases, now)
    assert passed / len(cases) >= 0.9, "\n".join(failures)


@pytest.mark.parametrize("question", ["2020年质量月主题是什么", "明年质量月总结几时交", "前年的观摩项目"])
def test_a_year_without_a_notice_is_not_answered_from_another(engine: Engine, now: datetime, question: str) -> None:
    reply = ask(engine, question, now)
    assert reply.fallback
    assert "2021" in reply.text  # says which years it does have


def test_bare_names_list_their_rows(engine: Engine, now: datetime) -> None:
    assert "深圳市新华医院项目" in ask(engine, "中建八局", now).text
    shenzhen = ask(engine, "深圳", now).text
    assert "安居锦龙苑" in shenzhen and "腾讯" not in shenzhen
    assert "没有" in ask(engine, "中建三局", now).text


def test_row_by_number(engine: Engine, now: datetime) -> None:
    text = ask(engine, "附件第3个项目是什么", now).text
    assert "安居锦龙苑" in text and "腾讯" not in text


def test_phone_number_and_email_are_searchable(engine: Engine, now: datetime) -> None:
    assert "潘泽军" in ask(engine, "83133733是谁的电话", now).text
    assert "潘泽军" in ask(engine, "jt-zac@gd.gov.cn", now).text


def test_no_suggestion_repeats_the_answer_just_given(engine: Engine, now: datetime) -> None:
    reply = ask(engine, "总结什么时候截止", now)
    for suggestion in reply.suggestions:
        again = ask(engine, suggestion, now)
        assert again.sources[0].id != reply.sources[0].id, suggestion
