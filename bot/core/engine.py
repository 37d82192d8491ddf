"""answer(): from a question to a quoted, sourced reply, or a plain "I don't know"."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.core.entities import Entity, split_cell
from bot.core.index import SENTENCE_END, Analysis, Index, IndexCacheLike, fold_number
from bot.core.model import (
    DEFAULT_TZ,
    Deadline,
    DeadlineInfo,
    Document,
    Incoming,
    Knowledge,
    Reply,
    Source,
    Target,
    Unit,
)
from bot.core.text import PLACEHOLDERS, cn_date, cn_numeral

THRESHOLD = 0.34  # below this the best match is a guess: say so instead
ACTION_THRESHOLD = 0.6  # subscribing someone has side effects: demand a clearer match
OUT_OF_SCOPE_MARGIN = 0.06  # a real answer must beat the closest out-of-scope example by this much
MAIN_LIMIT = 600  # characters of the main answer; suggestions and source come on top
QUOTE_LIMIT = 320
MAX_SUGGESTIONS = 3
ENTITY_BONUS = 0.1  # naming a project or company of a table is strong evidence the table is meant
OLDER_PENALTY = 0.04  # per newer document: an unqualified question is about the latest campaign
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
# 今年 is soft (answered from the latest notice when there is none for this year); the others are not.
_RELATIVE_YEARS = {"去年": -1, "上年": -1, "前年": -2, "明年": 1, "下年": 1, "后年": 2, "下一届": 1, "下届": 1}
_THIS_YEAR = ("今年", "本年", "今届", "本届")
_ROW_NUMBER = re.compile(r"(?:序号|编号)\s*([0-9]+|[一二两三四五六七八九十]+)|第\s*([0-9]+|[一二两三四五六七八九十]+)\s*(?:个|项|号)")
DRILL_MIN = 0.45  # a sub-item whose text covers this much of the question is answered instead of its section
DRILL_GAP = 0.15


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, **values: object) -> str:
    """Format a staff-written template; an unknown placeholder renders empty instead of crashing."""
    try:
        return string.Formatter().vformat(template, (), _Blank(values))
    except (ValueError, IndexError, AttributeError, KeyError, TypeError):
        return template


@dataclass(frozen=True)
class Candidate:
    """One retrieval hit as staff see it in a hit test."""

    target: str  # unit:ID or intent:NAME
    title: str
    score: float


@dataclass
class Explanation:
    """A hit test: the normalised question, the entities found, the top candidates and the decision."""

    normalized: str
    entities: list[tuple[str, str]]  # (role, name)
    candidates: list[Candidate]
    reason: str
    reply: Reply

    @property
    def decision(self) -> str:
        """answered | declined | intent."""
        if self.reply.fallback:
            return "declined"
        return "answered" if self.reply.sources else "intent"


class Engine:
    """Answers questions from one knowledge snapshot; `swap` replaces it atomically."""

    def __init__(self, knowledge: Knowledge, zone: ZoneInfo | None = None, cache: IndexCacheLike | None = None) -> None:
        """Index `knowledge` (from `cache` when it holds this version); dates count in `zone`."""
        self.zone = zone or ZoneInfo(DEFAULT_TZ)
        self.cache = cache
        self._index = Index(knowledge, cache)
        self._suggestion_memo: tuple[Knowledge, dict[str, str]] | None = None

    # -- snapshot -----------------------------------------------------------------------------

    @property
    def knowledge(self) -> Knowledge:
        """The snapshot answers come from right now."""
        return self._index.knowledge

    @property
    def index(self) -> Index:
        """The retrieval index of the current snapshot."""
        return self._index

    @property
    def version(self) -> str:
        """Content hash of the loaded YAML, shown by /healthz and after a reload."""
        return self._index.knowledge.version

    def swap(self, knowledge: Knowledge) -> None:
        """Build the new index fully, then replace the old one in one assignment."""
        self._index = Index(knowledge, self.cache)

    def counts(self) -> dict[str, int]:
        """Sizes of the snapshot, for health checks and staff."""
        k = self.knowledge
        rows = sum(len(u.table.rows) for u in k.units.values() if u.table)
        return {
            "documents": len(k.documents),
            "units": len(k.units),
            "deadlines": len(k.deadlines()),
            "projects": rows,
        }

    # -- small helpers channels use -----------------------------------------------------------

    def menu_question(self, key: str) -> str | None:
        """The question behind a WeChat menu key or a Telegram command."""
        return self.knowledge.menu.get(key)

    def intent_reply(self, name: str) -> str:
        """A staff-written reply (welcome, help, non_text …) with its placeholders filled."""
        index = self._index
        intent = index.knowledge.intents.get(name)
        return fill(intent.reply, **self._context(index)) if intent else ""

    def deadlines(self, now: datetime) -> list[DeadlineInfo]:
        """Every deadline with its countdown, earliest first."""
        today = self._today(now)
        index = self._index
        return [self._deadline_info(index, d, today) for d in index.knowledge.deadlines()]

    def countdown(self, day: date, now: datetime) -> str:
        """还有N天 / 今天截止 / 已于…截止 for a deadline day, as the templates word it."""
        return self._countdown(self._index, day, self._today(now))

    def render_reminder(self, deadline: Deadline, now: datetime) -> str:
        """The text of a deadline reminder: what, when, how, to whom, and the contact."""
        index = self._index
        t = index.knowledge.templates
        today = self._today(now)
        lines = [
            fill(t.get("reminder", "【截止提醒】{what}"), what=deadline.what),
            fill(t["deadline"], date=cn_date(deadline.date), countdown=self._countdown(index, deadline.date, today)),
        ]
        if deadline.how or deadline.to:
            lines.append(fill(t.get("reminder_how", "{how}报送{to}"), how=deadline.how, to=deadline.to))
        contact = self._contact_text(index, deadline.document)
        if contact:
            lines.append(fill(t["contact"], contact=contact))
        doc = index.knowledge.documents.get(deadline.document)
        if doc:
            lines.append(fill(t["source"], title=doc.title, number=doc.number, section=""))
        return "\n".join(line for line in lines if line)

    def reminder_values(self, deadline: Deadline, now: datetime) -> dict[str, str]:
        """A reminder's facts one by one, for platforms that lay them out themselves (WeChat templates)."""
        index = self._index
        doc, countdown = index.knowledge.documents.get(deadline.document), self._countdown(index, deadline.date, self._today(now))
        contact = self._contact_text(index, deadline.document)
        return {"what": deadline.what, "date": cn_date(deadline.date), "countdown": countdown, "to": deadline.to,
                "contact": contact, "title": doc.title if doc else ""}

    # -- answering ----------------------------------------------------------------------------

    def answer(self, incoming: Incoming, now: datetime) -> Reply:
        """The whole pipeline for one message; never raises on odd text."""
        index = self._index  # one snapshot for the whole answer, even if a reload swaps meanwhile
        k = index.knowledge
        text = incoming.text[:2000]
        analysis = index.analyze(text)
        if not analysis.normalized:
            return self._fallback(index, analysis, now, empty=True)
        chosen = self._documents_for(index, analysis.normalized, now)
        if chosen is None:
            return self._fallback(index, analysis, now, other_year=True)
        if chosen[1] and len(chosen[0]) == 1:
            analysis = _without_number(analysis, chosen[0][0])
        table = self._entity_only(index, analysis, chosen[0])
        if table is not None:  # a bare name (中建八局, 深圳, 锦龙苑): show its rows
            return self._compose(index, table, 1.0, analysis, now, [], several=len(k.documents) > 1)
        results = index.search(analysis)
        ranked = self._resolve(index, results, chosen[0], analysis.entities)
        if not ranked:
            return self._fallback(index, analysis, now)
        target, score = ranked[0]
        outside = max((s for t, s in ranked if self._is_out_of_scope(k, t)), default=0.0)
        if self._is_out_of_scope(k, target) or score < THRESHOLD or score - outside < OUT_OF_SCOPE_MARGIN:
            return self._fallback(index, analysis, now, top=(target, score))
        if not target.is_unit and k.intents[target.name].action and score < ACTION_THRESHOLD:
            return self._fallback(index, analysis, now, top=(target, score))
        if not target.is_unit:
            intent = k.intents[target.name]
            return Reply(
                text=fill(intent.reply, **self._context(index)),
                intent=intent.name,
                action=intent.action,
                suggestions=self._suggestions(k, ranked, None),
            )
        unit = self._drill_down(index, k.units[target.name], analysis)
        return self._compose(index, unit, score, analysis, now, ranked, several=len(k.documents) > 1)

    def explain(self, incoming: Incoming, now: datetime) -> Explanation:
        """What the engine saw and why it answered as it did: for staff testing a question."""
        index = self._index
        k = index.knowledge
        analysis = index.analyze(incoming.text[:2000])
        reply = self.answer(incoming, now)
        chosen = self._documents_for(index, analysis.normalized, now) if analysis.normalized else None
        ranked = self._resolve(index, index.search(analysis), chosen[0], analysis.entities) if chosen else []
        candidates = []
        for target, score in ranked[:5]:
            title = k.units[target.name].title if target.is_unit else f"意图：{target.name}"
            candidates.append(Candidate(str(target), title, round(score, 4)))
        if not analysis.normalized:
            reason = "问题为空"
        elif chosen is None:
            reason = "问题提到的年份没有收录通知"
        elif reply.fallback and ranked and self._is_out_of_scope(k, ranked[0][0]):
            reason = "与“超出范围”的示例问题最接近"
        elif reply.fallback and ranked and ranked[0][1] < THRESHOLD:
            reason = f"最高得分 {ranked[0][1]:.2f} 低于阈值 {THRESHOLD}"
        elif reply.fallback:
            reason = "与超出范围的示例太接近，或没有足够把握"
        elif reply.sources:
            reason = f"由“{reply.sources[0].title}”回答（得分 {reply.sources[0].score:.2f}）"
        else:
            reason = f"对话意图：{reply.intent}"
        entities = [(e.role, e.canonical) for e in analysis.entities]
        return Explanation(analysis.normalized, entities, candidates, reason, reply)

    def _entity_only(self, index: Index, analysis: Analysis, docs: list[Document]) -> Unit | None:
        """The table to answer from when a question is nothing but a city, project or company name."""
        if not analysis.entities:
            return None
        rest = analysis.delexicalized
        for ph in PLACEHOLDERS.values():
            rest = rest.replace(ph, "")
        for word in index.knowledge.lexicon.stopwords:
            rest = rest.replace(word, "")
        if rest.strip():
            return None
        k = index.knowledge
        for e in analysis.entities:
            if e.unit and e.unit in k.units and k.units[e.unit].document in {d.id for d in docs}:
                return k.units[e.unit]
        roles = {e.role for e in analysis.entities}
        for doc in docs:
            for unit in index.tables_by_document.get(doc.id, ()):
                if roles & ({"city", "org", "project"} & _table_roles(unit)):
                    return unit
        return None

    def _drill_down(self, index: Index, unit: Unit, analysis: Analysis) -> Unit:
        """A section whose one sub-item clearly holds what was asked answers with that sub-item."""
        if not unit.children:
            return unit
        k = index.knowledge
        scored = sorted(((index.overlap(analysis.normalized, k.units[c].text), c) for c in unit.children), reverse=True)
        best, child = scored[0]
        second = scored[1][0] if len(scored) > 1 else 0.0
        if best >= DRILL_MIN and best - second >= DRILL_GAP and best > index.overlap(analysis.normalized, unit.text):
            return k.units[child]
        return unit

    def _is_out_of_scope(self, k: Knowledge, target: Target) -> bool:
        return not target.is_unit and k.intents[target.name].fallback

    def _documents_for(self, index: Index, normalized: str, now: datetime) -> tuple[list[Document], bool] | None:
        """The documents a question may be about, preferred first, and whether it named one.

        Named by number or year: only that one. Otherwise the documents of the campaign it names
        (质量月 …), or all of them, newest first. None: it names a year no notice covers, where
        answering from another year would mislead.
        """
        docs = index.documents_newest_first
        unspaced = normalized.replace(" ", "")
        for doc, _, compact, serial in index.document_numbers:
            if compact in unspaced or (serial is not None and serial.search(normalized)):
                return [doc], True
        this_year = self._today(now).year
        stripped = normalized  # a cited number's 〔2021〕 is not a year asked about
        for _, spaced, _, _ in index.document_numbers:
            stripped = stripped.replace(spaced, " ")
        years = {int(y) for y in _YEAR.findall(stripped)}
        years.update(this_year + delta for word, delta in _RELATIVE_YEARS.items() if word in normalized)
        if any(word in normalized for word in _THIS_YEAR) and any(d.year == this_year for d in docs):
            years.add(this_year)
        if years:
            named = [d for d in docs if d.year in years]
            return (named, True) if named else None
        campaign = [d for d in docs if d.campaign and d.campaign in normalized]
        return (campaign or docs), False

    def _resolve(
        self,
        index: Index,
        results: list[tuple[Target, float]],
        docs: list[Document],
        entities: list[Entity],
    ) -> list[tuple[Target, float]]:
        """Map generic intents to a preferred document's unit; older documents lose a little per step."""
        k = index.knowledge
        rank = {d.id: i for i, d in enumerate(docs)}
        named = {e.unit for e in entities if e.role in ("project", "org") and e.unit}
        out: dict[Target, float] = {}
        for target, score in results:
            unit = None
            if not target.is_unit:
                name = target.name
                unit = next((u for d in docs if (u := index.unit_for_intent.get((d.id, name)))), None)
                if unit is None and name in ("deadline", "contact", "projects"):
                    continue
                target = Target.unit(unit.id) if unit else target
            else:
                unit = k.units[target.name]
            if unit is not None:
                if unit.document not in rank:
                    continue
                score -= OLDER_PENALTY * rank[unit.document]
                if unit.id in named:
                    score += ENTITY_BONUS
            if score > out.get(target, 0.0):
                out[target] = score
        return sorted(out.items(), key=lambda kv: -kv[1])

    # -- composing ----------------------------------------------------------------------------

    def _compose(
        self,
        index: Index,
        unit: Unit,
        score: float,
        analysis: Analysis,
        now: datetime,
        ranked: list[tuple[Target, float]],
        several: bool,
    ) -> Reply:
        k = index.knowledge
        t = k.templates
        doc = k.documents[unit.document]
        today = self._today(now)
        deadlines: list[DeadlineInfo] = []
        header = f"【{unit.section}{unit.label}】{unit.title}" if unit.kind in ("section", "item") else f"【{unit.section}】{unit.title}"
        if unit.table is not None:
            body = self._table_answer(unit, analysis.entities, analysis.normalized, t)
        elif unit.deadline is not None:
            d = unit.deadline
            body = "\n".join(
                [
                    _quote(unit.text, QUOTE_LIMIT),
                    fill(t["deadline"], date=cn_date(d.date), countdown=self._countdown(index, d.date, today)),
                ]
            )
            deadlines.append(self._deadline_info(index, d, today))
            contact = self._contact_text(index, unit.document)
            if contact:
                body += "\n" + fill(t["contact"], contact=contact)
        elif unit.contact is not None:
            c = unit.contact
            body = _quote(unit.text, QUOTE_LIMIT)
            if c.office and c.office not in unit.text:
                body += f"\n{c.office}"
        else:
            body = self._quote_relevant(index, unit, analysis)
        source = fill(t["source"], title=doc.title, number=doc.number, section=unit.section)
        main = f"{header}\n{body}"
        if len(main) > MAIN_LIMIT:
            main = main[: MAIN_LIMIT - 1] + "…"
        text = f"{main}\n{source}"
        if several:
            text = fill(t.get("which_document", "（{year}年通知）"), year=doc.year, title=doc.short_title or doc.title) + "\n" + text
        return Reply(
            text=text,
            intent=unit.intent,
            sources=[Source(unit.id, f"{doc.number} {unit.section} {unit.title}", score)],
            deadlines=deadlines,
            suggestions=self._suggestions(k, ranked, unit),
        )

    def _quote_relevant(self, index: Index, unit: Unit, analysis: Analysis) -> str:
        """Quote the sentences that answer the question, not the whole section."""
        k = index.knowledge
        text = unit.text
        if len(text) > QUOTE_LIMIT:
            sentences = [s for s in SENTENCE_END.split(text) if s.strip()]
            scored = sorted(
                ((index.overlap(analysis.normalized, s), i) for i, s in enumerate(sentences)), reverse=True
            )
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
            text = _quote("".join(parts), QUOTE_LIMIT)
        else:
            text = _quote(text, QUOTE_LIMIT)
        children = [k.units[c] for c in unit.children]
        if children:
            labels = "；".join(_clause(c.text) if c.text.startswith(c.label) else f"{c.label}：{_clause(c.text)}" for c in children)
            more = fill(k.templates["more_items"], items=labels)
            if len(text) + len(more) < MAIN_LIMIT - 60:
                text += "\n" + more
        return text

    def _table_answer(self, unit: Unit, entities: list[Entity], normalized: str, t: dict[str, str]) -> str:
        table = unit.table
        assert table is not None
        rows = list(table.rows)
        projects = {e.canonical for e in entities if e.role == "project" and "name" in table.roles}
        orgs = {e.canonical for e in entities if e.role == "org" and "org" in table.roles}
        cities = {e.canonical for e in entities if e.role == "city" and "city" in table.roles}
        label = ""
        match = _ROW_NUMBER.search(normalized)
        wanted_no = cn_numeral(match.group(1) or match.group(2)) if match else None
        if projects:
            rows = [r for r in rows if table.cell(r, "name") in projects]
        elif wanted_no is not None and not (orgs or cities) and "number" in table.roles:
            rows = [r for r in rows if table.cell(r, "number") == str(wanted_no)]
            label = f"序号{wanted_no}"
        else:
            if orgs:
                rows = [r for r in rows if table.cell(r, "org") in orgs]
                label = "、".join(sorted(orgs))
            if cities:
                rows = [r for r in rows if cities & set(split_cell(table.cell(r, "city")))]
                label = "、".join(sorted(cities)) + (f"（{label}）" if label else "")
        if not rows:
            all_cities = "、".join(dict.fromkeys(c for r in table.rows for c in split_cell(table.cell(r, "city"))))
            text = fill(t["no_rows"], filter=label or "符合条件的", title=unit.title, count=len(table.rows))
            if all_cities:
                text += fill(t["rows_cities"], cities=all_cities, count=len(table.rows))
            return text
        lines = [] if projects else [fill(t["rows_header"], filter=label or "全部", title=unit.title, count=len(rows))]
        number_col = table.roles.get("number")
        for i, row in enumerate(rows, 1):
            cells = "；".join(f"{col}：{val}" for col, val in row.values.items() if col != number_col and val)
            lines.append(fill(t["row"], number=row.values.get(number_col, i) if number_col else i, cells=cells))
        return "\n".join(lines)

    def _suggestions(self, k: Knowledge, ranked: list[tuple[Target, float]], unit: Unit | None) -> list[str]:
        out: list[str] = []
        seen = {unit.id} if unit else set()
        if unit and unit.parent:
            seen.add(unit.parent)
        for target, score in ranked[1:]:
            if not target.is_unit or score < 0.12:
                continue
            other = k.units[target.name]
            if other.id in seen:
                continue
            seen.add(other.id)
            q = next((q for q in other.questions if "{" not in q), None)
            if q:
                out.append(q)
            if len(out) >= MAX_SUGGESTIONS - 1:
                break
        answered_by = self._suggestion_units(k)
        for q in k.suggestions:
            if len(out) >= MAX_SUGGESTIONS:
                break
            if q not in out and (unit is None or answered_by.get(q) not in seen):
                out.append(q)
        return out[:MAX_SUGGESTIONS]

    def _suggestion_units(self, k: Knowledge) -> dict[str, str]:
        """Which unit answers each standing suggestion, worked out once per snapshot.

        So the bot never suggests, right after an answer, a question that gives that same answer.
        """
        memo = self._suggestion_memo
        if memo is not None and memo[0] is k:
            return memo[1]
        index = self._index
        if index.knowledge is not k:  # swapped mid-answer: skip the nicety rather than mix snapshots
            return {}
        docs = sorted(k.documents.values(), key=lambda d: (d.year, d.date), reverse=True)
        found: dict[str, str] = {}
        for q in k.suggestions:
            analysis = index.analyze(q)
            ranked = self._resolve(index, index.search(analysis), docs, analysis.entities)
            if ranked and ranked[0][0].is_unit:
                found[q] = ranked[0][0].name
        self._suggestion_memo = (k, found)
        return found

    def _fallback(
        self,
        index: Index,
        analysis: Analysis,
        now: datetime,
        empty: bool = False,
        top: tuple[Target, float] | None = None,
        other_year: bool = False,
    ) -> Reply:
        k = index.knowledge
        t = k.templates
        context = self._context(index)
        years = "、".join(str(y) for y in sorted({d.year for d in k.documents.values()}))
        text = fill(t["empty"] if empty else t["fallback"], **context)
        if other_year:
            text = fill(t.get("other_year", "目前只收录了{years}年的通知。"), years=years, **context) + "\n" + text
        sources = []
        if top and top[0].is_unit:
            unit = k.units[top[0].name]
            sources.append(Source(unit.id, unit.title, top[1]))
        return Reply(
            text=text,
            intent="empty" if empty else "fallback",
            fallback=True,
            sources=sources,
            suggestions=k.suggestions[:MAX_SUGGESTIONS],
        )

    # -- facts ----------------------------------------------------------------------------------

    def _context(self, index: Index) -> dict[str, object]:
        doc = index.knowledge.latest_document()
        return {
            "campaign": doc.campaign or doc.short_title,
            "title": doc.title,
            "number": doc.number,
            "year": doc.year,
            "contact": self._contact_text(index, doc.id),
        }

    def _contact_text(self, index: Index, document: str) -> str:
        unit = index.contact_unit.get(document)
        return fill(index.knowledge.templates["contact_line"], **vars(unit.contact)) if unit and unit.contact else ""

    def _today(self, now: datetime) -> date:
        if now.tzinfo is None:
            now = now.replace(tzinfo=self.zone)
        return now.astimezone(self.zone).date()

    def _countdown(self, index: Index, day: date, today: date) -> str:
        t = index.knowledge.templates
        days = (day - today).days
        if days > 0:
            return fill(t["countdown_future"], days=days, date=cn_date(day))
        if days == 0:
            return fill(t["countdown_today"], date=cn_date(day))
        return fill(t["countdown_past"], days=-days, date=cn_date(day))

    def _deadline_info(self, index: Index, d: Deadline, today: date) -> DeadlineInfo:
        doc = index.knowledge.documents.get(d.document)
        return DeadlineInfo(d.id, d.date, (d.date - today).days, d.what, doc.number if doc else "")


def _quote(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{text}”"


def _clause(text: str, limit: int = 40) -> str:
    first = re.split(r"[，。；]", text, maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _table_roles(unit: Unit) -> set[str]:
    roles = set(unit.table.roles) if unit.table else set()
    return {"project" if r == "name" else r for r in roles}


def _without_number(analysis: Analysis, doc: Document) -> Analysis:
    """Once a cited number has picked the document, it should not also steer what is asked."""
    text = analysis.delexicalized
    number = fold_number(doc.number).lower()
    serial = re.search(r"(\d+)号", number)
    for form in (number, f"{serial.group(1)}号文" if serial else "", f"{serial.group(1)}号" if serial else ""):
        if form and form in text:
            rest = text.replace(form, " ").strip()
            if len(rest) >= 2:
                return Analysis(analysis.raw, analysis.normalized, rest, analysis.entities)
    return analysis
