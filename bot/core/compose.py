"""Wording a reply: the relevant quote with its section, table rows, countdowns, contacts, suggestions.

All wording comes from the knowledge's templates; this module only decides what goes where.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.core.entities import split_cell
from bot.core.index import SENTENCE_END, Analysis, Index
from bot.core.model import Deadline, DeadlineInfo, Reply, Source, Target, Unit
from bot.core.text import cn_date

MAIN_LIMIT = 600  # characters of the main answer; suggestions and source come on top
PART_LIMIT = 330  # per part when a message asked two or more questions
QUOTE_LIMIT = 320
MAX_SUGGESTIONS = 3


_EMPTY_BRACKETS = re.compile(r"（\s*）|\(\s*\)")


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, **values: object) -> str:
    """Format a staff-written template; an unknown placeholder renders empty instead of crashing.

    Brackets left empty by an empty value (a notice without a 文号) are dropped, not shown as "（）".
    """
    try:
        lines = [_fill_line(line, values) for line in template.split("\n")]
    except (ValueError, IndexError, AttributeError, KeyError, TypeError):
        return template
    text = "\n".join(line for line in lines if line is not None)
    return text if _EMPTY_BRACKETS.search(template) else _EMPTY_BRACKETS.sub("", text)


def _fill_line(line: str, values: dict[str, object]) -> str | None:
    """One template line, or None when every placeholder in it is empty.

    A notice without a contact drops "如需进一步咨询，请联系{contact}。" rather than ending with
    "请联系。"; within a line, a clause between commas whose facts are all missing goes too
    ("{name}，电话{phone}，邮箱{email}" without an email reads "张三，电话…").
    """
    if "{" not in line and "}" not in line:
        return line
    if _all_empty(line, values):
        return None
    pieces = _clauses(line)  # clause, separator, clause, …
    kept = pieces[0] if not _all_empty(pieces[0], values) else ""
    for separator, clause in zip(pieces[1::2], pieces[2::2], strict=True):
        if _all_empty(clause, values):
            if clause.rstrip("，；、").endswith(("。", "！", "？")) and kept:
                kept += clause[-1]  # keep the sentence's end
            continue
        kept += (separator if kept else "") + clause
    return kept.format_map(_Blank(values))


def _all_empty(text: str, values: dict[str, object]) -> bool:
    """True when `text` has placeholders and every one of them is empty."""
    names = _placeholders(text)
    return bool(names) and not any(str(values.get(name, "") or "").strip() for name in names)


@functools.lru_cache(maxsize=1024)
def _placeholders(text: str) -> tuple[str, ...]:
    """The value names a template text uses ({contact.name} uses contact); templates are few, so remembered."""
    return tuple(re.split(r"[.\[]", name)[0] for _, name, _, _ in string.Formatter().parse(text) if name)


@functools.lru_cache(maxsize=1024)
def _clauses(line: str) -> tuple[str, ...]:
    return tuple(_CLAUSE_BREAK.split(line))


_CLAUSE_BREAK = re.compile(r"([，；、])")


def quote(text: str, limit: int) -> str:
    """The notice's words in quotation marks, cut with … when too long."""
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{text}”"


def _clause(text: str, limit: int = 60) -> str:
    """The first clauses of a part, up to `limit` characters, so a list of parts stays readable."""
    pieces = re.split(r"(?<=[，。；])", text)
    out = ""
    for piece in pieces:
        if out and len(out) + len(piece) > limit:
            break
        out += piece
    out = out.rstrip("，。；")
    if len(out) > limit:
        return out[: limit - 1] + "…"
    return out if len(out) >= len(text.rstrip("，。；")) else out + "…"


@dataclass
class Rows:
    """Table rows chosen for an answer, and how to name the filter that chose them."""

    indexes: list[int]
    label: str = ""
    by_name: bool = False  # a project was named: no "共N项" header


class Composer:
    """Builds replies from one index snapshot."""

    def __init__(self, index: Index, zone: ZoneInfo) -> None:
        """Compose from this snapshot; dates count in `zone`."""
        self.index = index
        self.k = index.knowledge
        self.t = index.knowledge.templates
        self.zone = zone

    # -- facts ------------------------------------------------------------------------------

    def today(self, now: datetime) -> date:
        """The calendar day of `now` in the bot's zone."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=self.zone)
        return now.astimezone(self.zone).date()

    def countdown(self, day: date, today: date) -> str:
        """还有N天 / 今天截止 / 已于…截止, worded by the templates."""
        days = (day - today).days
        if days > 0:
            return fill(self.t["countdown_future"], days=days, date=cn_date(day))
        if days == 0:
            return fill(self.t["countdown_today"], date=cn_date(day))
        return fill(self.t["countdown_past"], days=-days, date=cn_date(day))

    def deadline_info(self, d: Deadline, today: date) -> DeadlineInfo:
        """A deadline with its countdown, for the JSON API and the page's card."""
        doc = self.k.documents.get(d.document)
        return DeadlineInfo(d.id, d.date, (d.date - today).days, d.what, (doc.number or doc.short_title) if doc else "")

    def contact_text(self, document: str) -> str:
        """The contact line of a document, or '' when it names none."""
        unit = self.index.contact_unit.get(document)
        return fill(self.t["contact_line"], **vars(unit.contact)) if unit and unit.contact else ""

    def values(self) -> dict[str, object]:
        """Placeholders every staff-written reply may use, from the newest notice."""
        doc = self.k.latest_document()
        return {
            "campaign": doc.campaign or doc.short_title,
            "title": doc.title,
            "number": doc.number,
            "year": doc.year,
            "contact": self.contact_text(doc.id),
            "topics": self.index.topics.get(doc.id, ""),
        }

    def source(self, unit: Unit) -> str:
        """The 摘自《…》 line of a unit's document."""
        doc = self.k.documents[unit.document]
        return fill(self.t["source"], title=doc.title, number=doc.number, section=unit.section)

    # -- answers ----------------------------------------------------------------------------

    def header(self, unit: Unit) -> str:
        """【二（三）五是】标题: where in the notice the answer stands."""
        if unit.kind in ("section", "item"):
            return f"【{unit.section}{unit.label}】{unit.title}"
        return f"【{unit.section}】{unit.title}"

    def body(self, unit: Unit, analysis: Analysis, now: datetime, rows: Rows | None, lead: str = "") -> tuple[str, list[DeadlineInfo]]:
        """The answer's text under its header, and the deadlines it speaks of."""
        deadlines: list[DeadlineInfo] = []
        if unit.table is not None:
            body = self.table(unit, rows or Rows(list(range(len(unit.table.rows)))))
        elif unit.deadline is not None:
            d = unit.deadline
            today = self.today(now)
            body = "\n".join(
                [
                    quote(unit.text, QUOTE_LIMIT),
                    fill(self.t["deadline"], date=cn_date(d.date), countdown=self.countdown(d.date, today)),
                ]
            )
            deadlines.append(self.deadline_info(d, today))
            contact = self.contact_text(unit.document)
            if contact:
                body += "\n" + fill(self.t["contact"], contact=contact)
        elif unit.contact is not None:
            body = quote(unit.text, QUOTE_LIMIT)
            if unit.contact.office and unit.contact.office not in unit.text:
                body += f"\n{unit.contact.office}"
        else:
            body = self.relevant(unit, analysis)
        return (f"{lead}\n{body}" if lead else body), deadlines

    def unit_reply(
        self,
        unit: Unit,
        score: float,
        analysis: Analysis,
        now: datetime,
        suggestions: list[str],
        rows: Rows | None = None,
        lead: str = "",
        several: bool = False,
    ) -> Reply:
        """A reply quoting one unit, with its header and source line."""
        doc = self.k.documents[unit.document]
        body, deadlines = self.body(unit, analysis, now, rows, lead)
        main = f"{self.header(unit)}\n{body}"
        if len(main) > MAIN_LIMIT:
            main = main[: MAIN_LIMIT - 1] + "…"
        text = f"{main}\n{self.source(unit)}"
        if several:
            text = fill(self.t.get("which_document", "（{year}年通知）"), year=doc.year, title=doc.short_title or doc.title) + "\n" + text
        return Reply(
            text=text,
            intent=unit.intent,
            sources=[Source(unit.id, f"{doc.number} {unit.section} {unit.title}".strip(), score)],
            deadlines=deadlines,
            suggestions=suggestions,
        )

    def relevant(self, unit: Unit, analysis: Analysis) -> str:
        """Quote the sentences that answer the question, not the whole section."""
        index = self.index
        text = unit.text
        if len(text) > QUOTE_LIMIT:
            sentences = [s for s in SENTENCE_END.split(text) if s.strip()]
            scored = sorted(((index.overlap(analysis.normalized, s), i) for i, s in enumerate(sentences)), reverse=True)
            keep: set[int] = set()
            used = 0
            for _, i in scored:
                if used + len(sentences[i]) > QUOTE_LIMIT and keep:
                    continue
                keep.add(i)
                used += len(sentences[i])
            parts = []
            for i in range(len(sentences)):
                if i in keep:
                    parts.append(sentences[i])
                elif parts and parts[-1] != "……":
                    parts.append("……")
            if min(keep) > 0:
                parts.insert(0, "……")
            text = quote("".join(parts), QUOTE_LIMIT)
        else:
            text = quote(text, QUOTE_LIMIT)
        children = [self.k.units[c] for c in unit.children]
        if children:
            # each part as fully as the room left allows: a list question wants what the parts say
            room = max(40, min(120, (MAIN_LIMIT - 80 - len(text)) // len(children) - 2))
            labels = "；".join(
                _clause(c.text, room) if c.text.startswith(c.label) else f"{c.label}：{_clause(c.text, room)}" for c in children
            )
            more = fill(self.t["more_items"], items=labels)
            if len(text) + len(more) < MAIN_LIMIT - 40:
                text += "\n" + more
        return text

    def table(self, unit: Unit, rows: Rows) -> str:
        """The chosen rows, or a plain 'none' with where the rows are."""
        table = unit.table
        assert table is not None
        t = self.t
        if not rows.indexes:
            all_cities = "、".join(dict.fromkeys(c for r in table.rows for c in split_cell(table.cell(r, "city"))))
            text = fill(t["no_rows"], filter=rows.label or "符合条件的", title=unit.title, count=len(table.rows))
            if all_cities:
                text += fill(t["rows_cities"], cities=all_cities, count=len(table.rows))
            return text
        lines = [] if rows.by_name else [fill(t["rows_header"], filter=rows.label or "全部", title=unit.title, count=len(rows.indexes))]
        number_col = table.roles.get("number")
        for i in rows.indexes:
            row = table.rows[i]
            cells = "；".join(f"{col}：{val}" for col, val in row.values.items() if col != number_col and val)
            lines.append(fill(t["row"], number=row.values.get(number_col, i + 1) if number_col else i + 1, cells=cells))
        return "\n".join(lines)

    # -- not answering ------------------------------------------------------------------------

    def fallback(
        self,
        suggestions: list[str],
        *,
        empty: bool = False,
        top: tuple[Target, float] | None = None,
        other_year: bool = False,
    ) -> Reply:
        """'I don't know' in the knowledge's words, naming what can be asked instead."""
        values = self.values()
        years = "、".join(str(y) for y in sorted({d.year for d in self.k.documents.values()}))
        text = fill(self.t["empty"] if empty else self.t["fallback"], **values)
        if other_year:
            text = fill(self.t.get("other_year", "目前只收录了{years}年的通知。"), years=years, **values) + "\n" + text
        sources = []
        if top and top[0].is_unit:
            unit = self.k.units[top[0].name]
            sources.append(Source(unit.id, unit.title, top[1]))
        return Reply(
            text=text,
            intent="empty" if empty else "fallback",
            fallback=True,
            sources=sources,
            suggestions=suggestions[:MAX_SUGGESTIONS],
        )

    def not_stated(self, unit: Unit | None, subject: str, what: str, suggestions: list[str]) -> Reply:
        """The notice names the subject but gives no such fact for it: say so, give no other party's fact."""
        doc = self.k.documents[unit.document] if unit else self.k.latest_document()
        template = self.t.get("not_stated", "《{title}》中没有写明{subject}的{what}，我不能替您猜测。")
        text = fill(template, title=doc.title, number=doc.number, subject=subject or "这方面", what=what)
        return Reply(
            text=text,
            intent="not_stated",
            fallback=True,
            sources=[Source(unit.id, unit.title, 0.0)] if unit else [],
            suggestions=suggestions[:MAX_SUGGESTIONS],
        )

    def clarify(self, options: list[tuple[str, str]]) -> Reply:
        """'您是想问：A，还是 B？' with each reading as a tappable question."""
        labels = [label for label, _ in options[:3]]
        template = self.t.get("clarify", "您是想问：{options}？")
        text = fill(template, options="，还是".join(labels))
        return Reply(text=text, intent="clarify", fallback=True, suggestions=[q for _, q in options[:3]])

    def combine(self, replies: list[Reply]) -> Reply:
        """Answers to several questions of one message, in order, in one reply within the length limit."""
        answered = [r for r in replies if not r.fallback] or replies
        sources = [s for r in replies for s in r.sources]
        seen: set[str] = set()
        blocks: list[str] = []
        source_lines: list[str] = []
        for reply in replies:
            lines = reply.text.split("\n")
            tail = [line for line in lines if line.startswith("——")]
            head = [line for line in lines if not line.startswith("——")]
            block = "\n".join(head).strip()
            if len(block) > PART_LIMIT:
                block = block[: PART_LIMIT - 1] + "…"
            if block and block not in seen:
                seen.add(block)
                blocks.append(block)
            for line in tail:
                if line not in source_lines:
                    source_lines.append(line)
        text = "\n\n".join(blocks) + ("\n" + "\n".join(source_lines) if source_lines else "")
        return Reply(
            text=text,
            intent=answered[0].intent,
            fallback=all(r.fallback for r in replies),
            sources=sources,
            deadlines=[d for r in replies for d in r.deadlines],
            suggestions=replies[-1].suggestions,
            action=next((r.action for r in replies if r.action), None),
        )
