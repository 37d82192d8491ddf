"""Staff edits of the knowledge files: comments, order and formatting kept, nothing written that does not validate.

Every edit reads the file with ruamel.yaml's round-trip loader, changes one value, writes the
result into a temporary copy of the whole knowledge, validates that copy with ``load_knowledge``
and only then replaces the real file atomically. A refused edit leaves every file as it was and
returns the problems, so the running bot keeps answering from what it has.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from bot.knowledge.check import KnowledgeError, Problem
from bot.knowledge.load import ID, load_knowledge
from bot.knowledge.syntax import explain

MAX_QUESTION = 200  # characters of one paraphrase or out-of-scope example
MAX_FIELD = 500  # characters of a contact field or table cell
ARCHIVE = "archive"  # sub-folder of knowledge/: kept on disk, never loaded
_LOCK = threading.Lock()  # one read-modify-write at a time, so two staff saves cannot lose one
_SPLIT = re.compile(r"[\s,，、;；]+")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def round_trip() -> YAML:
    """The loader/dumper that writes the files back as staff wrote them (indent, quotes, long lines)."""
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def dump(data: Any) -> str:
    """Round-trip data as YAML text."""
    out = io.StringIO()
    round_trip().dump(data, out)
    return out.getvalue()


def scalar(text: str) -> str:
    """A new string value, quoted when PyYAML (which the loader uses) would read it as something else."""
    try:
        same = yaml.safe_load(text) == text
    except yaml.YAMLError:
        same = False
    return text if same and text.strip() == text and "#" not in text else DoubleQuotedScalarString(text)


@dataclass
class EditResult:
    """What a save did: written, or refused with the problems and the form fields they belong to."""

    saved: bool
    message: str  # one sentence for the staff member, in Chinese
    problems: list[Problem] = field(default_factory=list)
    field_errors: dict[str, str] = field(default_factory=dict)  # form field -> message
    file: str = ""
    target: str = ""  # the id the edit was about (a unit, a document)


class Refused(Exception):
    """A staff mistake found before anything is written: which field, and what to do about it."""

    def __init__(self, message: str, field_name: str = "") -> None:
        """Keep the field with its message so the form can show it next to the input."""
        super().__init__(message)
        self.message = message
        self.field = field_name


@dataclass
class _Found:
    """Where an id lives: its file, the loaded file and the mapping that carries the id."""

    path: Path
    data: CommentedMap
    node: CommentedMap
    kind: str  # unit | item | deadline | contact | table


class Editor:
    """Edits of one knowledge folder and intents file, each validated as a whole before it is written."""

    def __init__(self, knowledge_dir: Path | str, intents_file: Path | str) -> None:
        """The files the running bot loads."""
        self.knowledge_dir = Path(knowledge_dir)
        self.intents_file = Path(intents_file)

    # -- edits ------------------------------------------------------------------------------

    def add_paraphrase(self, unit_id: str, text: str) -> EditResult:
        """A question people asked becomes one more way to reach `unit_id`."""

        def change(found: _Found) -> str:
            question = _question(text, "text")
            questions = _seq(found.node, "questions")
            if question in questions:
                raise Refused(f"“{question}”已经是这个条目的问法。", "text")
            append(questions, scalar(question))
            return f"已把“{question}”加为“{unit_id}”的问法。"

        return self._edit_unit(unit_id, change)

    def set_questions(self, unit_id: str, questions: list[str]) -> EditResult:
        """Replace a unit's paraphrases; kept ones stay where they were, with their comments."""

        def change(found: _Found) -> str:
            wanted = list(dict.fromkeys(_question(q, "questions") for q in questions if q.strip()))
            if not wanted:
                raise Refused("至少要保留一个问法。", "questions")
            seq = _seq(found.node, "questions")
            for i in reversed(range(len(seq))):
                if seq[i] not in wanted:
                    delete(seq, i)
            for q in wanted:
                if q not in seq:
                    append(seq, scalar(q))
            return f"已保存“{unit_id}”的 {len(wanted)} 个问法。"

        return self._edit_unit(unit_id, change)

    def add_out_of_scope(self, text: str) -> EditResult:
        """A question the notice does not answer becomes an example the bot politely declines."""
        with _LOCK:
            try:
                question = _question(text, "text")
                data = self._load(self.intents_file)
                intents = data.get("intents") if isinstance(data, CommentedMap) else None
                scope = intents.get("out_of_scope") if isinstance(intents, CommentedMap) else None
                if not isinstance(scope, CommentedMap):
                    raise Refused("intents.yaml 里没有 out_of_scope 意图。")
                examples = _seq(scope, "examples")
                if question in examples:
                    raise Refused(f"“{question}”已经在“超出范围”的示例里。", "text")
                append(examples, scalar(question))
            except Refused as exc:
                return _refused(exc)
            return self._commit({self.intents_file: dump(data)}, f"已把“{question}”标为超出范围。", "out_of_scope")

    def set_deadline(self, deadline_id: str, date: str, remind_days: str, remind_at: str = "") -> EditResult:
        """Move a deadline or change when subscribers are reminded of it."""

        def change(found: _Found) -> str:
            if found.kind != "deadline":
                raise Refused(f"“{deadline_id}”不是截止日期。")
            try:
                day = dt.date.fromisoformat(date.strip())
            except ValueError:
                raise Refused("日期格式应为 年-月-日，例如 2021-09-30。", "date") from None
            days = _days(remind_days)
            old = found.node.get("date")
            if isinstance(old, dt.date) and old != day:  # the quoted text says the date too: keep the two alike
                for mark in ("日", "号"):
                    _carry(found.node, f"{old.month}月{old.day}{mark}", f"{day.month}月{day.day}{mark}")
            found.node["date"] = day
            if "remind_days" in found.node and isinstance(found.node["remind_days"], CommentedSeq):
                found.node["remind_days"].clear()
                found.node["remind_days"].extend(days)
            else:
                seq = CommentedSeq(days)
                seq.fa.set_flow_style()
                found.node["remind_days"] = seq
            if remind_at.strip():
                if not _CLOCK.fullmatch(remind_at.strip()):
                    raise Refused("提醒时间应为 时:分，例如 09:00。", "remind_at")
                hour, minute = remind_at.strip().split(":")
                found.node["remind_at"] = DoubleQuotedScalarString(f"{int(hour):02d}:{minute}")
            return f"已保存截止日期“{deadline_id}”：{day.isoformat()}，提前 {'、'.join(map(str, days))} 天提醒。"

        return self._edit_unit(deadline_id, change)

    def set_contact(self, contact_id: str, values: dict[str, str]) -> EditResult:
        """Correct a contact's name, phone, fax, email or office."""

        def change(found: _Found) -> str:
            if found.kind != "contact":
                raise Refused(f"“{contact_id}”不是联系人。")
            for key in ("name", "phone", "fax", "email", "office"):
                if key not in values:
                    continue
                value = _cell(values[key], key)
                if key in ("name", "phone") and not value:
                    raise Refused("姓名和电话不能为空。", key)
                if key == "email" and value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
                    raise Refused("邮箱格式不对，例如 name@gd.gov.cn。", key)
                old = str(found.node.get(key) or "")
                if value and old and old != value:  # the quoted contact line says it too
                    _carry(found.node, old, value)
                if value:
                    found.node[key] = scalar(value)
                elif key in found.node:
                    del found.node[key]
            return f"已保存联系人“{contact_id}”。"

        return self._edit_unit(contact_id, change)

    def set_row(self, table_id: str, index: int | None, values: dict[str, str]) -> EditResult:
        """Correct one row of an attachment table, or add one (index None)."""

        def change(found: _Found) -> str:
            if found.kind != "table":
                raise Refused(f"“{table_id}”不是表格。")
            columns = [str(c) for c in found.node.get("columns") or []]
            rows = _seq(found.node, "rows")
            if index is not None and not 0 <= index < len(rows):
                raise Refused("这一行已经不存在，请刷新页面。")
            row = rows[index] if index is not None else CommentedMap()
            example = rows[0] if len(rows) and isinstance(rows[0], CommentedMap) else row
            for column in columns:
                value = _cell(values.get(column, ""), column)
                if not value:
                    raise Refused(f"“{column}”不能为空。", column)
                old = row.get(column, example.get(column))
                row[column] = int(value) if isinstance(old, int) and value.isdigit() else scalar(value)
            if index is None:
                append(rows, row)
                return f"已在“{table_id}”末尾加了一行。"
            return f"已保存“{table_id}”第 {index + 1} 行。"

        return self._edit_unit(table_id, change)

    def remove_row(self, table_id: str, index: int) -> EditResult:
        """Delete one row of an attachment table."""

        def change(found: _Found) -> str:
            rows = _seq(found.node, "rows") if found.kind == "table" else None
            if rows is None or not 0 <= index < len(rows):
                raise Refused("这一行已经不存在，请刷新页面。")
            delete(rows, index)
            return f"已删除“{table_id}”第 {index + 1} 行。"

        return self._edit_unit(table_id, change)

    def publish(self, text: str) -> EditResult:
        """A reviewed draft becomes knowledge/<document id>.yaml, if the whole knowledge still validates."""
        with _LOCK:
            try:
                data = round_trip().load(text)
            except YAMLError as exc:
                line, message = explain(exc, text)
                return EditResult(False, "草稿不是有效的 YAML，未发布。", [Problem("草稿", line, "", message)])
            doc = data.get("document") if isinstance(data, CommentedMap) else None
            doc_id = str(doc.get("id", "")) if isinstance(doc, CommentedMap) else ""
            if not re.fullmatch(ID, doc_id):
                return _refused(Refused("草稿缺少有效的 document.id（小写字母、数字和连字符）。", "text"))
            target = self.knowledge_dir / f"{doc_id}.yaml"
            if target.exists() or (self.knowledge_dir / ARCHIVE / target.name).exists():
                return _refused(Refused(f"已有同名通知 {target.name}，请修改 document.id。", "text"))
            result = self._commit({target: text}, f"已发布 {target.name}，机器人已重新加载。", doc_id)
            return result

    def archive(self, doc_id: str) -> EditResult:
        """A past notice stops being answered and reminded, but stays on disk under knowledge/archive/."""
        with _LOCK:
            path = next((p for p, data in self._notices() if _doc_id(data) == doc_id), None)
            if path is None:
                return _refused(Refused(f"找不到通知“{doc_id}”。"))
            problems = self._validate({path: None})
            if problems:
                return EditResult(False, "归档后知识库无法通过校验，未归档。", problems, target=doc_id)
            (self.knowledge_dir / ARCHIVE).mkdir(exist_ok=True)
            os.replace(path, self.knowledge_dir / ARCHIVE / path.name)
            return EditResult(True, f"已归档 {path.name}：不再回答和提醒，文件保存在 knowledge/{ARCHIVE}/。", file=path.name, target=doc_id)

    def archived(self) -> list[str]:
        """File names of archived notices."""
        folder = self.knowledge_dir / ARCHIVE
        return sorted(p.name for p in folder.glob("*.y*ml")) if folder.is_dir() else []

    # -- plumbing ---------------------------------------------------------------------------

    def _edit_unit(self, unit_id: str, change: Callable[[_Found], str]) -> EditResult:
        """Find the id in the notice files, apply the change, validate everything, write."""
        with _LOCK:
            found = self._find(unit_id)
            if found is None:
                return _refused(Refused(f"找不到条目“{unit_id}”，可能已被修改，请刷新页面。"))
            try:
                message = change(found)
            except Refused as exc:
                return _refused(exc, unit_id)
            return self._commit({found.path: dump(found.data)}, message, unit_id)

    def _load(self, path: Path) -> Any:
        try:
            return round_trip().load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YAMLError) as exc:
            raise Refused(f"{path.name} 无法读取：{exc}") from None

    def _notices(self) -> Iterator[tuple[Path, Any]]:
        for path in sorted(self.knowledge_dir.glob("*.y*ml")):
            if path.stem == "lexicon":
                continue
            try:
                yield path, self._load(path)
            except Refused:
                continue  # a broken file cannot hold the id; the validation will name it

    def _find(self, unit_id: str) -> _Found | None:
        for path, data in self._notices():
            if not isinstance(data, CommentedMap):
                continue
            for key, kind in (("units", "unit"), ("deadlines", "deadline"), ("contacts", "contact"), ("tables", "table")):
                for node in data.get(key) or []:
                    if not isinstance(node, CommentedMap):
                        continue
                    if node.get("id") == unit_id:
                        return _Found(path, data, node, kind)
                    for item in node.get("items") or [] if kind == "unit" else []:
                        if isinstance(item, CommentedMap) and item.get("id") == unit_id:
                            return _Found(path, data, item, "item")
        return None

    def _commit(self, changes: dict[Path, str | None], message: str, target: str) -> EditResult:
        problems = self._validate(changes)
        if problems:
            return EditResult(False, "修改未通过校验，没有保存；机器人仍按原来的知识库回答。", problems, target=target)
        for path, text in changes.items():
            if text is not None:
                _replace(path, text)
        return EditResult(True, message, file=", ".join(p.name for p in changes), target=target)

    def _validate(self, changes: dict[Path, str | None]) -> list[Problem]:
        """Load the knowledge as it would be after `changes` (None removes a file), in a scratch copy."""
        with tempfile.TemporaryDirectory(prefix="qm-edit-") as tmp:
            scratch = Path(tmp) / "knowledge"
            scratch.mkdir()
            for path in [*self.knowledge_dir.glob("*.yaml"), *self.knowledge_dir.glob("*.yml")]:
                if path not in changes:
                    shutil.copyfile(path, scratch / path.name)
            intents = Path(tmp) / "intents.yaml"
            if self.intents_file not in changes:
                shutil.copyfile(self.intents_file, intents)
            for path, text in changes.items():
                if text is not None:
                    (intents if path == self.intents_file else scratch / path.name).write_text(text, encoding="utf-8")
            try:
                load_knowledge(scratch, intents)
            except KnowledgeError as exc:
                return [_relocate(p, scratch, intents, self.intents_file) for p in exc.problems]
        return []


def _relocate(problem: Problem, scratch: Path, intents: Path, real_intents: Path) -> Problem:
    """Name the real file in a problem found in the scratch copy."""
    name = problem.file
    if name == str(intents):
        name = real_intents.name
    elif name.startswith(str(scratch)):
        name = name[len(str(scratch)) + 1 :]
    return Problem(name, problem.line, problem.path, problem.message)


def _replace(path: Path, text: str) -> None:
    """Write next to the file, flush to disk, then rename over it: readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.saving")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    if path.exists():
        shutil.copymode(path, tmp)
    os.replace(tmp, path)


def append(seq: CommentedSeq, value: Any) -> None:
    """Append after the last item, moving the comment lines that followed it below the new one."""
    tail = _take_tail(seq)
    seq.append(value)
    _put_tail(seq, tail)


def delete(seq: CommentedSeq, index: int) -> None:
    """Delete an item; deleting the last keeps the comment lines that followed it."""
    tail = _take_tail(seq) if index == len(seq) - 1 else ""
    del seq[index]
    _put_tail(seq, tail)


def _slot(node: Any) -> tuple[list[Any], int] | None:
    """The comment entry after a container's last element: (entry list, index of its token)."""
    if isinstance(node, CommentedSeq) and len(node):
        return node.ca.items.setdefault(len(node) - 1, [None, None, None, None]), 0
    if isinstance(node, CommentedMap) and len(node):
        return node.ca.items.setdefault(list(node)[-1], [None, None, None, None]), 2
    return None


def _take_tail(node: Any) -> str:
    """Remove and return the whole lines of comment (and blank lines) after a container's last element."""
    if isinstance(node, CommentedSeq | CommentedMap) and len(node):
        last = node[len(node) - 1] if isinstance(node, CommentedSeq) else node[list(node)[-1]]
        deeper = _take_tail(last)
        if deeper:
            return deeper
    slot = _slot(node)
    if slot is None or slot[0][slot[1]] is None:
        return ""
    entry, i = slot
    head, _, tail = entry[i].value.partition("\n")
    if not tail:
        return ""
    if head:
        entry[i].value = head + "\n"
    else:
        entry[i] = None
    return tail


def _put_tail(node: Any, tail: str) -> None:
    """Attach comment lines after a container's (new) last element."""
    if not tail:
        return
    last = node[len(node) - 1] if isinstance(node, CommentedSeq) and len(node) else None
    if isinstance(last, CommentedMap | CommentedSeq) and len(last):
        _put_tail(last, tail)
        return
    slot = _slot(node)
    if slot is None:
        return
    entry, i = slot
    if entry[i] is None:
        entry[i] = CommentToken("\n" + tail, CommentMark(0), None)
    else:
        entry[i].value += tail


def _refused(exc: Refused, target: str = "") -> EditResult:
    return EditResult(False, exc.message, field_errors={exc.field: exc.message} if exc.field else {}, target=target)


def _seq(node: CommentedMap, key: str) -> CommentedSeq:
    seq = node.get(key)
    if not isinstance(seq, CommentedSeq):
        seq = CommentedSeq()
        node[key] = seq
    return seq


def _question(text: str, field_name: str) -> str:
    question = " ".join(text.split())
    if not question:
        raise Refused("问法不能为空。", field_name)
    if len(question) > MAX_QUESTION:
        raise Refused(f"问法太长（上限 {MAX_QUESTION} 字）。", field_name)
    return question


def _cell(text: str, field_name: str) -> str:
    value = " ".join(str(text).split())
    if len(value) > MAX_FIELD:
        raise Refused(f"内容太长（上限 {MAX_FIELD} 字）。", field_name)
    return value


def _days(text: str) -> list[int]:
    parts = [p for p in _SPLIT.split(text.strip()) if p]
    if not parts or not all(p.isdigit() and int(p) <= 366 for p in parts):
        raise Refused("提前提醒的天数应为 0 到 366 的整数，用逗号分开，例如 7, 3, 1, 0。", "remind_days")
    return sorted({int(p) for p in parts}, reverse=True)


def _doc_id(data: Any) -> str:
    doc = data.get("document") if isinstance(data, CommentedMap) else None
    return str(doc.get("id", "")) if isinstance(doc, CommentedMap) else ""


def _carry(node: CommentedMap, old: str, new: str) -> None:
    """Change a fact where the unit's quoted text states it as well, so `check` finds the two in agreement."""
    text = node.get("text")
    if isinstance(text, str) and old in text:
        node["text"] = type(text)(text.replace(old, new)) if type(text) is not str else text.replace(old, new)
