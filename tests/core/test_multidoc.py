"""Several notices in knowledge/: each answer comes from, and names, the right document."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from bot.core.engine import Engine
from bot.core.model import Incoming
from bot.knowledge.evaluate import evaluate
from bot.knowledge.ingest.draft import ingest
from bot.service import load_engine
from tests.conftest import DEV_SET, INTENTS, KNOWLEDGE, ROOT, SHANGHAI

NOTICES = ROOT / "tests" / "notices"
MAY_2023 = datetime(2023, 5, 1, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def several(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The curated 2021 notice plus the 2022 and 2023 notices as `run_bot.py ingest` drafts them."""
    kdir = tmp_path_factory.mktemp("several") / "knowledge"
    shutil.copytree(KNOWLEDGE, kdir)
    for name in ("gd-2022-quality-month", "gd-2023-quality-inspection"):
        text = (NOTICES / f"{name}.txt").read_text(encoding="utf-8")
        (kdir / f"{name}.yaml").write_text(ingest(text).yaml(), encoding="utf-8")
    return load_engine(kdir, INTENTS)


def ask(engine: Engine, text: str, now: datetime = MAY_2023):
    return engine.answer(Incoming(text, "cli"), now)


def test_unqualified_question_takes_the_latest_campaign_and_says_so(several: Engine) -> None:
    reply = ask(several, "质量月总结什么时候截止")
    assert "2022年9月28日" in reply.text
    assert "2022年" in reply.text.splitlines()[0]  # names the document it answers from
    assert "536号" in reply.text


@pytest.mark.parametrize(
    ("question", "expected", "absent"),
    [
        ("2021年质量月总结什么时候截止", "2021年9月30日", "2022年9月28日"),
        ("622号文的联系人", "潘泽军", "李某某"),
        ("去年质量月的主题", "推动质量变革创新", "深入实施质量提升行动"),
        ("2021年的活动主题", "深入实施质量提升行动", "推动质量变革创新"),
    ],
)
def test_a_named_year_or_number_picks_that_document(several: Engine, question: str, expected: str, absent: str) -> None:
    text = ask(several, question).text
    assert expected in text and absent not in text


def test_year_relative_to_now(several: Engine) -> None:
    assert "推动质量变革创新" in ask(several, "去年质量月主题", MAY_2023).text
    assert "深入实施质量提升行动" in ask(several, "前年质量月主题", MAY_2023).text


def test_other_campaigns_answer_their_own_questions(several: Engine) -> None:
    reply = ask(several, "自查报告什么时候交")
    assert "2023年6月15日" in reply.text and "还有45天" in reply.text
    teams = ask(several, "广州由哪个检查组检查").text
    assert "第一检查组" in teams and "第二检查组" not in teams


def test_generic_project_question_skips_tables_of_other_kinds(several: Engine) -> None:
    text = ask(several, "观摩项目有哪些", datetime(2023, 8, 1, 10, tzinfo=SHANGHAI)).text
    assert "观摩项目" in text and "检查组" not in text


def test_city_filter_works_in_every_year(several: Engine) -> None:
    text = ask(several, "2022年广州有哪些观摩项目").text
    assert "广州" in text
    rows = [line for line in text.splitlines() if line[:1].isdigit()]
    assert rows and all("广州" in row for row in rows)


def test_deadlines_of_all_documents_feed_the_list(several: Engine) -> None:
    deadlines = several.deadlines(MAY_2023)
    dates = [d.date.isoformat() for d in deadlines]
    assert dates == sorted(dates)
    assert {"2021-09-30", "2022-09-28", "2023-06-15", "2023-11-30"} <= set(dates)
    upcoming = [d for d in deadlines if d.days_left >= 0]
    assert {d.date.isoformat() for d in upcoming} == {"2023-06-15", "2023-11-30"}


def test_dev_set_still_passes_with_an_older_notice_added(tmp_path: Path) -> None:
    kdir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kdir)
    older = (NOTICES / "gd-2022-quality-month.txt").read_text(encoding="utf-8")
    older = older.replace("2022", "2020").replace("536号", "412号")
    (kdir / "gd-2020-quality-month.yaml").write_text(ingest(older, doc_id="gd-2020-quality-month").yaml(), encoding="utf-8")
    engine = load_engine(kdir, INTENTS)
    assert len(engine.knowledge.documents) == 2
    cases = yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))
    passed, failures = evaluate(engine, cases, datetime(2021, 9, 25, 10, tzinfo=SHANGHAI))
    assert passed / len(cases) >= 0.97, "\n".join(failures)
