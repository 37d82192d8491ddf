"""Notices as departments and associations publish them: every fixture ingested, checked field by field.

The fixtures (tests/notices/fixtures/, see its README) are invented notices written in the layouts
real notices use; each has an expect.yaml written by hand from the notice, not from the ingester.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jieba
import pytest
import yaml

from bot.knowledge.ingest.draft import IngestResult, ingest_file
from bot.knowledge.ingest.questions import well_formed
from bot.knowledge.ingest.read import NoticeError, read_notice
from bot.knowledge.load import load_knowledge
from tests.conftest import INTENTS, KNOWLEDGE, ROOT
from tests.knowledge.notice_checks import FIXTURES, expect, names, score, squash

SOURCE_2021 = KNOWLEDGE / "sources" / "gd-2021-quality-month.txt"
FORMATS_2021 = [FIXTURES / f"gd-2021-quality-month.{ext}" for ext in ("docx", "pdf", "html")]


@pytest.fixture(scope="module")
def drafts() -> dict[str, IngestResult]:
    return {name: ingest_file(FIXTURES / f"{name}.txt", doc_id=name) for name in names()}


def notice(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


def test_there_are_enough_fixtures_of_enough_kinds() -> None:
    assert len(names()) >= 12
    issuers = {expect(n)["issuer"] for n in names()}
    assert len(issuers) >= 8


# ------------------------------------------------------------------------------------- field by field


@pytest.mark.parametrize("name", names())
def test_document_facts(drafts: dict[str, IngestResult], name: str) -> None:
    """Issuer (from red-head, title or signature), 文号 in any brackets, date (also in Chinese numerals), title."""
    s = score(drafts[name], expect(name), notice(name))
    failed = [f for f in s.failures if f.split(":")[0] in ("issuer", "number", "date", "title")]
    assert failed == []


@pytest.mark.parametrize("name", names())
def test_deadlines(drafts: dict[str, IngestResult], name: str) -> None:
    """Every deadline with the right year, and what the draft says of it is the notice's own wording."""
    s = score(drafts[name], expect(name), notice(name))
    failed = [f for f in s.failures if f.startswith("deadline dates") or "verbatim" in f]
    assert failed == []


@pytest.mark.parametrize("name", names())
def test_contacts(drafts: dict[str, IngestResult], name: str) -> None:
    """One contact per person, with their own phone, mobile and fax (shared lines shared)."""
    s = score(drafts[name], expect(name), notice(name))
    assert [f for f in s.failures if f.startswith("contact")] == []


@pytest.mark.parametrize("name", names())
def test_attachments_tables_and_lines(drafts: dict[str, IngestResult], name: str) -> None:
    """Attachments listed by name are reported, tables keep their columns and rows, no line is lost."""
    s = score(drafts[name], expect(name), notice(name))
    assert [f for f in s.failures if f.startswith(("attachments", "tables", "table ", "every line"))] == []


def test_field_accuracy_overall(drafts: dict[str, IngestResult], capsys: pytest.CaptureFixture[str]) -> None:
    """All checks together, the deadline's what and to included (those are compared loosely)."""
    checks = [ok for name in names() for ok in score(drafts[name], expect(name), notice(name)).checks.values()]
    rate = sum(checks) / len(checks)
    with capsys.disabled():
        print(f"\nfield extraction: {sum(checks)}/{len(checks)} checks = {rate:.1%}")
    assert rate >= 0.97


def test_a_deadline_dated_in_december_falls_in_the_next_year(drafts: dict[str, IngestResult]) -> None:
    [deadline] = drafts["cca-2019-luban-pre"].data["deadlines"]
    assert deadline["date"].isoformat() == "2020-01-15"


def test_decoy_dates_are_not_deadlines(drafts: dict[str, IngestResult]) -> None:
    assert "deadlines" not in drafts["gdszxh-2023-certificate-notice"].data  # 自…起 is a start date
    dates = [d["date"].isoformat() for d in drafts["gdcia-2021-quality-award"].data["deadlines"]]
    assert dates == ["2021-06-30"]  # the system opening on 5月10日 is not a deadline
    aggregator = drafts["szzjj-2024-quality-month-plan"]
    assert all("投标" not in d["text"] for d in aggregator.data["deadlines"])
    assert {x.reason for x in aggregator.report.ignored} >= {"网页模板字段", "网页相关链接"}


def test_a_site_footer_phone_is_not_a_contact(drafts: dict[str, IngestResult]) -> None:
    text = drafts["jmzjj-2013-safety-check-web"].yaml()
    assert "3286000" not in text and "3286215" in text


# ------------------------------------------------------------------------------------- honest drafts


def test_absent_facts_are_absent_and_reported(tmp_path: Path, drafts: dict[str, IngestResult]) -> None:
    result = drafts["gzcia-2020-report-letter"]
    doc = result.data["document"]
    assert "number" not in doc and "title" not in doc
    assert doc["issuer"] == "广州市建筑业联合会" and doc["date"].isoformat() == "2020-05-08"
    text = result.yaml()
    for placeholder in ("未识别", "无文号", "（（", "-01-01"):
        assert placeholder not in text
    report = result.report.text()
    assert "文号：未找到" in report and "标题：未找到" in report
    assert not any(u["title"] in ("文号", "通知标题") for u in result.data["units"])
    folder = tmp_path / "knowledge"
    folder.mkdir()
    shutil.copy(KNOWLEDGE / "lexicon.yaml", folder)
    (folder / "a.yaml").write_text(text, encoding="utf-8")
    k = load_knowledge(folder, INTENTS)
    assert k.documents["gzcia-2020-report-letter"].number == ""


def test_an_attachment_listed_by_name_only_is_reported(drafts: dict[str, IngestResult]) -> None:
    result = drafts["cca-2019-luban-pre"]
    assert [a["has_body"] for a in result.report.attachments] == [False, False]
    assert result.report.text().count("只列了名称") == 2
    unit = next(u for u in result.data["units"] if u["title"] == "附件")
    assert "推荐工程预申报信息反馈表" in unit["text"] and "现场复查工作初步安排表" in unit["text"]


def test_report_is_data_for_the_console(drafts: dict[str, IngestResult]) -> None:
    data = drafts["dgcia-2012-qc-meeting"].report.to_dict()
    assert data["facts"]["文号"] == "东建协（2012）7号"
    assert [c["name"] for c in data["contacts"]] == ["梁淑芬", "黄国辉"]
    assert data["contacts"][1]["office"] == "会务组（莞建酒店）" and data["contacts"][1]["mobile"] == "13650086217"
    assert data["deadlines"][0]["how"] == "传真"
    assert data["tables"][0]["rows"] == 6


# ------------------------------------------------------------------------------------- questions


FUNCTION = ("的", "和", "及", "与", "、", "，", "关于", "对", "在", "将")


def _dangling(text: str) -> bool:
    """Ends on a function word once a question word is taken off: '关于加强的是什么', '监督检查的'."""
    stem = re.sub(r"(是什么|有哪些|有什么要求|怎么做)$", "", text)
    words = jieba.lcut(stem, HMM=False)
    return bool(words) and words[-1] in FUNCTION and not re.search(r"[发布写办定送交做签印出]的$", stem)


def test_generated_questions_are_well_formed(drafts: dict[str, IngestResult]) -> None:
    problems = []
    for name, result in drafts.items():
        entries = result.data["units"] + [i for u in result.data["units"] for i in u.get("items", [])]
        entries += result.data.get("deadlines", []) + result.data.get("contacts", [])
        for entry in entries:
            title = entry.get("title", "")
            cuts = {len("".join(jieba.lcut(title, HMM=False)[:n])) for n in range(len(jieba.lcut(title, HMM=False)) + 1)}
            for q in entry["questions"]:
                bad = _dangling(q) or q.count("《") != q.count("》") or q.count("（") != q.count("）") or "的的" in q
                stem = re.sub(r"(是什么|有哪些|怎么做|有什么要求)$", "", q)
                if title and stem != title and title.startswith(stem) and len(stem) not in cuts:
                    bad = True  # a title cut inside a word
                if bad:
                    problems.append(f"{name} {entry['id']}: {q}")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("question", "ok"),
    [
        ("质量月的目的是什么", True),
        ("通知哪天发的", True),
        ("关于加强的是什么", False),
        ("监督检查的", False),
        ("“质量月活动", False),
        ("组织召开工程质量论坛是什么", True),
        ("关于质量的有什么要求", False),
    ],
)
def test_grammar_guard(question: str, ok: bool) -> None:
    assert well_formed(question) is ok


# ------------------------------------------------------------------------------------- encodings and formats


@pytest.mark.parametrize("name", sorted(p.name.removesuffix(".gbk.txt") for p in FIXTURES.glob("*.gbk.txt")))
def test_gbk_text_gives_the_same_draft(drafts: dict[str, IngestResult], name: str) -> None:
    result = ingest_file((FIXTURES / f"{name}.gbk.txt").read_bytes(), f"{name}.txt", doc_id=name)
    assert result.report.encoding == "gb18030"
    assert result.data == drafts[name].data


@pytest.mark.parametrize("path", FORMATS_2021, ids=lambda p: p.suffix)
def test_2021_notice_in_every_format_gives_the_same_draft(path: Path) -> None:
    """Word (tables as tables), PDF (page numbers dropped, broken lines joined), a saved web page."""
    from_text = ingest_file(SOURCE_2021)
    result = ingest_file(path)
    assert result.leftover == []
    assert result.data == from_text.data
    assert result.report.format == path.suffix[1:]


def test_pdf_loses_its_page_numbers_and_web_page_its_furniture() -> None:
    pdf = read_notice((FIXTURES / "gd-2021-quality-month.pdf").read_bytes(), "x.pdf")
    assert pdf.pages >= 2 and not re.search(r"^[—-]\s*\d+\s*[—-]$", pdf.text, re.M)
    assert "各地各有关主管部门、各有关行业协会请于" in pdf.text.replace(" ", "")
    page = ingest_file(FIXTURES / "gd-2021-quality-month.html")
    reasons = {x.reason for x in page.report.ignored}
    assert {"网页导航", "网页按钮", "网页提示"} <= reasons
    assert "浏览次数" not in page.yaml() and "分享到" not in page.yaml()


def _scanned_pdf() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (600, 800), "white").save(buffer, format="PDF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "says"),
    [
        (_scanned_pdf(), "扫描件.pdf", "扫描件"),
        (b"%PDF-1.4 broken", "x.pdf", "无法打开这个 PDF"),
        (b"PK\x03\x04 not really a zip", "x.docx", "无法打开这个 Word 文件"),
        (b"\xd0\xcf\x11\xe0 old word", "x.doc", ".doc"),
        (b"   \n\n", "x.txt", "几乎没有文字"),
        (bytes(range(256)) * 4, "x.txt", "编码"),
    ],
)
def test_unreadable_files_are_refused_in_chinese(data: bytes, filename: str, says: str) -> None:
    with pytest.raises(NoticeError) as info:
        ingest_file(data, filename)
    assert says in str(info.value)


def test_cli_ingests_a_word_file_and_refuses_a_scanned_pdf(tmp_path: Path) -> None:
    target = tmp_path / "draft.yaml"
    run = subprocess.run(
        [sys.executable, "run_bot.py", "ingest", str(FORMATS_2021[0]), "-o", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Word 文件" in run.stderr and "【截止时间】1 项" in run.stderr
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["document"]["number"] == "粤建质函〔2021〕622号"
    scanned = tmp_path / "scan.pdf"
    scanned.write_bytes(_scanned_pdf())
    run = subprocess.run(
        [sys.executable, "run_bot.py", "ingest", str(scanned), "-o", str(tmp_path / "scan.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert "扫描件" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "scan.yaml").exists()


def test_every_fixture_draft_loads_beside_the_others(tmp_path: Path, drafts: dict[str, IngestResult]) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    shutil.copy(KNOWLEDGE / "lexicon.yaml", folder)
    shutil.copy(KNOWLEDGE / "gd-2021-quality-month.yaml", folder)
    for name, result in drafts.items():
        (folder / f"{name}.yaml").write_text(result.yaml(), encoding="utf-8")
    k = load_knowledge(folder, INTENTS)
    assert len(k.documents) == len(drafts) + 1
    assert k.latest_document().id == "cca-2025-bim-contest"
    assert [d.date for d in k.deadlines()] == sorted(d.date for d in k.deadlines())
    assert {squash(d.issuer) for d in k.documents.values()} >= {squash(expect(n)["issuer"]) for n in names()}


SMALL = """关于征集2026年度工程质量管理小组优秀成果的函

2026-03-02

某省建筑业协会质量分会

某建协质函〔2026〕5号

各会员单位:

为交流工程质量管理小组活动经验,我分会拟汇编本年度优秀成果。请于4月10日前将成果摘要反馈至我分会秘书处。

联系人:甲某某、乙某某

电   话:010-12345678

附件:1、成果摘要表

2、成果汇总表

    2026年3月2日
"""


def test_title_first_then_a_web_date_and_a_branch_red_head() -> None:
    """A copy that puts the title above the red-head, keeps the site's ISO date, and signs with the date alone."""
    result = ingest_file(SMALL.encode(), "small.txt", doc_id="small-2026")
    doc = result.data["document"]
    assert (doc["issuer"], doc["number"], doc["date"].isoformat()) == ("某省建筑业协会质量分会", "某建协质函〔2026〕5号", "2026-03-02")
    assert [a["name"] for a in result.report.attachments] == ["成果摘要表", "成果汇总表"]
    assert [x.reason for x in result.report.ignored] == ["网页发布信息"]
    assert result.leftover == []


TRADITIONAL = """各會員單位:
為做好本年度優質工程申報工作,請有關單位在2026年4月30日前將擬申報項目的清單報我會技術部。(聯系人:某某某,聯系電話:83500000)。
附件:
1、《
申報項目清單.doc》
特此通知。
某市建筑業聯合會
二○二六年三月十六日
"""


def test_a_bare_attachment_heading_a_broken_name_and_a_compound_verb() -> None:
    """'附件:' alone before a numbered name broken inside 《》; 申報 is part of the thing sent, not the verb."""
    result = ingest_file(TRADITIONAL.encode("gb18030"), "notice.txt", doc_id="small-2026")
    [deadline] = result.data["deadlines"]
    assert (deadline["what"], deadline["to"]) == ("擬申報項目的清單", "我會技術部")
    assert [a["name"] for a in result.report.attachments] == ["申報項目清單"]
    assert result.data["document"]["date"].isoformat() == "2026-03-16"
    assert result.leftover == []


COLUMN = """通知公告

关于开展2026年度示范工地现场复查工作的通知

某协字〔2026〕9号

各推荐单位：

一、复查定于6月1日开始。

二、复查结束后，请各申报单位于5日内将意见反馈表寄至我会秘书处。

联系人：甲某某

电话：010-12345678
"""


def test_a_site_column_is_not_a_title_and_a_relative_period_is_no_date() -> None:
    result = ingest_file(COLUMN.encode(), "notice.txt", doc_id="small-2026")
    assert result.data["document"]["title"] == "关于开展2026年度示范工地现场复查工作的通知"
    assert "deadlines" not in result.data
    assert any("5日内" in note for note in result.report.notes)
