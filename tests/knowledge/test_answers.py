"""Ingest, then ask: each fixture notice's draft answers the questions written for it before ingest.

The bot answers from the draft alone (plus the project's lexicon and intents), as it would the day
staff add a notice and before anyone edits the generated questions. Pass rates are printed; the
floors are what the ingester and the current engine reach together, kept so neither slips.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from bot.core.engine import Engine
from bot.core.model import Incoming
from bot.knowledge.evaluate import evaluate
from bot.knowledge.ingest.draft import IngestResult, ingest_file
from bot.service import load_engine
from tests.conftest import DEV_SET, INTENTS, KNOWLEDGE, SHANGHAI
from tests.knowledge.notice_checks import FIXTURES, expect, names, when

OVERALL_FLOOR = 0.75  # measured 0.80 (141/176) with the engine of this commit
NEXT_YEAR_FLOOR = 0.9  # the 2022 Quality Month notice in the 2021 layout: measured 1.0 (12/12)
DEV_SET_FLOOR = 0.8  # the 2021 notice's development questions on its own draft, before any review: measured 0.89 (66/74)


def engine_for(folder: Path, drafts: dict[str, IngestResult]) -> Engine:
    folder.mkdir(parents=True)
    shutil.copy(KNOWLEDGE / "lexicon.yaml", folder)
    for name, result in drafts.items():
        (folder / f"{name}.yaml").write_text(result.yaml(), encoding="utf-8")
    return load_engine(folder, INTENTS)


def draft_engine(tmp_path: Path, name: str) -> tuple[Engine, datetime]:
    """The bot on one fixture notice's raw draft, and the moment its questions are asked."""
    engine = engine_for(tmp_path / name / "knowledge", {name: ingest_file(FIXTURES / f"{name}.txt", doc_id=name)})
    return engine, when(expect(name)).replace(tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int, list[str]]]:
    out = {}
    for name in names():
        draft = ingest_file(FIXTURES / f"{name}.txt", doc_id=name)
        engine = engine_for(tmp_path_factory.mktemp(name) / "knowledge", {name: draft})
        cases = expect(name)["questions"]
        now = when(expect(name)).replace(tzinfo=SHANGHAI)
        passed, failures = evaluate(engine, cases, now)
        out[name] = (passed, len(cases), failures)
    return out


def test_fixture_questions_are_answered(results: dict[str, tuple[int, int, list[str]]], capsys: pytest.CaptureFixture[str]) -> None:
    passed = sum(p for p, _, _ in results.values())
    total = sum(n for _, n, _ in results.values())
    with capsys.disabled():
        print()
        for name, (p, n, _) in results.items():
            print(f"  {name}: {p}/{n}")
        print(f"answered right: {passed}/{total} = {passed / total:.0%}")
    assert passed / total >= OVERALL_FLOOR
    p, n, failures = results["gdjst-2022-quality-month"]
    assert p / n >= NEXT_YEAR_FLOOR, "\n".join(failures)


def test_every_fixture_answers_its_deadline_and_contact(results: dict[str, tuple[int, int, list[str]]]) -> None:
    """The two facts people ask most: no draft may lose both."""
    for name, (p, _, _) in results.items():
        assert p >= 3, name


def test_fallback_questions_still_fall_back(results: dict[str, tuple[int, int, list[str]]]) -> None:
    """A draft must not make the bot guess: most questions the notice does not answer are refused."""
    refused = wrong = 0
    for name, (_, _, failures) in results.items():
        cases = expect(name)["questions"]
        fallback = [c["q"] for c in cases if c.get("fallback")]
        guessed = [q for q in fallback if any(f"FAIL {q!r}: should fall back" in f for f in failures)]
        refused += len(fallback) - len(guessed)
        wrong += len(guessed)
    assert refused >= 2 * wrong


def test_the_2021_notice_answers_from_its_draft(tmp_path: Path) -> None:
    draft = ingest_file(KNOWLEDGE / "sources" / "gd-2021-quality-month.txt")
    engine = engine_for(tmp_path / "knowledge", {"gd-2021-quality-month": draft})
    cases = yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))
    passed, failures = evaluate(engine, cases, datetime(2021, 9, 25, 10, tzinfo=SHANGHAI))
    print(f"2021 draft, development questions: {passed}/{len(cases)}")
    assert passed / len(cases) >= DEV_SET_FLOOR, "\n".join(failures)
    reply = engine.answer(Incoming("总结材料几时交"), datetime(2021, 9, 25, 10, tzinfo=SHANGHAI))
    assert "9月30日" in reply.text and "（粤建质函〔2021〕622号）" in reply.text


def test_a_notice_without_number_cites_cleanly(tmp_path: Path) -> None:
    draft = ingest_file(FIXTURES / "gzcia-2020-report-letter.txt", doc_id="gzcia-2020-report-letter")
    engine = engine_for(tmp_path / "knowledge", {"gzcia-2020-report-letter": draft})
    now = datetime(2020, 5, 11, 10, tzinfo=SHANGHAI)
    for question in ("几时要报", "电话", "天气怎么样"):
        text = engine.answer(Incoming(question), now).text
        assert "（）" not in text and "()" not in text
    assert "5月22日" in engine.answer(Incoming("几时要报"), now).text


def test_a_draft_suggests_only_what_it_answers_and_never_an_empty_contact(tmp_path: Path) -> None:
    """Staff's suggestions are written for the 2021 notice: beside another notice alone, those it does not
    answer give way to the notice's own questions, and a line whose facts are all missing is left out."""
    for name in names():
        engine, now = draft_engine(tmp_path, name)
        reply = engine.answer(Incoming("食堂几点开饭"), now)
        assert reply.fallback, name
        assert "请联系。" not in reply.text and "我可以回答：。" not in reply.text and "：\n" not in reply.text, (name, reply.text)
        assert reply.suggestions, name
        for question in reply.suggestions:
            offered = engine.answer(Incoming(question), now)
            assert not offered.fallback and offered.sources, (name, question, offered.text)


def test_a_date_things_start_from_answers_when_but_not_until_when(tmp_path: Path) -> None:
    name = "gdszxh-2023-certificate-notice"
    engine, now = draft_engine(tmp_path, name)
    start = engine.answer(Incoming("证书几时可以领"), now)
    assert not start.fallback and "3月6日" in start.text
    end = engine.answer(Incoming("领证书截止到几时"), now)
    assert end.fallback and "没有写明" in end.text and "3月6日" not in end.text


@pytest.mark.parametrize(
    ("name", "question", "fact"),
    [
        ("cca-2025-bim-contest", "视频可以几长", "5分钟"),  # two parts quote the sentence: a length is still one fact
        ("cca-2025-bim-contest", "文本最多几页", "30页"),
        ("cca-2025-bim-contest", "要唔要交钱", "不向参加单位收取任何费用"),  # not "不要提醒"
        ("gzcia-2020-report-letter", "电子版发去边度", "gzjzy-fzb@example.com"),  # where the deadline's material goes
        ("szcia-2018-training", "座机号码", "83276640"),  # one office line shared by both people named
        ("szzjj-2024-quality-month-plan", "每个区推荐几个项目", "1个"),  # how many: the part giving a number of it
        ("szzjj-2024-quality-month-plan", "总结要附几张相", "3至5张"),
    ],
)
def test_a_raw_draft_answers_a_fact_its_text_gives(tmp_path: Path, name: str, question: str, fact: str) -> None:
    engine, now = draft_engine(tmp_path, name)
    reply = engine.answer(Incoming(question), now)
    assert not reply.fallback and fact in reply.text, reply.text


def test_how_many_of_something_no_part_counts_is_declined(tmp_path: Path) -> None:
    engine, now = draft_engine(tmp_path, "szzjj-2024-quality-month-plan")
    assert engine.answer(Incoming("每个区要交几份检讨书"), now).fallback
