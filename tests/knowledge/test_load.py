"""Broken YAML must give one clear message per problem, naming file, line and key path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge.check import KnowledgeError
from bot.knowledge.load import load_knowledge
from tests.conftest import INTENTS, KNOWLEDGE, ROOT

NOTICE = KNOWLEDGE / "gd-2021-quality-month.yaml"


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    """A copy of the real knowledge folder to break."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    shutil.copy(INTENTS, tmp_path / "intents.yaml")
    return target


def problems_for(kdir: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(kdir, kdir.parent / "intents.yaml")
    return [str(p) for p in info.value.problems]


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def test_real_knowledge_is_valid() -> None:
    k = load_knowledge(KNOWLEDGE, INTENTS)
    assert k.documents and k.deadlines()
    assert all(3 <= len(u.questions) or u.kind == "item" for u in k.units.values())


def test_bad_indentation_names_file_and_line(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    n = line_of(path, "deadlines:")
    lines.insert(n, "     broken: [indent")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_for(kdir)
    assert len(found) == 1
    assert found[0].startswith(f"{path.name}:") or "gd-2021-quality-month.yaml:" in found[0]
    assert "YAML syntax error" in found[0]
    reported = int(found[0].split(".yaml:")[1].split(":")[0])
    assert abs(reported - (n + 1)) <= 2


def test_missing_key_is_named_with_its_path(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    text = path.read_text(encoding="utf-8")
    n = line_of(path, "what:")
    lines = text.splitlines()
    del lines[n - 1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_for(kdir)
    assert any("deadlines[0].what" in p and "missing required key 'what'" in p for p in found), found
    assert all("gd-2021-quality-month.yaml:" in p for p in found)


def test_wrong_type_says_what_was_expected(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    text = path.read_text(encoding="utf-8").replace("date: 2021-09-30", "date: 九月底", 1)
    path.write_text(text, encoding="utf-8")
    found = problems_for(kdir)
    line = line_of(path, "date: 九月底")
    assert any(f":{line}: deadlines[0].date: expected a date like 2021-09-30" in p for p in found), found


def test_duplicate_id_points_at_both_places(kdir: Path) -> None:
    first_id = next(iter(load_knowledge(KNOWLEDGE, INTENTS).units))
    extra = kdir / "zz-extra.yaml"
    extra.write_text(
        "document:\n  id: extra-doc\n  title: 测试通知\n  number: 测试〔2022〕1号\n  issuer: 测试厅\n"
        "  date: 2022-08-01\n  year: 2022\n"
        f"units:\n  - id: {first_id}\n    section: 一\n    title: 主题\n    text: 测试主题\n    questions: [主题, 主题是什么, 什么主题]\n",
        encoding="utf-8",
    )
    found = problems_for(kdir)
    dup = [p for p in found if f"duplicate id '{first_id}'" in p]
    assert len(dup) == 1
    assert f"zz-extra.yaml:9: units[0].id: duplicate id '{first_id}'" in dup[0]
    assert "(first at " in dup[0] and "gd-2021-quality-month.yaml:" in dup[0]


def test_duplicate_key_in_one_mapping(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    n = line_of(path, "what:")
    lines = path.read_text(encoding="utf-8").splitlines()
    indent = lines[n - 1][: len(lines[n - 1]) - len(lines[n - 1].lstrip())]
    lines.insert(n, f"{indent}what: 又一个")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_for(kdir)
    assert any(f":{n + 1}: deadlines[0].what: duplicate key 'what'" in p for p in found), found


def test_every_problem_is_reported_not_just_the_first(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("date: 2021-09-30", "date: soon", 1).replace("year: 2021", "year: twenty", 1)
    path.write_text(text, encoding="utf-8")
    found = problems_for(kdir)
    assert any("document.year" in p for p in found)


def test_check_command_exits_1_with_messages(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("date: 2021-09-30", "date: 明天", 1), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "run_bot.py", "check", "--knowledge", str(kdir), "--intents", str(kdir.parent / "intents.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "gd-2021-quality-month.yaml:" in run.stderr and "deadlines[0].date" in run.stderr


def test_check_command_passes_on_real_knowledge() -> None:
    run = subprocess.run(
        [sys.executable, "run_bot.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok:")


def test_missing_template_is_reported(kdir: Path) -> None:
    intents = kdir.parent / "intents.yaml"
    lines = [ln for ln in intents.read_text(encoding="utf-8").splitlines() if not ln.strip().startswith("no_rows:")]
    intents.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_for(kdir)
    assert any("intents.yaml:" in p and "templates.no_rows" in p for p in found), found


def test_template_placeholders_must_be_plain_names(kdir: Path) -> None:
    intents = kdir.parent / "intents.yaml"
    text = intents.read_text(encoding="utf-8")
    assert "{contact}" in text
    intents.write_text(text.replace('"如有疑问请联系：{contact}"', '"如有疑问请联系：{contact.name}"', 1), encoding="utf-8")
    found = problems_for(kdir)
    assert any("templates.contact: placeholder {contact.name} must be a plain name" in p for p in found), found


def test_the_wechat_template_map_is_loaded() -> None:
    k = load_knowledge(KNOWLEDGE, INTENTS)
    assert k.wechat_template["first"] == "【截止提醒】{what}"
    assert "{contact}" in k.wechat_template["remark"]


def write_template_block(kdir: Path, block: str) -> Path:
    intents = kdir.parent / "intents.yaml"
    text = intents.read_text(encoding="utf-8")
    start = text.index("wechat_template:")
    end = text.index("\n\n", start)
    intents.write_text(text[:start] + block.rstrip("\n") + text[end:], encoding="utf-8")
    return intents


@pytest.mark.parametrize(
    ("block", "needle", "says"),
    [
        ('wechat_template:\n  first: "{deadline}到了"\n', "{deadline}", "wechat_template.first: unknown placeholder {deadline}"),
        ('wechat_template:\n  keyword 1: "{what}"\n', "keyword 1", "wechat_template.keyword 1: 'keyword 1' is not a template field name"),
        ('wechat_template:\n  remark: "联系{contact"\n', "联系{contact", "wechat_template.remark: broken placeholder braces"),
        ('wechat_template:\n  first: ""\n', 'first: ""', "wechat_template.first: must not be empty"),
        ("wechat_template: [first, remark]\n", "wechat_template:", "wechat_template: expected a mapping"),
        ("wechat_template: {}\n", "wechat_template:", "wechat_template: needs at least one field"),
    ],
)
def test_a_broken_wechat_template_map_names_file_line_and_key(kdir: Path, block: str, needle: str, says: str) -> None:
    intents = write_template_block(kdir, block)
    found = problems_for(kdir)
    line = line_of(intents, needle)
    assert any(p.startswith(f"intents.yaml:{line}:") or f"/intents.yaml:{line}:" in p for p in found), found
    assert any(says in p for p in found), found


SPARE = """document:
  id: gz-2020-report
  short_title: 广州市建筑业联合会通知（2020年5月8日）
  year: 2020
units:
  - id: gzr20-p1
    section: 正文
    title: 报送
    text: 请各会员单位于5月22日前报我会行业发展部。
    questions: [几时报, 报到哪里, 报送什么]
contacts:
  - id: gzr20-contact-1
    name: 罗佩雯
    mobile: "13800000000"
    text: 罗佩雯，手机：13800000000
    questions: [联系人, 手机号, 找谁]
"""


def test_a_notice_without_number_issuer_date_or_title_loads(kdir: Path) -> None:
    (kdir / "spare.yaml").write_text(SPARE, encoding="utf-8")
    k = load_knowledge(kdir, kdir.parent / "intents.yaml")
    doc = k.documents["gz-2020-report"]
    assert (doc.number, doc.issuer, doc.date) == ("", "", None)
    assert doc.title == "广州市建筑业联合会通知（2020年5月8日）"
    assert k.units["gzr20-contact-1"].contact.mobile == "13800000000"


def test_a_notice_needs_a_title_or_short_title(kdir: Path) -> None:
    (kdir / "spare.yaml").write_text(SPARE.replace("  short_title: 广州市建筑业联合会通知（2020年5月8日）\n", ""), encoding="utf-8")
    assert any("document.title" in p and "short_title" in p for p in problems_for(kdir))


def test_a_contact_needs_a_phone_a_mobile_or_an_email(kdir: Path) -> None:
    (kdir / "spare.yaml").write_text(SPARE.replace('    mobile: "13800000000"\n', ""), encoding="utf-8")
    assert any("contacts[0].phone" in p and "phone, a mobile or an email" in p for p in problems_for(kdir))
