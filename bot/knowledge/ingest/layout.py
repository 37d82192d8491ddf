"""What each line of a notice is (heading, table row, contact, attachment list, signature …) and its paragraphs.

A line broken inside a sentence (PDF text, a narrow window) runs on into the next line; a heading,
a table row, a contact line or a signature never does.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from bot.core.text import arabic_dates
from bot.knowledge.ingest.clean import Line, tidy
from bot.knowledge.ingest.contacts import is_contact_line

TERMINAL = "。：；！？"
L1 = re.compile(r"^([一二三四五六七八九十]+)\s*、\s*(.*)$")
L2 = re.compile(r"^（\s*([一二三四五六七八九十]+)\s*）\s*(.*)$")
L3 = re.compile(r"^(?:(\d{1,2})\s*[.．、](?!\d)|（(\d{1,2})）)\s*(.*)$")
DOC_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,12}〔\s*\d{4}\s*〕\s*\d{1,5}\s*号|[\u4e00-\u9fff]{1,12}（\s*\d{4}\s*）\s*\d{1,5}\s*号")
DATE_LINE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
ATTACH_LIST = re.compile(r"^附\s*(?:件\s*\d*)?\s*：\s*(.*)$")
ATTACH_HEAD = re.compile(r"^附\s*件\s*(\d*)\s*：?$|^附件(\d+)\s+\S")
ATTACH_ITEM = re.compile(r"^(\d{1,2})\s*[.．、]\s*(\S.*)$")
DISCLOSURE = re.compile(r"^公开方式\s*：\s*(.+)$")
COPY = re.compile(r"^(抄送|抄报|分送)\s*：\s*(.+)$")
CLOSING = re.compile(r"^(特此通知|特此函告|特此函达|此复|专此函告|特此公告|特此通告)[。！!]?$")
ORG = re.compile(
    r"^[\u4e00-\u9fff（）]{3,40}?(?:厅|局|委员会|委|协会|联合会|学会|分会|商会|总会|办公室|人民政府|政府|中心|总站|监督站|研究院|研究会|部)(?:文件)?$"
)
TITLE_END = re.compile(r"(通知|意见|方案|办法|函|决定|通报|规定|细则|要点|公告|计划|报告|请示|批复|纪要|通告)$")


def key_of(line: Line) -> str:
    """The line's matching form without the spaces extraction leaves."""
    return tidy(line.key)


def heading(key: str) -> re.Match[str] | None:
    """A numbered heading 一、 （一） 1. （1）, or None."""
    return L1.match(key) or L2.match(key) or L3.match(key)


def date_line(key: str) -> tuple[int, int, int] | None:
    """A line that is only a date (signature dates too: 二〇一二年三月五日)."""
    m = DATE_LINE.match(re.sub(r"\s", "", arabic_dates(key)))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def number_line(key: str) -> str | None:
    """'粤建质函〔2021〕622号' alone on a line, or in brackets under a title."""
    bare = re.sub(r"\s", "", key).strip("（）")
    m = DOC_NUMBER.fullmatch(bare)
    return m.group(0) if m else None


def org_line(key: str) -> bool:
    """A line that is only an organisation's name: a red-head or a signature."""
    return bool(ORG.match(re.sub(r"\s", "", key))) and not TITLE_END.search(key)


def kind(line: Line) -> str:
    """heading | attach | attach_head | date | contact | disclosure | copy | closing | text."""
    key = key_of(line)
    if heading(key) and not ATTACH_LIST.match(key):
        return "heading"
    if ATTACH_HEAD.match(key):
        return "attach_head"
    if ATTACH_LIST.match(key):
        return "attach"
    if date_line(key):
        return "date"
    if DISCLOSURE.match(key):
        return "disclosure"
    if COPY.match(key):
        return "copy"
    if CLOSING.match(key):
        return "closing"
    if is_contact_line(key):
        return "contact"
    return "text"


# -- tables ------------------------------------------------------------------------------------


def cells(line: Line) -> list[str]:
    """A table row's cells, keeping empty leading cells (a wrapped row's continuation)."""
    text = line.text.rstrip()
    if "\t" in text:
        return [tidy(c) for c in text.split("\t")]
    if re.search(r"\S\s{2,}\S", text):
        return [tidy(c) for c in re.split(r"\s{2,}", text.strip())]
    return [tidy(c) for c in re.split(r"\s+", text.strip())]


def table_runs(lines: list[Line]) -> list[tuple[int, int]]:
    """Runs [a, b) of lines that form a table: tab-separated rows, or ≥3 rows of equal space-separated cells."""
    runs: list[tuple[int, int]] = []
    k = 0
    while k < len(lines):
        if _tab_row(lines[k]) and len([c for c in cells(lines[k]) if c]) >= 2:
            b = k + 1
            while b < len(lines) and _tab_row(lines[b]):
                b += 1
            if b - k >= 2:
                runs.append((k, b))
            k = b
            continue
        width = _spaced_width(lines[k])
        if width >= 3:
            b = k + 1
            while b < len(lines) and _spaced_width(lines[b]) == width:
                b += 1
            first = cells(lines[k])[0]
            if b - k >= 3 and ("序号" in first or all(cells(x)[0].isdigit() for x in lines[k + 1 : b])):
                runs.append((k, b))
                k = b
                continue
        k += 1
    return runs


def _tab_row(line: Line) -> bool:
    return "\t" in line.text.strip(" ") and len([c for c in cells(line) if c]) >= 1


def _spaced_width(line: Line) -> int:
    text = line.text.strip()
    if any(ch in text for ch in "。；，,") or len(text) > 80:
        return 0
    parts = re.split(r"\s{2,}", text) if re.search(r"\S\s{2,}\S", text) else re.split(r"\s+", text)
    return len(parts) if len(parts) >= 3 and all(len(p) <= 30 for p in parts) else 0


# -- paragraphs ----------------------------------------------------------------------------------


@dataclass
class Para:
    """One paragraph after broken lines are joined, with the file lines it came from."""

    text: str
    lines: list[int]
    kind: str = "text"
    key: str = ""


def wrap_width(lines: list[Line]) -> int:
    """The line length of hard-wrapped text (PDF copies), or 0 when lines are whole paragraphs."""
    lengths = [len(key_of(x)) for x in lines if len(key_of(x)) >= 20]
    if len(lengths) < 6:
        return 0
    common, _ = Counter(lengths).most_common(1)[0]
    near = sum(1 for n in lengths if abs(n - common) <= 1)
    return common if near >= max(4, len(lengths) // 4) else 0


def _unclosed(text: str) -> bool:
    """A bracket or 《 left open: the line was broken inside it."""
    return text.count("（") + text.count("(") > text.count("）") + text.count(")") or text.count("《") > text.count("》")


def paragraphs(lines: list[Line], width: int = 0) -> list[Para]:
    """Join the lines a break cut inside a sentence; headings and structured lines stand alone."""
    out: list[Para] = []
    for line in lines:
        key = key_of(line)
        what = kind(line)
        # A contact line keeps its spacing ("罗颖  周子航"); other text loses what extraction added.
        text = re.sub(r"[ \u3000\t]+", " ", line.text.strip()) if what == "contact" else tidy(line.text)
        last = out[-1] if out else None
        if last is not None and _runs_on(last, what, key, width):
            last.text += text
            last.key += key
            last.lines.append(line.no)
            if last.kind == "contact" and what == "contact":
                continue
            continue
        out.append(Para(text, [line.no], what, key))
    return out


def _runs_on(last: Para, what: str, key: str, width: int) -> bool:
    if last.kind in ("date", "attach_head", "disclosure", "copy", "closing"):
        return False
    if _unclosed(last.key):
        return True
    if last.key.endswith(("：", "，", "、")) and last.kind == "contact" and what in ("text", "contact"):
        return True
    if what != "text" or last.kind in ("contact", "attach"):
        return False
    ended = last.key[-1:] in TERMINAL
    if ended:
        return False
    if last.kind == "heading":
        full = width and len(last.key) >= width - 1
        return bool(full or any(ch in last.key[:-1] for ch in "。；") or len(last.key) > 40)
    return True


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
