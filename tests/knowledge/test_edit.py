"""Staff edits of the YAML: written as staff wrote it, and never written when the result does not validate."""

from __future__ import annotations

import shutil

import pytest

from bot.knowledge.edit import Editor, append, delete, dump, round_trip
from bot.knowledge.load import load_knowledge
from tests.conftest import INTENTS, KNOWLEDGE, ROOT

NOTICE = "gd-2021-quality-month.yaml"


@pytest.fixture
def editor(tmp_path) -> Editor:
    shutil.copytree(KNOWLEDGE, tmp_path / "knowledge", ignore=shutil.ignore_patterns("sources"))
    shutil.copy(INTENTS, tmp_path / "intents.yaml")
    return Editor(tmp_path / "knowledge", tmp_path / "intents.yaml")


def text(editor: Editor, name: str = NOTICE) -> str:
    path = editor.intents_file if name == "intents.yaml" else editor.knowledge_dir / name
    return path.read_text(encoding="utf-8")


def test_unchanged_files_round_trip_byte_for_byte():
    for path in (KNOWLEDGE / NOTICE, INTENTS):
        source = path.read_text(encoding="utf-8")
        assert dump(round_trip().load(source)) == source


def test_paraphrase_after_a_section_comment_lands_above_the_comment(editor):
    before = text(editor)
    assert editor.add_paraphrase("doc-purpose", "为何搞质量月").saved
    after = text(editor)
    assert "      - 要树立什么意识\n      - 为何搞质量月\n\n  # ----" in after
    assert after.replace("      - 为何搞质量月\n", "", 1) == before


def test_out_of_scope_example_is_added_to_intents(editor):
    result = editor.add_out_of_scope("食堂几点开饭")
    assert result.saved
    knowledge = load_knowledge(editor.knowledge_dir, editor.intents_file)
    assert "食堂几点开饭" in knowledge.intents["out_of_scope"].examples
    assert not editor.add_out_of_scope("食堂几点开饭").saved  # already there


def test_an_edit_that_breaks_validation_writes_nothing(editor):
    before = text(editor)
    result = editor.add_paraphrase("s2-3-1", "{city}建材抽检")
    assert not result.saved
    assert [p.file for p in result.problems] == [NOTICE]
    assert "占位符只能用在表格的问题里" in result.problems[0].message
    assert text(editor) == before
    assert not list(editor.knowledge_dir.glob(".*"))  # no temporary file left behind


def test_field_mistakes_are_named_per_field(editor):
    assert editor.set_deadline("summary-report", "下周", "7,3").field_errors.keys() == {"date"}
    assert editor.set_deadline("summary-report", "2021-09-30", "七天").field_errors.keys() == {"remind_days"}
    assert editor.set_contact("contact", {"name": "潘泽军", "phone": "", "email": ""}).field_errors.keys() == {"phone"}
    assert editor.set_row("projects", 0, {"序号": "1", "地区": ""}).field_errors.keys() == {"地区"}
    assert not editor.add_paraphrase("no-such-unit", "问").saved


def test_table_rows_keep_number_cells_numbers(editor):
    assert editor.set_row("projects", None, {"序号": "7", "地区": "珠海", "项目名称": "测试项目", "施工单位": "测试公司"}).saved
    assert "      - 序号: 7\n        地区: 珠海\n" in text(editor)
    assert editor.remove_row("projects", 6).saved
    assert "测试项目" not in text(editor)


def test_append_and_delete_keep_trailing_comment_lines():
    source = "items:\n  - a\n  - b  # note\n\n# after\nnext: 1\n"
    data = round_trip().load(source)
    append(data["items"], "c")
    assert dump(data) == "items:\n  - a\n  - b  # note\n  - c\n\n# after\nnext: 1\n"
    delete(data["items"], 2)
    assert dump(data) == source


def test_publish_and_archive(editor):
    draft = (ROOT / "knowledge" / NOTICE).read_text(encoding="utf-8")
    refused = editor.publish(draft)  # same document id as a published notice
    assert not refused.saved and "已有同名通知" in refused.message
    second = draft.replace("id: gd-2021-quality-month", "id: gd-2021-copy")
    assert not editor.publish(second).saved  # every unit id is taken: validation refuses it
    assert editor.archive("gd-2021-quality-month").saved is False  # the last notice: nothing would be left
    assert (editor.knowledge_dir / NOTICE).exists()


def test_moving_a_deadline_moves_the_date_its_text_quotes(editor):
    assert editor.set_deadline("summary-report", "2021-10-08", "7, 1").saved
    unit = load_knowledge(editor.knowledge_dir, editor.intents_file).units["summary-report"]
    assert unit.deadline.date.isoformat() == "2021-10-08"
    assert "10月8日前" in unit.text and "9月30日" not in unit.text


def test_a_corrected_phone_is_corrected_in_the_quoted_contact_line_too(editor):
    result = editor.set_contact("contact", {"name": "潘泽军", "phone": "020-83139999", "email": "jt-zac@gd.gov.cn"})
    assert result.saved, result.problems
    unit = load_knowledge(editor.knowledge_dir, editor.intents_file).units["contact"]
    assert unit.contact.phone == "020-83139999"
    assert "020-83139999" in unit.text and "83133733" not in unit.text
