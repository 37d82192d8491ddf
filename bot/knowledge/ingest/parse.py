"""Read a notice's plain text into its parts: header, numbered sections, deadlines, contact, tables."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.text import cn_numeral, parse_cn_date
from bot.knowledge.load import ROLES

TERMINAL = "。：；！？:;!?"


L1 = re.compile(r"^([一二三四五六七八九十]+)、\s*(.*)$")


L2 = re.compile(r"^[（(]\s*([一二三四五六七八九十]+)\s*[）)]\s*(.*)$")


L3 = re.compile(r"^(?:(\d{1,2})\s*[.．、](?!\d)|[（(](\d{1,2})[）)])\s*(.*)$")


DOC_NUMBER = re.compile(r"^\S{1,16}[〔\[［(（]\s*\d{4}\s*[〕\]］)）]\s*\d+\s*号$")


DATE_LINE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")


ATTACH_LIST = re.compile(r"^附\s*件\s*[：:]\s*(.*)$")


ATTACH_HEAD = re.compile(r"^附\s*件\s*(\d*)\s*$")


CONTACT_START = re.compile(r"^[（(]?\s*联\s*系\s*人")


DISCLOSURE = re.compile(r"^公开方式\s*[：:]\s*(.+)$")


PAGE_NUMBER = re.compile(r"^[-—–\s]*\d{1,3}[-—–\s]*$")


TITLE_END = re.compile(r"(通知|意见|方案|办法|函|决定|通报|规定|细则|要点|公告|计划)$")


BASIS = re.compile(r"《[^《》]+》\s*[（(][^（）()]*〔\d{4}〕\d+号[）)]")


ENUM = re.compile(r"(?:^|(?<=[：。；，:;,]))([一二三四五六七八九十])是")


DEADLINE = re.compile(
    r"^(?P<who>.*?)(?:请|须|应|要|务必)?(?:于|在)(?P<date>[^，。；,;]{2,20}?)(?:之)?前(?P<rest>.*)$"
)


SUBMIT = re.compile(r"报送|提交|上报|报至|送至|发送至|发送到|寄送|送交")


WHAT_FIRST = re.compile(
    r"^[，,]?\s*将(?P<what>.+?)(?:以(?P<how>[^，,；;。]+?(?:形式|方式)))?[，,]?\s*"
    r"(?:报送|提交|上报|报至|送至|发送至|发送到|寄送|送交)(?:至|到|给)?(?P<to>[^，,；;。]*)"
)


VERB_FIRST = re.compile(
    r"^[，,]?\s*(?:以(?P<how>[^，,；;。]+?(?:形式|方式))[，,]?)?\s*(?:报送|提交|上报|寄送|送交)"
    r"(?P<what>[^，,；;。]+?)(?:(?:至|到|给)(?P<to>[^，,；;。]+))?$"
)


OFFICE = re.compile(r"([^\s，、。；]*?(?:处|科|室|中心|站|办))$")


ROLE_NAMES = {
    "number": ("序号", "编号"),
    "city": ("地区", "城市", "地市", "所在地"),
    "name": ("项目名称", "工程名称", "名称", "检查组", "组别", "项目", "工程"),
    "org": ("施工单位", "承建单位", "总承包单位", "单位", "企业"),
}


def _wide(ch: str) -> bool:
    return ord(ch) >= 0x2000


def _ideograph(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def tidy(text: str) -> str:
    """Drop the spaces PDF extraction puts between Chinese and Latin text, keep those between two phrases."""
    text = text.strip()

    def fix(m: re.Match[str]) -> str:
        before, after = text[m.start() - 1], text[m.end()]
        if _ideograph(before) and _ideograph(after):
            return " "
        if _wide(before) or _wide(after):
            return ""
        return " "

    return re.sub(r"(?<=.)\s+(?=.)", fix, text)


def split_keep(text: str, marks: str) -> list[str]:
    """Split after each of `marks`, keeping the mark with its clause."""
    return [p for p in re.split(f"(?<=[{marks}])", text) if p.strip()]


@dataclass
class Para:
    """One paragraph of the body after broken lines are joined."""

    text: str
    lines: list[int]


@dataclass
class Block:
    """A numbered part of the body: 一、 (level 1), （一） (level 2) or 1. (level 3)."""

    level: int
    number: int
    label: str
    title: str
    inline: str = ""
    paras: list[Para] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    deadline_paras: list[Para] = field(default_factory=list)


def _heading_open(text: str) -> bool:
    """A heading line continues on the next line only if it already runs into body text."""
    return any(ch in "。；" for ch in text[:-1]) or len(text) > 40


def _is_heading(text: str) -> bool:
    return bool(L1.match(text) or L2.match(text) or L3.match(text))


def _paragraphs(lines: list[tuple[int, str]]) -> list[Para]:
    """Rejoin lines a PDF broke inside a sentence: an open line followed by a non-heading continues."""
    paras: list[Para] = []
    open_ = False
    for no, raw in lines:
        text = tidy(raw)
        if not text:
            continue
        if paras and open_ and not _is_heading(text):
            paras[-1].text += text
            paras[-1].lines.append(no)
        else:
            paras.append(Para(text, [no]))
        last = paras[-1].text
        ended = last[-1] in TERMINAL
        open_ = not ended and (not _is_heading(last) or _heading_open(last))
    return paras


def enumeration(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split 'intro：一是…；二是…' into the intro and its (label, text) items, in order."""
    starts = []
    want = 1
    for m in ENUM.finditer(text):
        if cn_numeral(m.group(1)) == want:
            starts.append(m.start())
            want += 1
    if len(starts) < 2:
        return text, []
    intro = text[: starts[0]].rstrip("，,；; ")
    items = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[start:end].rstrip("，,；; ")
        items.append((chunk[:2], chunk))
    return intro, items


@dataclass
class FoundDeadline:
    date: dt.date
    what: str
    who: str
    how: str
    to: str
    text: str
    section: str


def deadlines_in(text: str, section: str, year: int, issued: dt.date | None) -> list[FoundDeadline]:
    """Every '…于X月X日前将…报送…' clause of a paragraph."""
    found: list[FoundDeadline] = []
    who = ""
    for sentence in split_keep(text, "。"):
        for clause in split_keep(sentence, "；;"):
            body = re.sub(r"^[（(][一二三四五六七八九十]+[）)]", "", clause.strip())
            m = DEADLINE.match(body.rstrip("。；;"))
            if not m or not SUBMIT.search(m.group("rest")):
                continue
            when = parse_cn_date(m.group("date"), year, issued)
            if when is None:
                continue
            clause_who = re.sub(r"(请|须|应|要|务必)$", "", m.group("who")).strip("，, ")
            if "。" in clause_who:
                clause_who = clause_who.rsplit("。", 1)[1]
            who = clause_who or who
            rest = m.group("rest")
            what = how = to = ""
            w = WHAT_FIRST.match(rest) or VERB_FIRST.match(rest)
            if w:
                what = (w.group("what") or "").strip("，, ")
                how = (w.group("how") or "").strip()
                to = re.sub(r"^(至|到|给)", "", (w.group("to") or "").strip("，, "))
            if not what:
                what = SUBMIT.sub("", rest).strip("，,。； ") or "材料"
            text_out = body.rstrip("；;")
            if not text_out.endswith("。"):
                text_out += "。"
            found.append(FoundDeadline(when, what, who, how, to, text_out, section))
    return found


def _deadline_only(text: str) -> bool:
    """A paragraph that does nothing but set deadlines belongs to its part, not to the last sub-item."""
    sentences = [s for s in split_keep(text, "。") if s.strip("。 ")]
    return bool(sentences) and all(
        (m := DEADLINE.match(s.rstrip("。"))) is not None and SUBMIT.search(m.group("rest"))
        for s in sentences
    )


def contact_fields(text: str) -> dict[str, str]:
    keys = (
        ("name", r"联系人"),
        ("phone", r"(?:联系)?电话|手机|座机"),
        ("fax", r"传真"),
        ("email", r"(?:电子)?邮箱|电子邮件|邮件|[Ee]-?mail"),
        ("address", r"(?:通讯|联系)?地址"),
    )
    out: dict[str, str] = {}
    last = ""
    for part in re.split(r"[，,；;]", text.strip("（）() ")):
        part = part.strip()
        if not part:
            continue
        for key, pattern in keys:
            m = re.match(rf"^(?:{pattern})\s*[：:]\s*(.*)$", part)
            if m:
                out[key] = m.group(1).strip()
                last = key
                break
        else:
            if last and last != "name":
                out[last] = f"{out[last]}、{part}"
    return {k: v for k, v in out.items() if v}


def _split_row(line: str) -> list[str]:
    cells = re.split(r"\t+", line.strip()) if "\t" in line else re.split(r"\s{2,}", line.strip())
    return [tidy(c) for c in cells if c.strip()]


def table_roles(columns: list[str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    taken: set[str] = set()
    for role in ROLES:
        names = ROLE_NAMES[role]
        pick = next((n for n in names if n in columns and n not in taken), None)
        if pick is None:
            pick = next((c for n in names for c in columns if n in c and c not in taken), None)
        if pick:
            roles[role] = pick
            taken.add(pick)
    return roles


class Parser:
    """One pass over the notice's lines, region by region."""

    def __init__(self, text: str, doc_id: str | None) -> None:
        raw = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
        self.lines: list[tuple[int, str]] = []
        for no, line in enumerate(raw, 1):
            line = line.rstrip()
            if PAGE_NUMBER.match(line) and line.strip():
                continue
            self.lines.append((no, line.strip(" \u3000")))
        self.doc_id = doc_id
        self.placed: set[int] = set()
        self.notes: list[str] = []
        self.issuer = self.number = self.title = self.addressee = self.disclosure = ""
        self.signer = ""
        self.issued: dt.date | None = None
        self.attachments: list[str] = []
        self.contact_text = ""
        self.contact_lines: list[int] = []
        self.tables: list[dict[str, Any]] = []
        self.preamble: list[Para] = []
        self.sections: list[Block] = []

    def place(self, *numbers: int) -> None:
        """Mark lines as accounted for."""
        self.placed.update(numbers)

    def nonblank(self, start: int, end: int) -> list[int]:
        return [i for i in range(start, end) if self.lines[i][1].strip()]

    def run(self) -> None:
        """Header, body, tail, attachments: each region ends where the next one's marker starts."""
        idx = self.nonblank(0, len(self.lines))
        if not idx:
            raise ValueError("the notice is empty")
        pos = self._header(idx)
        body_end = self._body_end(idx, pos)
        self._body(idx[pos] if pos < len(idx) else len(self.lines), body_end)
        attach_start = next(
            (i for i in idx if i >= body_end and ATTACH_HEAD.match(self.lines[i][1])),
            len(self.lines),
        )
        self._tail([i for i in idx if body_end <= i < attach_start])
        self._attachments([i for i in idx if i >= attach_start])

    def _header(self, idx: list[int]) -> int:
        texts = [self.lines[i][1] for i in idx]
        number_at = next((k for k, t in enumerate(texts[:8]) if DOC_NUMBER.match(tidy(t))), None)
        if number_at is not None:
            self.number = re.sub(r"\s", "", texts[number_at])
            self.place(self.lines[idx[number_at]][0])
            pos = number_at + 1
            before = list(range(number_at))
        else:
            self.notes.append("no 文号 line found")
            pos = 0
            while pos < min(len(texts), 8) and "关于" not in texts[pos]:
                pos += 1
            if pos >= min(len(texts), 8):
                pos = 0
            before = list(range(pos))
        if before:
            self.issuer = re.sub(r"文件$", "", tidy(texts[before[0]]))
            self.place(self.lines[idx[before[0]]][0])
        title: list[str] = []
        while pos < len(texts) and len(title) < 4:
            title.append(texts[pos])
            self.place(self.lines[idx[pos]][0])
            pos += 1
            if TITLE_END.search(tidy(texts[pos - 1])):
                break
        self.title = tidy("".join(tidy(t) for t in title))
        addressee: list[str] = []
        look = pos
        while look < len(texts) and look - pos < 4 and not _is_heading(texts[look]):
            addressee.append(texts[look])
            if texts[look].endswith(("：", ":")):
                self.addressee = "".join(tidy(t) for t in addressee)
                for k in range(pos, look + 1):
                    self.place(self.lines[idx[k]][0])
                return look + 1
            look += 1
        self.notes.append("no addressee line (ending in ：) found")
        return pos

    def _body_end(self, idx: list[int], pos: int) -> int:
        for k in range(pos, len(idx)):
            text = self.lines[idx[k]][1]
            nxt = self.lines[idx[k + 1]][1] if k + 1 < len(idx) else ""
            signature = (
                DATE_LINE.match(nxt.strip())
                and len(text) <= 40
                and not any(ch in text for ch in "。，；：")
            )
            if (
                ATTACH_LIST.match(text)
                or ATTACH_HEAD.match(text)
                or CONTACT_START.match(text)
                or DISCLOSURE.match(text)
                or DATE_LINE.match(text)
                or signature
            ):
                return idx[k]
        return len(self.lines)

    def _body(self, start: int, end: int) -> None:
        paras = _paragraphs(self.lines[start:end])
        section: Block | None = None
        sub: Block | None = None
        for para in paras:
            text = para.text
            if m := L1.match(text):
                title, inline = _head_split(m.group(2), "：:。")
                section = Block(
                    1, cn_numeral(m.group(1)) or 0, m.group(1), title, inline, lines=list(para.lines)
                )
                self.sections.append(section)
                sub = None
            elif section is not None and (m := L2.match(text)):
                title, _ = _head_split(m.group(2), "。")
                sub = Block(
                    2,
                    cn_numeral(m.group(1)) or 0,
                    f"{section.label}（{m.group(1)}）",
                    title,
                    lines=list(para.lines),
                )
                sub.inline = (
                    m.group(2) if m.group(2) != title and m.group(2) != title + "。" else ""
                )
                section.children.append(sub)
            elif section is not None and (m := L3.match(text)):
                owner = sub or section
                number = m.group(1) or m.group(2)
                label = f"{number}." if m.group(1) else f"（{number}）"
                owner.children.append(
                    Block(3, int(number), label, "", m.group(3), lines=list(para.lines))
                )
            elif section is None:
                self.preamble.append(para)
            elif _deadline_only(text):
                section.deadline_paras.append(para)
            else:
                (sub or section).paras.append(para)
            self.place(*para.lines)

    def _tail(self, idx: list[int]) -> None:
        k = 0
        while k < len(idx):
            no, text = self.lines[idx[k]]
            text = tidy(text)
            if m := ATTACH_LIST.match(text):
                if m.group(1):
                    self.attachments.append(re.sub(r"^\d+[.．、]\s*", "", m.group(1)))
                self.place(no)
                while k + 1 < len(idx) and re.match(r"^\d+[.．、]", self.lines[idx[k + 1]][1]):
                    k += 1
                    self.attachments.append(
                        re.sub(r"^\d+[.．、]\s*", "", tidy(self.lines[idx[k]][1]))
                    )
                    self.place(self.lines[idx[k]][0])
            elif m := DATE_LINE.match(text):
                self.issued = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                self.place(no)
            elif (
                k + 1 < len(idx)
                and DATE_LINE.match(self.lines[idx[k + 1]][1].strip())
                and len(text) <= 40
            ):
                self.signer = self.signer or text
                self.place(no)
            elif CONTACT_START.match(text):
                parts, numbers = [text], [no]
                paren = text[0] in "（("
                while (paren and not re.search(r"[）)]$", parts[-1])) or (
                    not paren
                    and k + 1 < len(idx)
                    and re.match(r"^(电话|传真|邮箱|手机)", self.lines[idx[k + 1]][1])
                ):
                    if k + 1 >= len(idx):
                        break
                    k += 1
                    parts.append(tidy(self.lines[idx[k]][1]))
                    numbers.append(self.lines[idx[k]][0])
                if self.contact_text:
                    self.notes.append(f"a second contact block at line {no} was not read")
                else:
                    self.contact_text, self.contact_lines = "".join(parts), numbers
                    self.place(*numbers)
            elif m := DISCLOSURE.match(text):
                self.disclosure = text
                self.place(no)
            k += 1

    def _attachments(self, idx: list[int]) -> None:
        k = 0
        while k < len(idx):
            no, text = self.lines[idx[k]]
            if not ATTACH_HEAD.match(tidy(text)):
                k += 1
                continue
            self.place(no)
            k += 1
            title: list[str] = []
            while (
                k < len(idx)
                and len(_split_row(self.lines[idx[k]][1])) < 2
                and not ATTACH_HEAD.match(tidy(self.lines[idx[k]][1]))
            ):
                title.append(tidy(self.lines[idx[k]][1]))
                self.place(self.lines[idx[k]][0])
                k += 1
            if k >= len(idx) or ATTACH_HEAD.match(tidy(self.lines[idx[k]][1])):
                for n in range(len(title)):
                    self.placed.discard(self.lines[idx[k - len(title) + n]][0])
                continue
            header_no, header = self.lines[idx[k]]
            columns = _split_row(header)
            self.place(header_no)
            k += 1
            rows: list[dict[str, Any]] = []
            while k < len(idx) and not ATTACH_HEAD.match(tidy(self.lines[idx[k]][1])):
                row_no, row_text = self.lines[idx[k]]
                cells = _split_row(row_text)
                if len(cells) == len(columns):
                    rows.append(dict(zip(columns, cells, strict=True)))
                    self.place(row_no)
                k += 1
            name = tidy("".join(title)) or (
                self.attachments[len(self.tables)]
                if len(self.attachments) > len(self.tables)
                else "附件"
            )
            self.tables.append({"title": name, "columns": columns, "rows": rows})


def _head_split(text: str, marks: str) -> tuple[str, str]:
    """'活动主题：xxx' or '加强统筹协调。要…' → (title, rest)."""
    for i, ch in enumerate(text):
        if ch in marks:
            rest = text[i + 1 :].strip()
            return text[:i].strip(), rest
    return text.strip(), ""
