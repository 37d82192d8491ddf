"""The notice's own numbering (一、 （三） 五是 1.), and questions that point into it by number or position.

"第五条", "主要内容第三条的第二点", "二（四）", "三（一）", "第3个项目", "最后一个": resolved from the
section and item numbers the knowledge already carries, never from a list written for one notice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.core.model import Knowledge, Unit
from bot.core.text import cn_numeral, fold

_NUM = r"[一二两三四五六七八九十\d]{1,3}"
# 二（三）, 二(三), 第二（四）
_PAIR = re.compile(rf"第?({_NUM})\s*[(（]\s*({_NUM})\s*[)）]")
_PAREN = re.compile(rf"[(（]\s*({_NUM})\s*[)）]")
_ORDINAL = re.compile(rf"第\s*({_NUM})\s*(大部分|部分|章|大项|条|项|点|个|款|方面|段|件|行)?")
_SHI = re.compile(rf"({_NUM})是")
_TAIL = re.compile(rf"(?:的|里的|里面的|中的|之)\s*({_NUM})(?:是|点|项|条)?(?=$|[^一二两三四五六七八九十\d])")
_AFTER_PAIR = re.compile(rf"^\s*({_NUM})(?:是|点|项|条)?(?=$|[^一二两三四五六七八九十\d个号])")
_LAST = re.compile(r"最后(?:一|1)?(?:个|项|条|点|部分)?")
_ROW = re.compile(rf"(?:序号|编号)\s*({_NUM})|({_NUM})\s*号项目")
_TABLE_NOUN = re.compile(r"项目|工程|工地|单位|企业|名单|附件|表")
_LEVEL_WORDS = {"大部分": 1, "部分": 1, "章": 1, "大项": 1, "条": 2, "项": 2, "款": 2, "方面": 2, "段": 2}
_SECTION_LABEL = re.compile(rf"^({_NUM})(?:[(（]({_NUM})[)）])?$")
_ITEM_LABEL = re.compile(rf"^(?:({_NUM})是|[(（]?({_NUM})[)）.．、]?)$")


@dataclass(frozen=True)
class Pointer:
    """What a question points at by number: a path of section numbers, or a table row."""

    path: tuple[tuple[int, int], ...] = ()  # (level hint 1/2/3 or 0 for unknown, number); -1 = last
    anchor: tuple[int, ...] = ()  # an explicit top-level section, e.g. (2,) for "主要内容"/"二（…）"
    row: int | None = None  # a table row number (序号 N, 第N个项目); -1 = the last row
    table: bool = False  # the question speaks of projects / the attachment

    def __bool__(self) -> bool:
        return bool(self.path or self.anchor or self.row is not None)


@dataclass
class Node:
    """A numbered part of one notice."""

    address: tuple[int, ...]
    unit: str
    children: dict[int, Node] = field(default_factory=dict)

    def last(self) -> Node | None:
        """The highest-numbered child."""
        return self.children[max(self.children)] if self.children else None


class Outline:
    """The numbered parts of every document, built once per knowledge snapshot."""

    def __init__(self, knowledge: Knowledge) -> None:
        """Read section and item numbers from the units (sections '二（三）', item labels '五是', '1.')."""
        self.roots: dict[str, dict[int, Node]] = {}
        self.by_unit: dict[str, Node] = {}
        self.titles: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        units = knowledge.units
        for unit in units.values():
            if unit.kind != "section":
                continue
            address = _section_address(unit.section)
            if address:
                self._add(unit.document, address, unit.id)
                if len(address) == 1:
                    self.titles.setdefault(unit.document, []).append((fold(unit.title), address))
        for unit in units.values():
            if unit.kind != "item" or not unit.parent or unit.parent not in self.by_unit:
                continue
            number = _item_number(unit.label)
            if number is not None:
                parent = self.by_unit[unit.parent]
                self._add(unit.document, (*parent.address, number), unit.id)

    def _add(self, document: str, address: tuple[int, ...], unit: str) -> None:
        level = self.roots.setdefault(document, {})
        node: Node | None = None
        for depth, number in enumerate(address, 1):
            found = level.get(number)
            if found is None:
                found = Node(address[:depth], unit if depth == len(address) else "")
                level[number] = found
            elif depth == len(address) and not found.unit:
                found.unit = unit
            node = found
            level = found.children
        if node is not None and node.unit == unit:
            self.by_unit[unit] = node

    def node(self, document: str, address: tuple[int, ...]) -> Node | None:
        """The part at an address, e.g. (2, 3, 5) for 二（三）五是."""
        level = self.roots.get(document, {})
        node = None
        for number in address:
            node = level.get(number)
            if node is None:
                return None
            level = node.children
        return node

    def anchor_in(self, document: str, folded: str) -> tuple[int, ...]:
        """A top-level section named by its title in the question (主要内容, 工作要求 …)."""
        best: tuple[int, tuple[int, ...]] = (0, ())
        for title, address in self.titles.get(document, []):
            core = title[:8]
            if len(core) >= 2 and core in folded and len(core) > best[0]:
                best = (len(core), address)
        return best[1]

    def resolve(self, document: str, pointer: Pointer, listing: str = "") -> list[Node]:
        """Every part the pointer can mean; `listing` (a unit just listed) anchors a bare '第二点'."""
        if not pointer.path and not pointer.anchor:
            return []
        roots = self.roots.get(document, {})
        starts: list[Node | None]
        path = list(pointer.path)
        if pointer.anchor:
            starts = [self.node(document, pointer.anchor)]
        elif listing and listing in self.by_unit and path and path[0][0] != 1:
            starts = [self.by_unit[listing]]
        elif path and path[0][0] == 1:
            first = _pick(roots, path.pop(0)[1])
            starts = [first]
        else:
            starts = [None]  # the top level itself, then any section below it
        found: list[Node] = []
        for start in starts:
            for node in _walk(start, roots, path):
                if node.unit and node not in found:
                    found.append(node)
        return found


def _walk(start: Node | None, roots: dict[int, Node], path: list[tuple[int, int]]) -> Iterable[Node]:
    """Follow the numbers from `start`; with no start, try every top-level section as the start."""
    if start is not None:
        node: Node | None = start
        for _, number in path:
            node = _pick(node.children, number) if node else None
        if node is not None:
            yield node
        return
    if not path:
        return
    level, number = path[0]
    if level in (0, 1):  # '第三部分', or a bare number that may be a top-level section
        top = _pick(roots, number)
        if top is not None and len(path) == 1 and level == 1:
            yield top
            return
    for section in roots.values():
        yield from _walk(section, roots, path)
    if level == 0 and len(path) == 1:
        top = _pick(roots, number)
        if top is not None and not any(_pick(s.children, number) for s in roots.values()):
            yield top


def _pick(level: dict[int, Node], number: int) -> Node | None:
    if number == -1:
        return level[max(level)] if level else None
    return level.get(number)


def _section_address(section: str) -> tuple[int, ...]:
    """'二（三）' → (2, 3); '一' → (1,); '文首', '附件' → ()."""
    m = _SECTION_LABEL.match(section.strip())
    if not m:
        return ()
    first = cn_numeral(m.group(1))
    if first is None:
        return ()
    second = cn_numeral(m.group(2)) if m.group(2) else None
    return (first,) if second is None else (first, second)


def _item_number(label: str) -> int | None:
    """'五是' → 5, '（2）' → 2, '3.' → 3; named items ('各地要求') have no number."""
    m = _ITEM_LABEL.match(label.strip())
    if not m:
        return None
    return cn_numeral(m.group(1) or m.group(2))


def read_pointer(folded: str, anchor: tuple[int, ...] = (), table_rows: bool = False) -> Pointer:
    """The numbers a question points with, in the order it gives them (after script folding).

    `table_rows`: rows of a table were just shown, so a bare '第6个' means a row.
    """
    text = folded.replace(" ", "")
    table = table_rows or bool(_TABLE_NOUN.search(text))
    row_match = _ROW.search(text)
    if row_match:
        number = cn_numeral(row_match.group(1) or row_match.group(2))
        if number is not None:
            return Pointer(row=number, table=True)
    path: list[tuple[int, int]] = []
    pair = _PAIR.search(text)
    if pair:
        first, second = cn_numeral(pair.group(1)), cn_numeral(pair.group(2))
        if first is not None and second is not None:
            anchor = (first,)
            path.append((2, second))
            rest = text[pair.end() :]
            third = _AFTER_PAIR.match(rest) or _TAIL.search(rest) or _SHI.search(rest) or _ORDINAL.search(rest)
            if third and (n := cn_numeral(third.group(1))) is not None:
                path.append((3, n))
            return Pointer(tuple(path), anchor, table=False)
    spans: list[tuple[int, int, int]] = []  # (position, level, number)
    for m in _PAREN.finditer(text):
        if (n := cn_numeral(m.group(1))) is not None:
            spans.append((m.start(), 2, n))
    for m in _ORDINAL.finditer(text):
        n = cn_numeral(m.group(1))
        if n is None:
            continue
        word = m.group(2) or ""
        if word in ("个", "件", "行") and table and not anchor and not spans:
            return Pointer(row=n, table=True)
        spans.append((m.start(), _LEVEL_WORDS.get(word, 3 if spans else 0), n))
    for m in _SHI.finditer(text):
        if (n := cn_numeral(m.group(1))) is not None and not any(p <= m.start() < p + 3 for p, _, _ in spans):
            spans.append((m.start(), 3, n))
    for m in _TAIL.finditer(text):
        if spans and (n := cn_numeral(m.group(1))) is not None and m.start() > spans[-1][0]:
            spans.append((m.start(), 3, n))
    last = _LAST.search(text)
    if last:
        if table and not anchor and not spans:
            return Pointer(row=-1, table=True)
        spans.append((last.start(), 0 if not spans else 3, -1))
    spans.sort()
    path = [(level, number) for _, level, number in spans]
    return Pointer(tuple(path), anchor, table=table)


def position_of(unit: Unit, outline: Outline) -> tuple[int, ...]:
    """The address of a unit in its notice's numbering, () for unnumbered units."""
    node = outline.by_unit.get(unit.id)
    return node.address if node else ()
