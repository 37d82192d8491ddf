"""The knowledge snapshot: notices, lexicon and intents loaded from YAML and validated in one pass."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import yaml

from bot.core.model import (
    DEFAULT_REMIND_AT,
    DEFAULT_REMIND_DAYS,
    EMPTY_LEXICON,
    Contact,
    Deadline,
    Document,
    Knowledge,
    Row,
    Table,
    Unit,
)
from bot.knowledge.agree import contact_agrees, deadline_agrees
from bot.knowledge.check import Checker, KnowledgeError, Problem, join
from bot.knowledge.intents import opt_string, read_intents, read_wechat_template
from bot.knowledge.vocabulary import read_lexicon

ID = r"[a-z0-9][a-z0-9-]*"
READ_TIMEOUT = 10.0  # seconds one knowledge file may take to read
MAX_FILE_BYTES = 20_000_000
ROLES = ("number", "city", "name", "org")


def load_knowledge(knowledge_dir: Path | str, intents_file: Path | str) -> Knowledge:
    """Load and validate all YAML; raise KnowledgeError listing every problem with file and line."""
    knowledge_dir, intents_file = Path(knowledge_dir), Path(intents_file)
    problems: list[Problem] = []
    digest = hashlib.sha256()
    documents: dict[str, Document] = {}
    units: dict[str, Unit] = {}
    lexicon = EMPTY_LEXICON
    if not knowledge_dir.is_dir():
        raise KnowledgeError([Problem(str(knowledge_dir), 1, "", "找不到知识库文件夹")])
    files = sorted(knowledge_dir.glob("*.yaml")) + sorted(knowledge_dir.glob("*.yml"))
    for path in files:
        raw = _read(path, problems)
        digest.update(path.name.encode() + b"\0" + raw.encode())
        checker = Checker(_shown(path))
        root = checker.compose(raw)
        if root is not None:
            if path.stem == "lexicon":
                lexicon = read_lexicon(checker, root)
            else:
                _read_notice(checker, root, documents, units)
        problems.extend(checker.problems)
    if not documents and not problems:
        problems.append(Problem(str(knowledge_dir), 1, "", "文件夹里没有通知文件（*.yaml）"))
    raw = _read(intents_file, problems)
    digest.update(b"intents\0" + raw.encode())
    checker = Checker(_shown(intents_file))
    root = checker.compose(raw) if raw else None
    intents, templates, menu, suggestions = read_intents(checker, root)
    wechat_template = read_wechat_template(checker, root)
    problems.extend(checker.problems)
    _cross_check(units, problems)
    if problems:
        raise KnowledgeError(problems)
    for unit in units.values():
        if unit.parent:
            units[unit.parent].children.append(unit.id)
    return Knowledge(
        documents=documents,
        units=units,
        lexicon=lexicon,
        intents=intents,
        templates=templates,
        menu=menu,
        suggestions=suggestions,
        version=digest.hexdigest()[:12],
        wechat_template=wechat_template,
    )


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read(path: Path, problems: list[Problem]) -> str:
    try:
        text = _read_regular(path).decode("utf-8")
        return text.replace("\r\n", "\n").replace("\r", "\n")  # as read_text's universal newlines did
    except NotRegular as exc:
        problems.append(Problem(_shown(path), 1, "", str(exc)))
    except FileNotFoundError:
        problems.append(Problem(_shown(path), 1, "", "找不到这个文件"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(_shown(path), 1, "", f"不是 UTF-8 编码的文字（{exc.reason}），请另存为 UTF-8"))
    except OSError as exc:
        problems.append(Problem(_shown(path), 1, "", f"无法读取：{exc.strerror}"))
    return ""


class NotRegular(OSError):
    """A knowledge path that is not a plain file, or one that cannot be read in time."""


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, read within READ_TIMEOUT seconds.

    A FIFO or device named *.yaml would block open() or read() forever and wedge every later
    reload: it is opened non-blocking and refused unless fstat says it is a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular("不是普通文件（管道、设备或套接字不能当作知识库）")
        if info.st_size > MAX_FILE_BYTES:
            raise NotRegular(f"文件超过 {MAX_FILE_BYTES // 1_000_000} MB")
        deadline = time.monotonic() + READ_TIMEOUT
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise NotRegular(f"读取超过 {READ_TIMEOUT:.0f} 秒")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_notice(
    c: Checker, root: yaml.Node, documents: dict[str, Document], units: dict[str, Unit]
) -> None:
    top = c.mapping(root, "", required=("document",), optional=("units", "deadlines", "contacts", "tables"))
    if top is None:
        return
    doc = _read_document(c, top["document"])
    if doc is None:
        return
    if doc.id in documents:
        c.fail(top["document"], "document.id", f"通知编号“{doc.id}”重复（{documents[doc.id].file} 里已有）")
        return
    documents[doc.id] = doc

    def add(unit: Unit | None, node: yaml.Node, path: str) -> None:
        if unit is None:
            return
        if unit.id in units:
            other = units[unit.id]
            c.fail(node, join(path, "id"), f"编号“{unit.id}”重复（第一次出现在 {other.file}:{other.line}）")
            return
        units[unit.id] = unit

    for i, node in enumerate(c.sequence(top["units"], "units") if "units" in top else []):
        path = f"units[{i}]"
        unit, items = _read_section(c, node, path, doc)
        add(unit, node, path)
        if unit is None or items is None:
            continue
        for j, item_node in enumerate(c.sequence(items, join(path, "items"))):
            add(_read_item(c, item_node, f"{path}.items[{j}]", doc, unit), item_node, f"{path}.items[{j}]")
    for key, reader in (("deadlines", _read_deadline), ("contacts", _read_contact), ("tables", _read_table)):
        for i, node in enumerate(c.sequence(top[key], key) if key in top else []):
            add(reader(c, node, f"{key}[{i}]", doc), node, f"{key}[{i}]")


def _read_document(c: Checker, node: yaml.Node) -> Document | None:
    f = c.mapping(
        node,
        "document",
        required=("id", "year"),
        optional=("title", "short_title", "number", "issuer", "date", "campaign"),
    )
    if f is None:
        return None
    before = len(c.problems)
    title = opt_string(c, f, "title", "document")
    short_title = opt_string(c, f, "short_title", "document")
    if not title and not short_title and len(c.problems) == before:
        # A notice that prints no title is still named somehow in every answer's source line.
        c.fail(node, "document.title", "通知要有标题（title）；原文没有标题时，至少写一个简称（short_title）")
    doc = Document(
        id=c.string(f.get("id"), "document.id", ID) or "",
        title=title or short_title,
        short_title=short_title,
        number=opt_string(c, f, "number", "document"),
        issuer=opt_string(c, f, "issuer", "document"),
        date=c.date(f["date"], "document.date") if "date" in f else None,
        year=c.integer(f.get("year"), "document.year", 1990, 2100) or 0,
        campaign=opt_string(c, f, "campaign", "document"),
        file=c.file,
    )
    if len(c.problems) > before:
        return None
    return doc


def _common(c: Checker, f: dict[str, yaml.Node], path: str, min_questions: int = 1) -> dict | None:
    before = len(c.problems)
    values = {
        "id": c.string(f.get("id"), join(path, "id"), ID),
        "questions": c.strings(f.get("questions"), join(path, "questions"), min_questions)
        if "questions" in f
        else [],
        "keywords": c.strings(f["keywords"], join(path, "keywords")) if "keywords" in f else [],
    }
    return values if len(c.problems) == before else None


def _read_section(
    c: Checker, node: yaml.Node, path: str, doc: Document
) -> tuple[Unit | None, yaml.Node | None]:
    f = c.mapping(
        node,
        path,
        required=("id", "section", "title", "text", "questions"),
        optional=("intent", "keywords", "items", "generated"),
    )
    if f is None:
        return None, None
    common = _common(c, f, path)
    intent = opt_string(c, f, "intent", path, "content")
    if intent not in ("document", "theme", "content"):
        c.fail(f["intent"], join(path, "intent"), f"“{intent}”不是 document、theme、content 之一")
        return None, None
    section = c.string(f["section"], join(path, "section")) if "section" in f else None
    title = c.string(f["title"], join(path, "title")) if "title" in f else None
    text = c.string(f["text"], join(path, "text")) if "text" in f else None
    if common is None or not (section and title and text):
        return None, None
    unit = Unit(
        id=common["id"],
        document=doc.id,
        kind="section",
        intent=intent,
        section=section,
        title=title,
        text=text,
        questions=common["questions"],
        keywords=common["keywords"],
        file=c.file,
        line=node.start_mark.line + 1,
    )
    return unit, f.get("items")


def _read_item(c: Checker, node: yaml.Node, path: str, doc: Document, parent: Unit) -> Unit | None:
    f = c.mapping(node, path, required=("id", "text", "questions"), optional=("label", "title", "keywords", "generated"))
    if f is None:
        return None
    common = _common(c, f, path)
    text = c.string(f["text"], join(path, "text")) if "text" in f else None
    if common is None or not text:
        return None
    return Unit(
        id=common["id"],
        document=doc.id,
        kind="item",
        intent=parent.intent,
        section=parent.section,
        title=opt_string(c, f, "title", path, parent.title),
        label=opt_string(c, f, "label", path),
        text=text,
        questions=common["questions"],
        keywords=common["keywords"],
        parent=parent.id,
        file=c.file,
        line=node.start_mark.line + 1,
    )


def _read_deadline(c: Checker, node: yaml.Node, path: str, doc: Document) -> Unit | None:
    f = c.mapping(
        node,
        path,
        required=("id", "date", "what", "text", "questions"),
        optional=("who", "how", "to", "section", "title", "remind_days", "remind_at", "keywords", "generated"),
    )
    if f is None:
        return None
    common = _common(c, f, path)
    when = c.date(f.get("date"), join(path, "date")) if "date" in f else None
    what = c.string(f["what"], join(path, "what")) if "what" in f else None
    text = c.string(f["text"], join(path, "text")) if "text" in f else None
    days: tuple[int, ...] = DEFAULT_REMIND_DAYS
    if "remind_days" in f:
        nodes = c.sequence(f["remind_days"], join(path, "remind_days"))
        read = [c.integer(n, f"{path}.remind_days[{i}]", 0, 366) for i, n in enumerate(nodes)]
        days = tuple(sorted({d for d in read if d is not None}, reverse=True))
    at = c.clock(f["remind_at"], join(path, "remind_at")) if "remind_at" in f else DEFAULT_REMIND_AT
    if common is None or not (when and what and text and at):
        return None
    deadline_agrees(c, f, path, when, text)
    deadline = Deadline(
        id=common["id"],
        document=doc.id,
        date=when,
        what=what,
        who=opt_string(c, f, "who", path),
        how=opt_string(c, f, "how", path),
        to=opt_string(c, f, "to", path),
        remind_days=days,
        remind_at=at,
    )
    return Unit(
        id=common["id"],
        document=doc.id,
        kind="deadline",
        intent="deadline",
        section=opt_string(c, f, "section", path, "正文"),
        title=opt_string(c, f, "title", path, f"{what}报送截止时间"),
        text=text,
        questions=common["questions"],
        keywords=common["keywords"],
        deadline=deadline,
        file=c.file,
        line=node.start_mark.line + 1,
    )


def _read_contact(c: Checker, node: yaml.Node, path: str, doc: Document) -> Unit | None:
    f = c.mapping(
        node,
        path,
        required=("id", "name", "text", "questions"),
        optional=("phone", "mobile", "fax", "email", "office", "section", "title", "keywords", "generated"),
    )
    if f is None:
        return None
    common = _common(c, f, path)
    name = c.string(f["name"], join(path, "name")) if "name" in f else None
    text = c.string(f["text"], join(path, "text")) if "text" in f else None
    phone, mobile, email = (c.text(f[k], join(path, k)) or "" if k in f else "" for k in ("phone", "mobile", "email"))
    if name and not (phone or mobile or email):
        c.fail(node, join(path, "phone"), "联系人至少要有电话（phone）、手机（mobile）或邮箱（email）中的一项")
        return None
    if common is None or not (name and text):
        return None
    fax = opt_string(c, f, "fax", path)
    contact_agrees(c, f, path, {"name": name, "phone": phone, "mobile": mobile, "fax": fax, "email": email}, text)
    contact = Contact(
        name=name,
        phone=phone,
        fax=fax,
        email=email,
        office=opt_string(c, f, "office", path),
        mobile=mobile,
    )
    return Unit(
        id=common["id"],
        document=doc.id,
        kind="contact",
        intent="contact",
        section=opt_string(c, f, "section", path, "文尾"),
        title=opt_string(c, f, "title", path, "联系方式"),
        text=text,
        questions=common["questions"],
        keywords=common["keywords"],
        contact=contact,
        file=c.file,
        line=node.start_mark.line + 1,
    )


def _read_table(c: Checker, node: yaml.Node, path: str, doc: Document) -> Unit | None:
    f = c.mapping(
        node,
        path,
        required=("id", "title", "columns", "rows", "questions"),
        optional=("intent", "section", "roles", "keywords", "text", "generated"),
    )
    if f is None:
        return None
    common = _common(c, f, path)
    title = c.string(f["title"], join(path, "title")) if "title" in f else None
    columns = c.strings(f["columns"], join(path, "columns"), 1) if "columns" in f else []
    roles: dict[str, str] = {}
    if "roles" in f:
        for role, column_node in (c.mapping(f["roles"], join(path, "roles"), optional=ROLES) or {}).items():
            column = c.string(column_node, join(path, f"roles.{role}"))
            if column and column not in columns:
                c.fail(column_node, join(path, f"roles.{role}"), f"“{column}”不是表格的列（列有：{'、'.join(columns)}）")
            elif column:
                roles[role] = column
    rows = []
    for i, row_node in enumerate(c.sequence(f["rows"], join(path, "rows")) if "rows" in f else []):
        row_path = f"{path}.rows[{i}]"
        cells = c.mapping(row_node, row_path, optional=(*columns, "aliases"))
        if cells is None:
            continue
        values = {}
        for column in columns:
            if column not in cells:
                c.fail(row_node, join(row_path, column), f"缺少“{column}”这一列")
                continue
            values[column] = c.text(cells[column], join(row_path, column)) or ""
        aliases = tuple(c.strings(cells["aliases"], join(row_path, "aliases"))) if "aliases" in cells else ()
        rows.append(Row(values, aliases))
    if common is None or not title or not columns:
        return None
    return Unit(
        id=common["id"],
        document=doc.id,
        kind="table",
        intent=opt_string(c, f, "intent", path, "projects"),
        section=opt_string(c, f, "section", path, "附件"),
        title=title,
        text=opt_string(c, f, "text", path, title),
        questions=common["questions"],
        keywords=common["keywords"],
        table=Table(tuple(columns), roles, tuple(rows)),
        file=c.file,
        line=node.start_mark.line + 1,
    )


def _cross_check(units: dict[str, Unit], problems: list[Problem]) -> None:
    for unit in units.values():
        if unit.kind != "table":
            for q in unit.questions:
                if "{" in q:
                    problems.append(
                        Problem(unit.file, unit.line, f"{unit.id}.questions", f"占位符只能用在表格的问题里：“{q}”")
                    )
        else:
            for q in unit.questions:
                for ph in ("{city}", "{project}", "{org}"):
                    q = q.replace(ph, "")
                if "{" in q or "}" in q:
                    problems.append(
                        Problem(unit.file, unit.line, f"{unit.id}.questions", f"“{q}”里有不认识的占位符（可用 {{city}}、{{project}}、{{org}}）")
                    )
