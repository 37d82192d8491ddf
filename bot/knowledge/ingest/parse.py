"""Read a notice's text into its parts: header facts, numbered sections, tables, contacts, attachments, tail.

Regions follow each other: page furniture (dropped), the header (red-head issuer, 文号, title,
addressee), the body, the signature (issuer and date), and what follows it (a contact block, 公开方式,
抄送, attachment pages, a plan appended to a covering notice). Every line ends in one of them or in
the list of lines staff must look at.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.text import cn_numeral
from bot.knowledge.ingest.clean import Line, canon, metadata, read_lines, tidy
from bot.knowledge.ingest.contacts import FoundContact, contacts_in, read_block
from bot.knowledge.ingest.deadlines import deadline_only
from bot.knowledge.ingest.layout import (
    ATTACH_ITEM,
    ATTACH_LIST,
    L1,
    L2,
    L3,
    TITLE_END,
    Block,
    Para,
    cells,
    date_line,
    heading,
    key_of,
    kind,
    number_line,
    org_line,
    paragraphs,
    table_runs,
    wrap_width,
)

ADDRESSEE = re.compile(r"各|单位|部门|局|委|协会|会员|厅|公司|中心|站|办|联合会|学会|政府")


@dataclass
class Contacts:
    """A contact block as printed, its people, where it stood and the lines it came from."""

    text: str
    people: list[FoundContact]
    section: str
    lines: list[int]


@dataclass
class Part:
    """The body of the notice, or of a document appended to it (an attachment with text, a plan)."""

    title: str
    preamble: list[Para] = field(default_factory=list)
    sections: list[Block] = field(default_factory=list)
    label: str = ""  # "" for the notice itself, "附件1" … for an appended document


@dataclass
class FoundTable:
    """A table: in an attachment page or inside a section."""

    title: str
    columns: list[str]
    rows: list[dict[str, str]]
    section: str
    lines: list[int]


class Parser:
    """One pass over the notice's lines, region by region."""

    def __init__(self, text: str, doc_id: str | None) -> None:
        self.all_lines = read_lines(text)
        self.lines = [x for x in self.all_lines if x.key.strip() and not x.dropped]
        self.doc_id = doc_id
        self.placed: set[int] = {x.no for x in self.all_lines if x.dropped}
        self.notes: list[str] = []
        self.issuer_head = self.signer = self.title_issuer = self.meta_issuer = ""
        self.number = self.title = self.addressee = self.disclosure = self.copy = ""
        self.meta: dict[str, str] = {}
        self.issued: dt.date | None = None
        self.attachments: list[str] = []
        self.attachment_lines: list[int] = []
        self.contacts: list[Contacts] = []
        self.tables: list[FoundTable] = []
        self.parts: list[Part] = []
        self.width = wrap_width(self.lines)

    def _list_head(self, k: int) -> bool:
        """'附件：' alone, with numbered names on the lines after it: a list, not an attachment page."""
        return k + 1 < len(self.lines) and bool(ATTACH_ITEM.match(key_of(self.lines[k + 1])))

    def place(self, *numbers: int) -> None:
        """Mark file lines as accounted for."""
        self.placed.update(numbers)

    def run(self) -> None:
        """Header, body, signature, tail: each region ends where the next one's marker starts."""
        if not self.lines:
            raise ValueError("通知是空的：没有可读的文字。")
        start = self._header()
        sign = self._signature(start)
        end = sign[0] if sign else len(self.lines)
        body_end = next((k for k in range(start, end) if kind(self.lines[k]) == "attach_head" and not self._list_head(k)), end)
        self.parts.append(self._part(self.lines[start:body_end], ""))
        if sign:
            self._tail(self.lines[sign[1] :])
        elif body_end < end:
            self._tail(self.lines[body_end:])

    # -- header --------------------------------------------------------------------------------

    def _header(self) -> int:
        """Lines up to the addressee: red-head, 文号, title, a site's metadata; returns where the body starts."""
        lines = self.lines
        limit = min(len(lines), 30)
        addressee_at = None
        for k in range(limit):
            key = key_of(lines[k])
            if heading(key) or (len(key) > 60 and "。" in key):
                break
            if (
                key.endswith("：")
                and not metadata(key)
                and kind(lines[k]) in ("text", "contact")
                and ADDRESSEE.search(key)
                and "。" not in key
            ):
                addressee_at = k
                break
        if addressee_at is None:
            end = next(
                (k for k in range(limit) if heading(key_of(lines[k])) or "。" in key_of(lines[k])), 0
            )
            self.notes.append("未找到主送单位（以“：”结尾的一行）")
        else:
            end = addressee_at
        titles: list[str] = []
        current: list[Line] = []
        for line in lines[:end]:
            key = key_of(line)
            meta = metadata(key)
            number = number_line(key)
            if meta:
                self.meta.setdefault(meta[0], meta[1])
            elif number and not self.number:
                self.number = re.sub(r"\s", "", line.text.strip().strip("()（）"))
            elif org_line(key) and not current and not self.issuer_head:
                self.issuer_head = re.sub(r"文件$", "", re.sub(r"\s", "", tidy(line.text)))
            elif current or "关于" in key or TITLE_END.search(key):
                current.append(line)
                if TITLE_END.search(key) or len(current) >= 4:
                    titles.append(self._joined(current))
                    current = []
            else:
                continue
            self.place(line.no)
        if current:
            titles.append(self._joined(current))
        titles = [t for t in titles if len(t) >= 8]  # "通知公告" is a site's column, not a title
        titles.sort(key=lambda t: "关于" not in canon(t))
        self.title = titles[0] if titles else self.meta.get("名称") or self.meta.get("标题", "")
        if addressee_at is None:
            return end
        first = addressee_at
        while first > 0 and lines[first - 1].no not in self.placed and key_of(lines[first - 1])[-1:] not in "。：":
            first -= 1
        self.addressee = "".join(tidy(x.text) for x in lines[first : addressee_at + 1])
        self.place(*(x.no for x in lines[first : addressee_at + 1]))
        return addressee_at + 1

    def _joined(self, lines: list[Line]) -> str:
        return tidy("".join(tidy(x.text) for x in lines))

    # -- signature ------------------------------------------------------------------------------

    def _signature(self, start: int) -> tuple[int, int] | None:
        """(first line of the signature, first line after it): an issuer line and a date, or a date alone."""
        lines = self.lines
        for k in range(start, len(lines)):
            when = date_line(key_of(lines[k]))
            if not when:
                continue
            before = key_of(lines[k - 1]) if k > start else ""
            if k > start and heading(before) and re.search(r"(时间|日期|截止)$", before):
                continue  # "六、截止时间" with its date on the next line
            try:
                self.issued = dt.date(*when)
            except ValueError:
                continue
            self.place(lines[k].no)
            begin = k
            if k > start and org_line(before):
                self.signer = re.sub(r"\s", "", tidy(lines[k - 1].text))
                self.place(lines[k - 1].no)
                begin = k - 1
            return begin, k + 1
        return None

    # -- body ------------------------------------------------------------------------------------

    def _part(self, lines: list[Line], label: str, title: str = "") -> Part:
        """Sections, tables, contact blocks and attachment lists of one body."""
        part = Part(title, label=label)
        runs = table_runs(lines)
        in_table = {i for a, b in runs for i in range(a, b)}
        stream: list[Para | FoundTable] = []
        k = 0
        while k < len(lines):
            run = next((r for r in runs if r[0] == k), None)
            if run:
                stream.append(self._table(lines[run[0] : run[1]], title="", section=""))
                k = run[1]
                continue
            b = k
            while b < len(lines) and b not in in_table:
                b += 1
            stream.extend(paragraphs(lines[k:b], self.width))
            k = b
        section: Block | None = None
        sub: Block | None = None
        pending: list[Para] = []
        previous: Para | None = None
        listing = False  # inside an attachment list: "2、…" and "2.…" lines are its items
        for item in stream:
            if isinstance(item, FoundTable):
                self._flush_contacts(pending, section, sub)
                pending = []
                owner = sub or section
                item.section = owner.label if owner else "正文"
                item.title = _table_title(previous, sub or section)
                self.tables.append(item)
                continue
            para = item
            if para.kind != "contact" and pending:
                self._flush_contacts(pending, section, sub)
                pending = []
            self.place(*para.lines)
            if listing and ATTACH_ITEM.match(para.key) and para.kind in ("heading", "text"):
                self.attachments.append(_item(para.text))
                self.attachment_lines.extend(para.lines)
                continue
            listing = para.kind in ("attach", "attach_head")
            if para.kind == "contact":
                pending.append(para)
                continue
            if para.kind in ("attach", "attach_head"):
                self._attachment_list(para)
                previous = para
                continue
            if para.kind in ("closing",):
                previous = para
                continue
            if para.kind == "disclosure":
                self.disclosure = para.text
                continue
            if para.kind == "copy":
                self.copy = para.text
                continue
            m = L1.match(para.key) if para.kind == "heading" else None
            if m:
                title, inline = _head_split(para.text[m.start(2) :], "：。")
                if len(title) > 30:  # a whole sentence numbered 一、: its text, titled by its first phrase
                    title, inline = _short(title), para.text[m.start(2) :]
                section = Block(1, cn_numeral(m.group(1)) or 0, m.group(1), title, inline, lines=list(para.lines))
                part.sections.append(section)
                sub = None
            elif section is not None and para.kind == "heading" and (m := L2.match(para.key)):
                rest = para.text[m.start(2) :]
                title, _ = _head_split(rest, "。")
                sub = Block(2, cn_numeral(m.group(1)) or 0, f"{section.label}（{m.group(1)}）", title, lines=list(para.lines))
                sub.inline = rest if rest not in (title, title + "。") else ""
                if len(title) > 30:
                    sub.title, sub.inline = _short(title), rest
                section.children.append(sub)
            elif section is not None and para.kind == "heading" and (m := L3.match(para.key)):
                owner = sub or section
                number = m.group(1) or m.group(2)
                label = f"{number}." if m.group(1) else f"（{number}）"
                owner.children.append(Block(3, int(number), label, "", para.text[m.start(3) :], lines=list(para.lines)))
            elif section is None:
                part.preamble.append(para)
            elif sub is not None and deadline_only(para.text):
                section.deadline_paras.append(para)
            else:
                (sub or section).paras.append(para)
            self._inline_contacts(para, sub or section)
            previous = para
        self._flush_contacts(pending, section, sub)
        return part

    def _inline_contacts(self, para: Para, block: Block | None) -> None:
        for a, b, people in contacts_in(para.text):
            self.contacts.append(Contacts(para.text[a:b], people, block.label if block else "正文", list(para.lines)))

    def _flush_contacts(self, paras: list[Para], section: Block | None, sub: Block | None) -> None:
        if not paras:
            return
        text = "\n".join(p.text for p in paras)
        people = read_block(text)
        lines = [n for p in paras for n in p.lines]
        owner = sub or section
        where = owner.label if owner else "文尾"
        if people:
            self.contacts.append(Contacts(text, people, where, lines))
        else:
            self.placed.difference_update(lines)
            self.notes.append(f"第{lines[0]}行像是联系方式，但没有读出联系人")

    def _attachment_list(self, para: Para) -> None:
        """'附件：1、…反馈表' and the items on the lines after it."""
        m = ATTACH_LIST.match(para.key)
        first = para.text[m.start(1) :].strip() if m else ""
        items = re.split(r"\s+(?=\d{1,2}\s*[.．、](?!\d{1,2}[.．、]))", first) if first else []
        self.attachments.extend(_item(x) for x in items if x.strip())
        self.attachment_lines.extend(para.lines)

    def _table(self, lines: list[Line], title: str, section: str) -> FoundTable:
        header = [c for c in cells(lines[0]) if c]
        rows: list[list[str]] = []
        for line in lines[1:]:
            row = cells(line)
            if rows and (len([c for c in row if c]) < len(header) or (row and not row[0])):
                for i, value in enumerate(row):
                    if value and i < len(rows[-1]):
                        rows[-1][i] += value
                continue
            rows.append((row + [""] * len(header))[: len(header)] if len(row) <= len(header) else row[: len(header)])
        self.place(*(x.no for x in lines))
        table = [dict(zip(header, r, strict=True)) for r in rows]
        return FoundTable(title, header, table, section, [x.no for x in lines])

    # -- after the signature -------------------------------------------------------------------

    def _tail(self, lines: list[Line]) -> None:
        """Contact block, 公开方式, 抄送, attachment list, then attachment pages or an appended plan."""
        k = 0
        while k < len(lines):
            line = lines[k]
            what = kind(line)
            key = key_of(line)
            listed = what == "attach_head" and k + 1 < len(lines) and bool(ATTACH_ITEM.match(key_of(lines[k + 1])))
            if not listed and (what == "attach_head" or (TITLE_END.search(key) and not re.search(r"[。；]", key) and k + 1 < len(lines))):
                self._annexes(lines[k:])
                return
            if what == "contact" or (key.startswith("（") and ("联系" in key)):
                block = [line]
                while k + 1 < len(lines) and (
                    kind(lines[k + 1]) == "contact"
                    or _open(" ".join(x.key for x in block))
                    or key_of(block[-1]).endswith(("：", "，"))
                ):
                    k += 1
                    block.append(lines[k])
                paras = paragraphs(block)
                self.place(*(x.no for x in block))
                self._flush_contacts(paras, None, None)
            elif what in ("attach", "attach_head"):
                items = [line]
                while k + 1 < len(lines) and ATTACH_ITEM.match(key_of(lines[k + 1])):
                    k += 1
                    items.append(lines[k])
                self._attachment_list(paragraphs(items[:1])[0])
                for x in items[1:]:
                    self.attachments.append(_item(tidy(x.text)))
                self.attachment_lines.extend(x.no for x in items)
                self.place(*(x.no for x in items))
            elif what == "disclosure":
                self.disclosure = tidy(line.text)
                self.place(line.no)
            elif what == "copy":
                self.copy = tidy(line.text)
                self.place(line.no)
            elif org_line(key) and not self.signer:
                self.signer = re.sub(r"\s", "", tidy(line.text))
                self.place(line.no)
            k += 1

    def _annexes(self, lines: list[Line]) -> None:
        """Attachment pages (附件 / 附件1, a title, a table or text) and plans appended after the signature."""
        starts = [k for k, x in enumerate(lines) if kind(x) == "attach_head"]
        if not starts or starts[0] != 0:
            starts = [0] + starts
        for n, a in enumerate(starts):
            b = starts[n + 1] if n + 1 < len(starts) else len(lines)
            chunk = lines[a:b]
            if kind(chunk[0]) == "attach_head":
                self.place(chunk[0].no)
                chunk = chunk[1:]
            title: list[Line] = []
            runs = table_runs(chunk)
            table_at = runs[0][0] if runs else len(chunk)
            while chunk and len(title) < min(3, table_at) and not heading(key_of(chunk[0])) and kind(chunk[0]) == "text" and "。" not in chunk[0].key:
                title.append(chunk.pop(0))
            name = tidy("".join(tidy(x.text) for x in title))
            self.place(*(x.no for x in title))
            if not chunk:
                continue
            before = len(self.tables)
            label = f"附件{n + 1}" if len(starts) > 1 else "附件"
            part = self._part(chunk, label, name)
            for table in self.tables[before:]:
                table.title = name if table.title in ("", part.title) or len(self.tables) - before == 1 else table.title
                table.section = label if table.section == "正文" else table.section
            if part.preamble or part.sections:
                self.parts.append(part)


def _open(text: str) -> bool:
    return text.count("（") + text.count("(") > text.count("）") + text.count(")")


def _item(text: str) -> str:
    """An attachment's name as listed: without its number, the 《》 around it or a file extension."""
    m = ATTACH_ITEM.match(canon(text))
    name = tidy(text[m.start(2) :]) if m else tidy(text)
    name = re.sub(r"\.(?:docx?|pdf|xlsx?|wps|et)(?=》|$)", "", name, flags=re.I)
    return re.sub(r"^《([^《》]+)》", r"\1", name)


def _table_title(previous: Para | None, block: Block | None) -> str:
    """'…各市推荐名额如下：' before a table → '各市推荐名额'."""
    if previous is not None and previous.key.rstrip().endswith("："):
        text = re.split(r"[。；，]", previous.text.rstrip("：: "))[-1]
        text = re.sub(r"(如下|见下表|详见下表|具体如下)$", "", text).strip()
        text = re.sub(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）)", "", text)
        if 2 <= len(text) <= 30:
            return text
    return block.title if block else ""


def _short(sentence: str) -> str:
    """A title for a heading that is a whole sentence: its first phrase."""
    first = re.split(r"[，,；;：:。（(]", sentence, maxsplit=1)[0]
    return first if len(first) <= 30 else first[:30]


def _head_split(text: str, marks: str) -> tuple[str, str]:
    """'活动主题：xxx' or '加强统筹协调。要…' → (title, rest)."""
    key = canon(text)
    for i, ch in enumerate(key):
        if ch in marks:
            return text[:i].strip(), text[i + 1 :].strip()
    return text.strip(), ""


def table_roles(columns: list[str]) -> dict[str, str]:
    """Which column is the row number, the city, the name and the organisation."""
    names = {
        "number": ("序号", "编号"),
        "city": ("地区", "城市", "地市", "所在地", "所在区", "受检地市", "区域"),
        "name": ("项目名称", "工程名称", "名称", "检查组", "组别", "项目", "工程", "课题名称"),
        "org": ("施工单位", "承建单位", "总承包单位", "发布单位", "推荐单位", "单位", "企业"),
    }
    roles: dict[str, str] = {}
    taken: set[str] = set()
    for role in ("number", "city", "name", "org"):
        pick = next((n for n in names[role] if n in columns and n not in taken), None)
        if pick is None:
            pick = next((c for n in names[role] for c in columns if n in c and c not in taken), None)
        if pick:
            roles[role] = pick
            taken.add(pick)
    return roles


def as_dict(found: FoundContact) -> dict[str, Any]:
    """A found person as the knowledge file writes a contact."""
    out: dict[str, Any] = {"name": found.name}
    for key in ("phone", "mobile", "fax", "email"):
        values = list(dict.fromkeys(getattr(found, key)))
        if values:
            out[key] = "、".join(values)
    if found.office:
        out["office"] = found.office
    return out
