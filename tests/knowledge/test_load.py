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
    assert "YAML 格式错误" in found[0]
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
    assert any("deadlines[0].what" in p and "缺少必填项“what”" in p for p in found), found
    assert all("gd-2021-quality-month.yaml:" in p for p in found)


def test_wrong_type_says_what_was_expected(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    text = path.read_text(encoding="utf-8").replace("date: 2021-09-30", "date: 九月底", 1)
    path.write_text(text, encoding="utf-8")
    found = problems_for(kdir)
    line = line_of(path, "date: 九月底")
    assert any(f":{line}: deadlines[0].date: 这里应是日期，写成 2021-09-30 的样子" in p for p in found), found


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
    dup = [p for p in found if f"编号“{first_id}”重复" in p]
    assert len(dup) == 1
    assert f"zz-extra.yaml:9: units[0].id: 编号“{first_id}”重复" in dup[0]
    assert "（第一次出现在 " in dup[0] and "gd-2021-quality-month.yaml:" in dup[0]


def test_duplicate_key_in_one_mapping(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    n = line_of(path, "what:")
    lines = path.read_text(encoding="utf-8").splitlines()
    indent = lines[n - 1][: len(lines[n - 1]) - len(lines[n - 1].lstrip())]
    lines.insert(n, f"{indent}what: 又一个")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_for(kdir)
    assert any(f":{n + 1}: deadlines[0].what: “what”在这一项里写了两次" in p for p in found), found


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
    assert run.stdout.startswith("检查通过：")


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
    assert any("templates.contact: 占位符 {contact.name} 只能是简单的名称" in p for p in found), found


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
        ('wechat_template:\n  first: "{deadline}到了"\n', "{deadline}", "wechat_template.first: 不认识的占位符 {deadline}"),
        ('wechat_template:\n  keyword 1: "{what}"\n', "keyword 1", "wechat_template.keyword 1: “keyword 1”不是模板字段名"),
        ('wechat_template:\n  remark: "联系{contact"\n', "联系{contact", "wechat_template.remark: 占位符的花括号没有配对"),
        ('wechat_template:\n  first: ""\n', 'first: ""', "wechat_template.first: 不能为空"),
        ("wechat_template: [first, remark]\n", "wechat_template:", "wechat_template: 这里应是“名称: 内容”的条目"),
        ("wechat_template: {}\n", "wechat_template:", "wechat_template: 至少要有一个字段"),
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
    assert any("contacts[0].phone" in p and "电话（phone）、手机（mobile）或邮箱（email）" in p for p in problems_for(kdir))


# -- facts stored twice ------------------------------------------------------------------------


def test_a_phone_edited_in_one_place_only_is_reported_with_both_lines(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("phone: 020-83133733", "phone: 020-83139999", 1), encoding="utf-8")
    found = problems_for(kdir)
    field_line, text_line = line_of(path, "phone: 020-83139999"), line_of(path, "text: （联系人：潘泽军")
    mismatch = [p for p in found if f":{field_line}: contacts[0].phone:" in p]
    assert len(mismatch) == 1, found
    assert "020-83139999" in mismatch[0] and "020-83133733" in mismatch[0]
    assert f"contacts[0].text（第 {text_line} 行）" in mismatch[0]


def test_an_email_or_a_name_that_disagrees_with_the_text_is_reported(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    text = path.read_text(encoding="utf-8").replace("email: jt-zac@gd.gov.cn", "email: new@gd.gov.cn", 1)
    path.write_text(text.replace("name: 潘泽军", "name: 李四", 1), encoding="utf-8")
    found = problems_for(kdir)
    assert any("contacts[0].email:" in p and "new@gd.gov.cn" in p and "jt-zac@gd.gov.cn" in p for p in found), found
    assert any("contacts[0].name:" in p and "李四" in p for p in found), found


def test_a_deadline_date_that_disagrees_with_its_text_is_reported(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("date: 2021-09-30", "date: 2021-10-15", 1), encoding="utf-8")
    found = problems_for(kdir)
    line = line_of(path, "date: 2021-10-15")
    assert any(f":{line}: deadlines[0].date:" in p and "2021-10-15" in p and "9月30日" in p for p in found), found


def test_one_contact_line_shared_by_two_people_agrees_with_each(kdir: Path) -> None:
    two = SPARE.replace(
        "    text: 罗佩雯，手机：13800000000\n", "    text: 罗佩雯，手机：13800000000；陈明，电话：020-12345678\n"
    ) + (
        "  - id: gzr20-contact-2\n    name: 陈明\n    phone: 020-12345678\n"
        "    text: 罗佩雯，手机：13800000000；陈明，电话：020-12345678\n    questions: [陈明电话, 座机, 找陈明]\n"
    )
    (kdir / "spare.yaml").write_text(two, encoding="utf-8")
    k = load_knowledge(kdir, kdir.parent / "intents.yaml")
    assert k.units["gzr20-contact-2"].contact.phone == "020-12345678"


# -- YAML mistakes told in plain words ----------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "says"),
    [
        ("    what: “质量月”活动总结材料", "\twhat: “质量月”活动总结材料", "制表符（Tab）"),
        ("    what: “质量月”活动总结材料", "    what：“质量月”活动总结材料", "中文冒号"),
        ("    how: 书面及电子邮件形式", "    how 书面及电子邮件形式", "缺少冒号"),
        ("    how: 书面及电子邮件形式", "    how: 书面: 电子邮件形式", "用引号括起来"),
        ("    how: 书面及电子邮件形式", '    how: "书面及电子邮件形式', "引号没有配对"),
    ],
)
def test_a_yaml_mistake_is_told_in_plain_chinese_at_its_line(kdir: Path, before: str, after: str, says: str) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    text = path.read_text(encoding="utf-8")
    assert before in text
    path.write_text(text.replace(before, after, 1), encoding="utf-8")
    line = line_of(path, after.strip()[:6])
    found = problems_for(kdir)
    assert len(found) == 1, found
    assert f"gd-2021-quality-month.yaml:{line}:" in found[0] and "YAML 格式错误" in found[0]
    assert says in found[0], found
    assert "expected" not in found[0] and "scanning" not in found[0]


def test_a_list_item_without_its_dash_is_named(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    n = line_of(path, "  - id: contact")
    lines[n - 1] = "    id: contact"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_for(kdir)
    assert len(found) == 1 and "“- ”" in found[0], found


def test_a_number_the_text_leaves_out_is_no_contradiction_but_a_labelled_one_is(kdir: Path) -> None:
    path = kdir / "gd-2021-quality-month.yaml"
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace("，传真：020-83133587", "", 1), encoding="utf-8")  # the text omits the fax
    assert load_knowledge(kdir, kdir.parent / "intents.yaml").units["contact"].contact.fax == "020-83133587"
    path.write_text(original.replace("传真：020-83133587", "传真：020-83130000", 1), encoding="utf-8")
    found = problems_for(kdir)
    assert any("contacts[0].fax:" in p and "020-83130000" in p for p in found), found
    assert not any("contacts[0].phone:" in p for p in found), found
