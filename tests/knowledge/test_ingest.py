"""Ingesting a notice must give a knowledge file the loader accepts, with the facts the hand-made file has."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.text import parse_cn_date as parse_date
from bot.knowledge.check import KnowledgeError
from bot.knowledge.ingest.clean import tidy
from bot.knowledge.ingest.draft import IngestResult, ingest
from bot.knowledge.load import load_knowledge
from tests.conftest import INTENTS, KNOWLEDGE, ROOT

NOTICE_2021 = ROOT / "knowledge" / "sources" / "gd-2021-quality-month.txt"
NOTICE_2022 = ROOT / "tests" / "notices" / "gd-2022-quality-month.txt"
NOTICE_2023 = ROOT / "tests" / "notices" / "gd-2023-quality-inspection.txt"
CURATED_2021 = KNOWLEDGE / "gd-2021-quality-month.yaml"
HEADING = re.compile(
    r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[）)]|\d{1,2}[.．、](?!\d))\s*"
)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def knowledge_folder(
    tmp_path: Path, results: dict[str, IngestResult], curated: bool = False
) -> Path:
    """A knowledge folder with the project's lexicon, the drafts and optionally the hand-made 2021 file."""
    folder = tmp_path / "knowledge"
    folder.mkdir()
    shutil.copy(KNOWLEDGE / "lexicon.yaml", folder / "lexicon.yaml")
    if curated:
        shutil.copy(CURATED_2021, folder / CURATED_2021.name)
    for name, result in results.items():
        (folder / f"{name}.yaml").write_text(result.yaml(), encoding="utf-8")
    return folder


def strings(value: Any, skip: tuple[str, ...] = ("questions", "keywords", "aliases")) -> list[str]:
    """Every text in the draft except the generated questions: what the notice's lines must be found in."""
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in skip for s in strings(v, skip)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v, skip)]
    return [str(value)]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def r2021() -> IngestResult:
    return ingest(read(NOTICE_2021))


@pytest.fixture(scope="module")
def r2022() -> IngestResult:
    return ingest(read(NOTICE_2022))


@pytest.fixture(scope="module")
def r2023() -> IngestResult:
    return ingest(read(NOTICE_2023))


@pytest.fixture(scope="module")
def curated() -> dict[str, Any]:
    return yaml.safe_load(read(CURATED_2021))


# ------------------------------------------------------------------------------------------ 2021


def test_2021_draft_loads_as_written(tmp_path: Path, r2021: IngestResult) -> None:
    k = load_knowledge(knowledge_folder(tmp_path, {"gd-2021-quality-month": r2021}), INTENTS)
    doc = k.documents["gd-2021-quality-month"]
    assert (doc.number, doc.issuer, doc.date, doc.year, doc.campaign) == (
        "粤建质函〔2021〕622号",
        "广东省住房和城乡建设厅",
        dt.date(2021, 8, 31),
        2021,
        "质量月",
    )
    assert doc.title == "广东省住房和城乡建设厅关于组织开展2021年“质量月”系列活动的通知"
    assert all(3 <= len(u.questions) <= 8 for u in k.units.values())
    assert all(u.id.startswith("gqm21-") for u in k.units.values())


def test_2021_yaml_round_trips(r2021: IngestResult) -> None:
    text = r2021.yaml()
    assert yaml.safe_load(text) == r2021.data
    assert "&id" not in text and "{" not in text.split("questions")[0]
    assert list(r2021.data) == ["document", "units", "deadlines", "contacts", "tables"]
    assert list(r2021.data["document"]) == [
        "id",
        "title",
        "short_title",
        "number",
        "issuer",
        "date",
        "year",
        "campaign",
    ]


def test_2021_every_line_is_placed(r2021: IngestResult) -> None:
    assert r2021.leftover == []
    corpus = "\n".join(squeeze(s) for s in strings(r2021.data))
    for number, line in enumerate(read(NOTICE_2021).splitlines(), 1):
        line = HEADING.sub("", line.strip())
        if not line or line == "附件":
            continue
        cells = line.split("\t") if "\t" in line else [line]
        for cell in cells:
            for clause in re.split(r"[。；：，]", cell):
                assert squeeze(clause) in corpus, f"line {number}: {clause!r} not in the draft"


def test_2021_broken_lines_are_joined(r2021: IngestResult) -> None:
    texts = [u["text"] for u in r2021.data["units"]]
    for joined in (
        "关于质量工作的重要论述",
        "行业协会（学会）组织召开工程质量论坛",
        "科学确定相关活动的形式",
    ):
        assert any(joined in t for t in texts), joined


def test_2021_sections_and_items(r2021: IngestResult, curated: dict[str, Any]) -> None:
    units = {u["id"]: u for u in r2021.data["units"]}
    mine = {u["section"]: u for u in units.values() if u["intent"] != "document"}
    theirs = {u["section"]: u for u in curated["units"] if u.get("intent") != "document"}
    assert set(mine) == set(theirs)
    for section in (
        "二（三）",
        "三（一）",
        "三（二）",
        "三（三）",
        "二（二）",
        "二（四）",
        "二（五）",
    ):
        assert mine[section]["title"] == theirs[section]["title"]
    for section in ("三（一）", "三（二）", "三（三）", "二（三）", "二（六）", "二（一）"):
        assert mine[section]["text"] == theirs[section]["text"], section
    assert units["gqm21-s1"]["intent"] == "theme"
    assert units["gqm21-s1"]["text"] == "深入实施质量提升行动 大力推进质量强国建设"
    assert "2021年质量月的主题" in units["gqm21-s1"]["questions"]
    mine_items = [i["text"] for i in units["gqm21-s2-3"]["items"]]
    their_items = [i["text"] for u in curated["units"] if u["id"] == "s2-3" for i in u["items"]]
    assert mine_items == their_items
    assert [i["id"] for i in units["gqm21-s2-6"]["items"]] == [
        f"gqm21-s2-6-{n}" for n in range(1, 5)
    ]
    assert all(u.get("generated") is True for u in units.values())


def test_2021_document_facts(r2021: IngestResult, curated: dict[str, Any]) -> None:
    mine = {
        u["id"].removeprefix("gqm21-"): u["text"]
        for u in r2021.data["units"]
        if u["intent"] == "document"
    }
    theirs = {u["id"]: u["text"] for u in curated["units"] if u.get("intent") == "document"}
    for key in (
        "doc-number",
        "doc-title",
        "doc-issuer",
        "doc-date",
        "doc-basis",
        "doc-addressee",
        "doc-disclosure",
        "doc-period",
        "doc-purpose",
    ):
        assert mine[key] == theirs[key], key


def test_2021_deadline_matches_curated(r2021: IngestResult, curated: dict[str, Any]) -> None:
    [mine] = r2021.data["deadlines"]
    [theirs] = curated["deadlines"]
    for key in ("date", "what", "who", "how", "to", "section", "text"):
        assert mine[key] == theirs[key], key
    assert mine["date"] == dt.date(2021, 9, 30)
    assert "质量月活动总结材料什么时候截止" in mine["questions"]


def test_2021_contact_matches_curated(r2021: IngestResult, curated: dict[str, Any]) -> None:
    [mine] = r2021.data["contacts"]
    [theirs] = curated["contacts"]
    for key in ("name", "phone", "fax", "email", "office", "text"):
        assert mine[key] == theirs[key], key


def test_2021_table_matches_curated(r2021: IngestResult, curated: dict[str, Any]) -> None:
    [mine] = r2021.data["tables"]
    [theirs] = curated["tables"]
    assert mine["columns"] == theirs["columns"]
    assert mine["roles"] == theirs["roles"]
    assert mine["title"] == theirs["title"]
    assert len(mine["rows"]) == 6
    for a, b in zip(mine["rows"], theirs["rows"], strict=True):
        for column in theirs["columns"]:
            assert str(a[column]) == str(b[column]), column
    assert "{city}有哪些观摩项目" in mine["questions"]
    assert "{project}的施工单位" in mine["questions"]


# ------------------------------------------------------------------------------------------ 2022, 2023


def test_new_notices_load_beside_the_curated_file(
    tmp_path: Path, r2022: IngestResult, r2023: IngestResult
) -> None:
    folder = knowledge_folder(
        tmp_path,
        {"gd-2022-quality-month": r2022, "gd-2023-quality-inspection": r2023},
        curated=True,
    )
    k = load_knowledge(folder, INTENTS)
    assert set(k.documents) == {
        "gd-2021-quality-month",
        "gd-2022-quality-month",
        "gd-2023-quality-inspection",
    }
    assert [d.date for d in k.deadlines()] == [
        dt.date(2021, 9, 30),
        dt.date(2022, 9, 28),
        dt.date(2023, 6, 15),
        dt.date(2023, 11, 30),
    ]
    assert k.latest_document().id == "gd-2023-quality-inspection"
    assert {u.document for u in k.units.values()} == set(k.documents)


def test_2022_extraction(r2022: IngestResult) -> None:
    assert r2022.leftover == []
    doc = r2022.data["document"]
    assert (doc["id"], doc["number"], doc["date"], doc["year"], doc["campaign"]) == (
        "gd-2022-quality-month",
        "粤建质函〔2022〕536号",
        dt.date(2022, 8, 26),
        2022,
        "质量月",
    )
    [deadline] = r2022.data["deadlines"]
    assert deadline["date"] == dt.date(2022, 9, 28)
    assert deadline["what"] == "“质量月”活动开展情况总结"
    assert deadline["how"] == "电子邮件形式"
    assert deadline["to"] == "我厅建筑市场监管处"
    assert deadline["who"] == "各地级以上市住房城乡建设主管部门"
    [contact] = r2022.data["contacts"]
    assert (
        contact["name"],
        contact["phone"],
        contact["fax"],
        contact["email"],
        contact["office"],
    ) == (
        "李某某",
        "020-88881234",
        "020-88885678",
        "zlyhd2022@example.gov.cn",
        "建筑市场监管处",
    )
    [table] = r2022.data["tables"]
    assert table["columns"] == ["序号", "城市", "项目名称", "建设单位", "施工单位"]
    assert table["roles"] == {
        "number": "序号",
        "city": "城市",
        "name": "项目名称",
        "org": "施工单位",
    }
    assert table["title"] == "2022年全省住房城乡建设系统“质量月”品质工程观摩项目"
    assert [r["城市"] for r in table["rows"]] == ["广州", "佛山", "珠海", "惠州", "湛江"]
    assert table["rows"][3]["项目名称"] == "惠州市中心医院B区扩建工程"
    assert table["rows"][0]["建设单位"] == "广州示例城市更新有限公司"
    assert table["rows"][0]["施工单位"] == "粤示建设集团有限公司"
    units = {u["id"]: u for u in r2022.data["units"]}
    theme = units["gqm22-s1"]
    assert theme["intent"] == "theme" and theme["text"] == "推动质量变革创新 建设品质示范工程"
    assert "2022年质量月的主题" in theme["questions"]
    assert [i["label"] for i in units["gqm22-s2-3"]["items"]] == ["1.", "2.", "3."]
    assert units["gqm22-s3-2"]["text"].endswith("切实解决一批群众反映强烈的实际问题。")
    assert "做法和成效" in units["gqm22-s2-2"]["text"]


def test_2023_extraction(r2023: IngestResult) -> None:
    assert r2023.leftover == []
    doc = r2023.data["document"]
    assert (doc["id"], doc["number"], doc["date"], doc["year"]) == (
        "gd-2023-quality-inspection",
        "粤建质〔2023〕118号",
        dt.date(2023, 4, 20),
        2023,
    )
    first, second = r2023.data["deadlines"]
    assert (first["date"], first["what"], first["how"], first["to"]) == (
        dt.date(2023, 6, 15),
        "自查报告",
        "书面及电子邮件形式",
        "我厅工程质量安全监管处",
    )
    assert (second["date"], second["what"], second["how"], second["to"]) == (
        dt.date(2023, 11, 30),
        "年度质量检查工作总结",
        "电子邮件形式",
        "我厅工程质量安全监管处",
    )
    assert first["who"] == second["who"] == "各地级以上市住房城乡建设主管部门"
    assert first["section"] == second["section"] == "四（二）"
    [contact] = r2023.data["contacts"]
    assert (contact["name"], contact["phone"], contact["email"]) == (
        "王某某",
        "020-88882345",
        "zljc2023@example.gov.cn",
    )
    assert "fax" not in contact
    [table] = r2023.data["tables"]
    assert table["columns"] == ["序号", "检查组", "组长", "检查地市"]
    assert table["roles"]["city"] == "检查地市"
    assert [r["序号"] for r in table["rows"]] == [1, 2, 3, 4, 5, 6]
    assert table["rows"][3] == {
        "序号": 4,
        "检查组": "第四检查组",
        "组长": "吴某某",
        "检查地市": "汕头、潮州、揭阳、汕尾",
    }
    units = {u["id"]: u for u in r2023.data["units"]}
    assert [i["text"] for i in units["gqi23-s4-1"]["items"]] == [
        "一是制定检查工作方案",
        "二是落实检查人员和经费",
        "三是确保检查覆盖全部在建住宅工程。",
    ]
    assert units["gqi23-s3-3"]["text"].endswith(
        "下发整改通知书，对存在严重质量问题的项目依法依规予以查处。"
    )
    assert not any(u["intent"] == "theme" for u in units.values())


def test_two_notices_of_one_campaign_do_not_clash(
    tmp_path: Path, r2021: IngestResult, r2022: IngestResult
) -> None:
    load_knowledge(knowledge_folder(tmp_path, {"a": r2021, "b": r2022}), INTENTS)


def test_same_notice_twice_is_refused_by_the_loader(tmp_path: Path, r2022: IngestResult) -> None:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(knowledge_folder(tmp_path, {"a": r2022, "b": r2022}), INTENTS)
    assert "通知编号“gd-2022-quality-month”重复" in str(info.value)


def test_doc_id_sets_the_prefix() -> None:
    result = ingest(read(NOTICE_2022), doc_id="sz-2022-quality-month")
    assert result.data["document"]["id"] == "sz-2022-quality-month"
    assert all(u["id"].startswith("sqm22-") for u in result.data["units"])
    with pytest.raises(ValueError):
        ingest(read(NOTICE_2022), doc_id="Bad Id")


def test_unplaced_lines_are_reported_with_numbers() -> None:
    lines = read(NOTICE_2022).splitlines()
    at = lines.index("公开方式：主动公开")
    lines.insert(at + 1, "请各单位自行下载打印。")
    result = ingest("\n".join(lines))
    assert [(x.line, x.text) for x in result.leftover] == [(at + 2, "请各单位自行下载打印。")]
    assert f"第{at + 2}行：请各单位自行下载打印。" in result.report.text()


def test_copy_line_is_a_unit_not_a_leftover() -> None:
    lines = read(NOTICE_2022).splitlines()
    lines.insert(lines.index("公开方式：主动公开") + 1, "抄送：省建筑业协会，省市政行业协会。")
    result = ingest("\n".join(lines))
    assert result.leftover == []
    copy = [u for u in result.data["units"] if u["title"] == "抄送单位"]
    assert [u["text"] for u in copy] == ["抄送：省建筑业协会，省市政行业协会。"]


# ------------------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021年9月30日", dt.date(2021, 9, 30)),
        ("9月30日", dt.date(2022, 9, 30)),
        ("9月中旬", dt.date(2022, 9, 20)),
        ("6月上旬", dt.date(2022, 6, 10)),
        ("9月", dt.date(2022, 9, 30)),
        ("2月底", dt.date(2022, 2, 28)),
    ],
)
def test_parse_date(text: str, expected: dt.date) -> None:
    assert parse_date(text, 2022) == expected


def test_parse_date_rolls_into_next_year() -> None:
    assert parse_date("1月15日", 2022, after=dt.date(2022, 12, 20)) == dt.date(2023, 1, 15)


def test_tidy_keeps_spaces_between_phrases_only() -> None:
    assert tidy("开展 2021年“质量月” 观摩") == "开展2021年“质量月”观摩"
    assert tidy("虎门高铁站 TOD 核心区") == "虎门高铁站TOD核心区"
    assert (
        tidy("深入实施质量提升行动 大力推进质量强国建设")
        == "深入实施质量提升行动 大力推进质量强国建设"
    )


# ------------------------------------------------------------------------------------------ CLI


def run_bot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run_bot.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_ingest_then_check(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    shutil.copy(KNOWLEDGE / "lexicon.yaml", folder)
    shutil.copy(CURATED_2021, folder)
    for notice in (NOTICE_2022, NOTICE_2023):
        run = run_bot(
            "ingest", str(notice.relative_to(ROOT)), "-o", str(folder / f"{notice.stem}.yaml")
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout == ""
        assert "【未归位的行】0 行" in run.stderr
        assert "Traceback" not in run.stderr
    check = run_bot(
        "check",
        "--knowledge",
        str(folder),
        "--intents",
        str(INTENTS),
        "--db",
        str(tmp_path / "bot.sqlite3"),
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("检查通过：3 份通知")


def test_cli_ingest_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "x.yaml"
    target.write_text("keep me\n", encoding="utf-8")
    run = run_bot("ingest", str(NOTICE_2022), "-o", str(target))
    assert run.returncode != 0
    assert "--force" in run.stderr and "已存在" in run.stderr
    assert target.read_text(encoding="utf-8") == "keep me\n"
    run = run_bot("ingest", str(NOTICE_2022), "-o", str(target), "--force", "--id", "gd-2022-qm")
    assert run.returncode == 0, run.stderr
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["document"]["id"] == "gd-2022-qm"


def test_cli_ingest_to_stdout_reports_leftovers(tmp_path: Path) -> None:
    notice = tmp_path / "notice.txt"
    lines = read(NOTICE_2023).splitlines()
    at = lines.index("公开方式：主动公开") + 1
    lines.insert(at, "请各检查组自行安排食宿。")
    notice.write_text("\n".join(lines), encoding="utf-8")
    run = run_bot("ingest", str(notice))
    assert run.returncode == 0, run.stderr
    assert yaml.safe_load(run.stdout)["document"]["id"] == "gd-2023-quality-inspection"
    assert "【未归位的行】1 行" in run.stderr
    assert f"第{at + 1}行：请各检查组自行安排食宿。" in run.stderr
