"""Deciding how to answer one question: a pointer, a follow-up, or retrieval checked against what units hold.

A question is, in turn: a pointer into the notice's numbering (第五条, 二（三）), a follow-up of the
previous turn (那深圳呢, 他的邮箱呢), or a question of its own, matched by retrieval and then checked:
the unit that answers must hold the kind of fact asked, for the party named, or the bot says the
notice does not say.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.core.compose import Composer, Rows, fill
from bot.core.facts import ENDING, same_party
from bot.core.followup import FollowUps
from bot.core.index import Analysis, Index, fold_number
from bot.core.model import Context, Document, Knowledge, Reply, Target, Unit
from bot.core.question import Message, Part, QuestionReader, is_function_word
from bot.core.rank import (
    documents_for,
    mentions_date,
    related_questions,
    resolve,
    standing_suggestions,
)
from bot.core.rows import row_by_number, select_rows, table_for
from bot.core.structure import read_pointer
from bot.core.text import PLACEHOLDERS

THRESHOLD = 0.34  # below this the best match is a guess: say so instead
ACTION_THRESHOLD = 0.6  # subscribing someone has side effects: demand a clearer match
OUT_OF_SCOPE_MARGIN = 0.06  # a real answer must beat the closest out-of-scope example by this much
ALTERNATIVE_GAP = 0.35  # ... and is at most this far below the top
COUNTED_MIN = 0.12  # "几张" asked of a part that gives a number and uses every word asked: the words decide
ALTERNATIVE_MIN = 0.2  # a lower-ranked unit that holds the kind asked may answer from this score
COVER_WEIGHT = 0.12  # the best candidates are re-ranked by how many of the question's words they use
COVER_DEPTH = 6
FOREIGN_THRESHOLD = 0.5  # the score a question needs when most of its words are not in the notice
MAX_INPUT = 500  # characters of a message that are read: longer input is cut before the costly steps
MAX_PARTS = 3
DRILL_MIN = 0.45  # a sub-item whose text covers this much of the question is answered instead of its section
DRILL_GAP = 0.15
_DOCUMENT_WORDS = frozenset("通知 文件 文 发文 这份 份 省里 省厅 厅里 里面 讲 说 提到 写 要求 规定 有关 相关 方面".split())
# Kinds of fact that belong to some event or thing the question names (初赛几时, 培训费多少): the part
# that answers must be about that subject. A phone or a deadline's countdown belongs to the notice.
SUBJECT_KINDS = frozenset({"date", "time_of_day", "venue", "amount", "procedure", "condition", "length", "form", "size"})
PARTY_KINDS = frozenset({"phone", "fax", "email", "wechat", "website", "address", "position", "person"})
_POINTER_WORDS = frozenset(
    "是什么 讲什么 说什么 什么 内容 讲 说 写 具体 详细 的 是 呢 吗 啥 哪些 里 里面 中 项 条 点 谁 有 通知 正文 一共 总共 "
    "主要 部分 大 附件 项目 观摩 几 个 写的 讲的 说的 具体内容".split()
)


class Turn:
    """Answering the parts of one message against one snapshot."""

    def __init__(self, index: Index, c: Composer, message: Message, now: datetime) -> None:
        """One message against one snapshot at one moment."""
        self.index = index
        self.c = c
        self.k = index.knowledge
        self.message = message
        self.now = now
        self.situation = index.entities(message.situation)[1] if message.situation else []
        self.follow = FollowUps(self)

    # -- one question -------------------------------------------------------------------------

    def part(self, part: Part, ctx: Context) -> tuple[Reply, Context]:
        """Pointer, follow-up or a question of its own, in that order."""
        index = self.index
        analysis = index.analyze_normalized(part.text, part.text)
        if not analysis.normalized:
            return self.c.fallback(standing_suggestions(self.index), empty=True), ctx
        chosen = documents_for(index, analysis.normalized, self.c.today(self.now))
        if chosen is None:
            reply = self.c.fallback(standing_suggestions(self.index), other_year=True)
            reply.reason = "问题提到的年份没有收录通知"
            return reply, ctx
        docs, named = chosen
        if named and len(docs) == 1:
            analysis = _without_number(analysis, docs[0])
        if not named and ctx.document and ctx.document in self.k.documents and any(d.id == ctx.document for d in docs):
            docs = [d for d in docs if d.id == ctx.document] + [d for d in docs if d.id != ctx.document]
        pointed = self.pointed(part, analysis, docs, ctx)
        if pointed is not None:
            return pointed
        if ctx and self.follow.leans(part, analysis):
            answered = self.follow.answer(part, analysis, docs, ctx)
            if answered is not None:
                return answered
        return self.standalone(part, analysis, docs)

    def pointed(self, part: Part, analysis: Analysis, docs: list[Document], ctx: Context) -> tuple[Reply, Context] | None:
        """第五条, 二（三）四, 第3个项目: the notice's own numbering, when the question is about little else."""
        index = self.index
        doc = docs[0]
        anchor = index.outline.anchor_in(doc.id, part.folded.replace(" ", ""))
        table_context = bool(ctx.rows) and ctx.unit in self.k.units and self.k.units[ctx.unit].table is not None
        pointer = read_pointer(part.folded, anchor, table_rows=table_context)
        if not pointer:
            return None
        rest = _without_pointer(part.folded, index)
        if pointer.row is not None:
            table = table_for(self.index, docs, ctx)
            if table is None or (rest and not (pointer.table or table_context) and len(rest) > 6):
                return None
            return self.rows_reply(table, row_by_number(table, pointer.row), analysis, part, reason="按序号找到附件表格中的行")
        about_little_else = all(w in _POINTER_WORDS or is_function_word(w) for w in index.segmenter.words(rest))
        if not pointer.path:
            if not pointer.anchor or not about_little_else:
                return None
        elif not about_little_else and not any(level for level, _ in pointer.path):
            return None  # "第一标段" is a name, not a pointer
        nodes = index.outline.resolve(doc.id, pointer, ctx.listing if not pointer.anchor else "")
        if not nodes:
            return None
        if len(nodes) > 1:
            options = []
            for node in nodes[:3]:
                unit = self.k.units[node.unit]
                options.append((f"{unit.section}{unit.label}“{unit.title[:14]}”", f"{unit.section}{unit.label}讲什么"))
            reply = self.c.clarify(options)
            reply.reason = "编号可以指几处，请用户选择"
            return reply, ctx
        unit = self.k.units[nodes[0].unit]
        return self.unit_reply(unit, 1.0, analysis, part, [], reason=f"按编号找到{unit.section}{unit.label}")

    def standalone(self, part: Part, analysis: Analysis, docs: list[Document]) -> tuple[Reply, Context]:
        """Retrieval, then the checks that keep the bot from answering with the nearest passage."""
        index, k = self.index, self.k
        table = self._entity_only(analysis, docs)
        if table is not None:
            return self.rows_reply(table, select_rows(table, analysis, self.situation), analysis, part, reason="问题只提到名称：列出表格中对应的行")
        ranked = resolve(index, index.search(analysis), docs, analysis.entities, analysis.normalized)
        content = self._content_words(part, analysis)
        ranked = self._covered(ranked, content)
        strict = tuple(a for a in part.asks if a in index.reader.asks and index.reader.asks[a].strict)
        unknown = [w for w in content if w not in index.known_words]
        foreign = len(unknown) >= 2 and len(unknown) * 5 >= len(content) * 2
        if foreign and (not ranked or ranked[0][1] < FOREIGN_THRESHOLD):
            # Much of what is asked appears nowhere in the notice: only a close match, or a kind of
            # fact the notice holds once (还有几天 → its deadline), may still answer.
            return self.route(part, analysis, docs, strict, ranked, f"问题里的“{'、'.join(unknown[:3])}”在通知中没有出现")
        if not ranked:
            return self.route(part, analysis, docs, strict, ranked, "没有相近的内容")
        if analysis.entities:  # "揭阳嘅项目叫咩名" is about a project, not about the bot's own name
            ranked = [(t, s) for t, s in ranked if t.is_unit or k.intents[t.name].fallback or k.intents[t.name].action] or ranked
        target, score = ranked[0]
        outside = max((s for t, s in ranked if _out_of_scope(k, t)), default=0.0)
        if _out_of_scope(k, target) or score < THRESHOLD or score - outside < OUT_OF_SCOPE_MARGIN:
            why = "与“超出范围”的示例问题最接近" if _out_of_scope(k, target) else f"最高得分 {score:.2f} 不足以回答"
            return self.route(part, analysis, docs, strict, ranked, why)
        if not target.is_unit:
            intent = k.intents[target.name]
            if intent.action and score < ACTION_THRESHOLD:  # "要唔要交钱" is not "不要提醒": a fact asked may still answer
                return self.route(part, analysis, docs, strict, ranked, f"像是“{intent.name}”，但把握不够")
            reply = Reply(
                text=fill(intent.reply, **self.c.values()),
                intent=intent.name,
                action=intent.action,
                suggestions=related_questions(index, ranked, None),
                reason=f"对话意图：{intent.name}（得分 {score:.2f}）",
            )
            return reply, (Context() if intent.action == "reset" else Context())
        return self.checked(part, analysis, k.units[target.name], score, ranked, strict)

    def checked(
        self,
        part: Part,
        analysis: Analysis,
        unit: Unit,
        score: float,
        ranked: list[tuple[Target, float]],
        strict: tuple[str, ...],
        alone: bool = False,
    ) -> tuple[Reply, Context]:
        """Answer with `unit` only if it holds the kind of fact asked, for the party asked about."""
        index, k = self.index, self.k
        facts = index.facts
        for target, _ in ranked[:5]:  # a document the notice only cites: its name, perhaps its date, never its content
            if not target.is_unit:
                continue
            own = index.titles.get(f"title:{k.units[target.name].document}", "")
            citation = facts.cited(target.name, analysis.normalized, own)
            if citation is None:
                continue
            wants = set(strict) | ({"content_of"} if "content_of" in part.asks else set())
            unknown = [w for w in wants if w not in citation.holds]
            if unknown:
                label = index.reader.asks[unknown[0]].label
                return self.not_stated(k.units[target.name], f"《{citation.title}》", label, ranked)
            break
        missing = [kind for kind in strict if kind not in facts.by_unit[unit.id].kinds]
        gap = 1.0 if alone else ALTERNATIVE_GAP  # one of several things asked: any candidate holding it
        if missing and len(strict) > 1 and _joined(part, index.reader) and self._holder(ranked, strict, score) is None:
            return self.each_kind(part, analysis, unit, score, ranked, strict)
        if missing:
            alternative = self._holder(ranked, strict, score, gap)
            if alternative is None:
                return self.not_stated(unit, self._subject(analysis, unit), index.reader.asks[missing[0]].label, ranked)
            unit, score = alternative
        if "date" in strict and facts.by_unit[unit.id].starts_only and ENDING.search(part.text):
            # "领证书截止到几时" beside "自3月6日起领取": the notice says when it starts, not when it ends
            return self.not_stated(unit, self._subject(analysis, unit), "截止日期", ranked)
        if set(strict) & PARTY_KINDS:
            holders = facts.by_unit[unit.id].holders
            named = facts.parties_in(analysis.normalized) + [e.canonical for e in analysis.entities if e.role == "org"]
            for party in named:
                if not any(same_party(party, h) for h in holders):
                    label = next(index.reader.asks[s].label for s in strict if s in PARTY_KINDS)
                    return self.not_stated(unit, party, label, ranked)
        if set(strict) & SUBJECT_KINDS and not analysis.entities:
            subject = self._about(part, analysis, unit, ranked, tuple(k for k in strict if k in SUBJECT_KINDS))
            if isinstance(subject, Unit):
                unit = subject
            elif subject is not None:
                return subject
        if "count" not in part.asks:  # "有几点": the list itself, not one of its parts
            unit = self._drill_down(unit, analysis)
        rows = select_rows(unit, analysis, self.situation) if unit.table is not None else None
        return self.unit_reply(unit, score, analysis, part, ranked, rows=rows, reason=f"由“{unit.title}”回答（得分 {score:.2f}）")

    def _about(
        self, part: Part, analysis: Analysis, unit: Unit, ranked: list[tuple[Target, float]], strict: tuple[str, ...]
    ) -> Unit | tuple[Reply, Context] | None:
        """The subject check: "初赛几时" is about the part that speaks of 初赛, not about whatever holds a date.

        Returns a better unit, a 'not stated' reply, or None to keep `unit`.
        """
        content = self._content_words(part, analysis)
        if not content:
            return None
        here = self._coverage(unit.id, content, halves=True)  # the best match gets the benefit of compounds
        facts = self.index.facts.by_unit
        best: tuple[float, Unit] | None = None
        speaks: tuple[float, Unit] | None = None
        for target, _ in ranked[:8]:
            if not target.is_unit or target.name == unit.id:
                continue
            cov = self._coverage(target.name, content)
            other = self.k.units[target.name]
            if all(k in facts[target.name].kinds for k in strict):
                if best is None or cov > best[0]:
                    best = (cov, other)
            elif speaks is None or cov > speaks[0]:
                speaks = (cov, other)
        if best is not None and best[0] - here >= 0.5:
            return best[1]  # another part holds the fact and is about what was asked
        if speaks is not None and speaks[0] >= 0.75 and speaks[0] - here >= 0.5 and (best is None or speaks[0] > best[0]):
            label = self.index.reader.asks[strict[0]].label  # "论坛什么时候开": the part about it gives no date
            return self.not_stated(speaks[1], "、".join(content[:2]), label, ranked)
        if here == 0.0:
            label = self.index.reader.asks[strict[0]].label
            if speaks is not None and speaks[0] >= 0.5:
                return self.not_stated(speaks[1], "、".join(content[:2]), label, ranked)
            return self.not_stated(unit, "、".join(content[:2]), label, ranked)
        return None

    def _coverage(self, unit_id: str, words: list[str], halves: bool = False) -> float:
        """Share of the question's words the unit's own texts use (a longer form of one of its words counts;
        with `halves`, a half of one of its compounds too)."""
        have = (self.index.unit_word_parts if halves else self.index.unit_words).get(unit_id, frozenset())
        hit = 0
        for w in words:  # 截止日 ⊃ 截止 counts; 质量 ⊂ 质量月 does not
            if w in have or any(w[i:j] in have for i in range(len(w) - 1) for j in range(i + 2, len(w) + 1)):
                hit += 1
        return hit / len(words)

    def each_kind(
        self, part: Part, analysis: Analysis, unit: Unit, score: float, ranked: list[tuple[Target, float]], strict: tuple[str, ...]
    ) -> tuple[Reply, Context]:
        """'文号和发文日期分别是什么': one question per kind of fact, each answered by the unit holding it."""
        replies: list[Reply] = []
        ctx = Context()
        for kind in strict:
            one = Part(part.text, part.folded, (kind,), False, part.subject)
            reply, ctx = self.checked(one, analysis, unit, score, ranked, (kind,), alone=True)
            replies.append(reply)
        return self.c.combine(replies), ctx

    def route(
        self, part: Part, analysis: Analysis, docs: list[Document], strict: tuple[str, ...], ranked: list[tuple[Target, float]], why: str
    ) -> tuple[Reply, Context]:
        """Retrieval was unsure; a question that only asks for a kind the newest notice holds once is still answered."""
        unit = self._only_holder(docs, strict, analysis, ranked, part) if strict else None
        if unit is None and analysis.entities:
            table = table_for(self.index, docs, None, analysis.entities)
            held = self.index.facts.by_unit[table.id].kinds if table is not None else set()
            near = table is not None and any(t.is_unit and t.name == table.id for t, _ in ranked[:5])
            covered = table is not None and self._coverage(table.id, self._content_words(part, analysis) or ["-"]) == 1.0
            if table is not None and all(s in held for s in strict) and (strict or (near and covered)):
                rows = select_rows(table, analysis, self.situation)
                if rows.indexes:
                    return self.rows_reply(table, rows, analysis, part, reason="问题提到表格中的名称：列出对应的行")
        if unit is None and "count" in part.asks:
            unit = self._counted(part, analysis, ranked)
        if unit is None:
            return self.decline(ranked, why), Context()
        return self.checked(part, analysis, unit, max(THRESHOLD, ranked[0][1] if ranked else 0.0), [(Target.unit(unit.id), 1.0), *ranked], strict)

    # -- replies --------------------------------------------------------------------------------

    def unit_reply(
        self,
        unit: Unit,
        score: float,
        analysis: Analysis,
        part: Part,
        ranked: list[tuple[Target, float]],
        rows: Rows | None = None,
        reason: str = "",
        question: str = "",
        carried: Context | None = None,
    ) -> tuple[Reply, Context]:
        """Compose from a unit and remember what the conversation now knows."""
        lead = self._lead(unit, part, rows)
        suggestions = related_questions(self.index, ranked, unit)
        reply = self.c.unit_reply(unit, score, analysis, self.now, suggestions, rows=rows, lead=lead, several=len(self.k.documents) > 1)
        reply.reason = reason
        return reply, self.remember(unit, analysis, rows, question, carried)

    def rows_reply(
        self,
        table: Unit,
        rows: Rows,
        analysis: Analysis,
        part: Part,
        reason: str,
        question: str = "",
        carried: Context | None = None,
    ) -> tuple[Reply, Context]:
        """Table rows as the answer."""
        return self.unit_reply(table, 1.0, analysis, part, [], rows=rows, reason=reason, question=question, carried=carried)

    def remember(
        self, unit: Unit, analysis: Analysis, rows: Rows | None, question: str = "", carried: Context | None = None
    ) -> Context:
        """The context after answering from `unit` (a follow-up keeps the names the conversation had)."""
        node = self.index.outline.by_unit.get(unit.id)
        listing = unit.id if node is not None and node.children else ""
        if not listing and node is not None and unit.parent:
            listing = unit.parent
        entities = tuple((e.role, e.canonical, analysis.normalized[e.start : e.end]) for e in analysis.entities)
        if not entities and carried is not None:
            entities = carried.entities
        return Context(
            document=unit.document,
            unit=unit.id,
            question=(question or analysis.normalized)[-200:],
            entities=entities,
            rows=tuple(rows.indexes) if rows is not None else (),
            listing=listing,
        )

    def decline(self, ranked: list[tuple[Target, float]], why: str) -> Reply:
        """The plain 'not found'."""
        top = ranked[0] if ranked else None
        reply = self.c.fallback(standing_suggestions(self.index), top=top)
        reply.reason = why
        return reply

    def not_stated(self, unit: Unit, subject: str, what: str, ranked: list[tuple[Target, float]]) -> tuple[Reply, Context]:
        """The notice names the subject but not this fact of it."""
        reply = self.c.not_stated(unit, subject, what, standing_suggestions(self.index))
        reply.reason = f"通知没有写明{subject}的{what}"
        return reply, Context()

    # -- helpers --------------------------------------------------------------------------------

    def _lead(self, unit: Unit, part: Part, rows: Rows | None) -> str:
        """A first line that answers the count or the position asked, before the quote."""
        t = self.c.t
        if "rank" in part.asks and rows is not None and unit.table is not None and len(rows.indexes) == 1:
            row = unit.table.rows[rows.indexes[0]]
            number = unit.table.cell(row, "number") or str(rows.indexes[0] + 1)
            name = unit.table.cell(row, "name") or unit.title
            return fill(t.get("rank_line", "{name}在《{title}》中排第{number}（序号{number}）。"), name=name, title=unit.title, number=number)
        node = self.index.outline.by_unit.get(unit.id)
        if "count" in part.asks and node is not None and node.children:
            return fill(t.get("count_line", "共{count}条："), count=len(node.children))
        return ""

    def _content_words(self, part: Part, analysis: Analysis) -> list[str]:
        """The words of two or more characters a question is about, names excluded."""
        names = [analysis.normalized[e.start : e.end] for e in analysis.entities]
        return [w for w in part.subject if len(w) >= 2 and not any(w in n or n in w for n in names)]

    def _covered(self, ranked: list[tuple[Target, float]], content: list[str]) -> list[tuple[Target, float]]:
        """Re-rank the best candidates by how many of the question's words their own texts use."""
        if not content or not ranked:
            return ranked
        unit_words = self.index.unit_words
        head = []
        for target, score in ranked[:COVER_DEPTH]:
            if target.is_unit:
                have = unit_words.get(target.name, frozenset())
                score += COVER_WEIGHT * sum(1 for w in content if w in have) / len(content)
            head.append((target, score))
        head.sort(key=lambda kv: -kv[1])
        return head + ranked[COVER_DEPTH:]

    def _holder(
        self, ranked: list[tuple[Target, float]], strict: tuple[str, ...], top: float, gap: float = ALTERNATIVE_GAP
    ) -> tuple[Unit, float] | None:
        """The best-ranked unit close enough to the top that holds every kind asked."""
        facts = self.index.facts.by_unit
        for target, score in ranked[1:8]:
            if not target.is_unit or score < ALTERNATIVE_MIN or score < top - gap:
                continue
            if all(kind in facts[target.name].kinds for kind in strict):
                return self.k.units[target.name], score
        return None

    def _counted(self, part: Part, analysis: Analysis, ranked: list[tuple[Target, float]]) -> Unit | None:
        """“每个区推荐几个项目”: among the best few candidates, the first that gives a number of something
        and uses every word the question is about; retrieval alone was unsure, the words decide."""
        content = self._content_words(part, analysis)
        if not content:
            return None
        facts = self.index.facts.by_unit
        for target, score in ranked[:3]:
            if target.is_unit and score >= COUNTED_MIN and "quantity" in facts[target.name].kinds:
                if self._coverage(target.name, content, halves=True) == 1.0:
                    return self.k.units[target.name]
        return None

    def _only_holder(
        self, docs: list[Document], strict: tuple[str, ...], analysis: Analysis, ranked: list[tuple[Target, float]], part: Part
    ) -> Unit | None:
        """The one unit of the preferred document holding the kind asked (countdown → its deadline).

        Several parts may hold it and speak of everything asked ("视频多长": a section and the deadline
        quoting the same sentence): then the one retrieval ranks first.
        """
        facts = self.index.facts.by_unit
        anywhere = set(strict) & {"countdown", "phone", "fax", "email", "recipient"}  # facts of deadlines and contacts
        content = self._content_words(part, analysis) if not anywhere else []
        for doc in docs:
            holders = [
                u for u in self.index.units_by_document.get(doc.id, [])
                if (u.kind in ("deadline", "contact") or not anywhere)
                and all(s in facts[u.id].kinds for s in strict)
            ]
            if content and len(holders) > 1:  # "要交钱吗": the one part of the notice that speaks of money, if it is about this
                covered = {u.id: self._coverage(u.id, content) for u in holders}
                holders = [u for u in holders if covered[u.id] > 0]
                full = [u for u in holders if covered[u.id] == 1.0]
                if len(holders) > 1 and full and "date" not in strict:  # a notice has many dates: never guess one
                    order = {t.name: i for i, (t, _) in enumerate(ranked) if t.is_unit}
                    best = min(full, key=lambda u: order.get(u.id, len(order)))
                    if best.id in order:
                        return best
            dated = [u for u in holders if u.deadline and mentions_date(analysis.normalized, u.deadline.date)]
            if len(dated) == 1:
                return dated[0]
            if len(holders) == 1:
                return holders[0]
            if holders and set(strict) <= {"phone", "fax", "email"} and all(u.contact is not None for u in holders):
                values = {tuple(getattr(u.contact, k) for k in strict) for u in holders}
                if len(values) == 1:  # one office line shared by every person named: whoever is asked, it is this
                    return holders[0]
            deadlines = [u for u in holders if u.deadline is not None]
            if set(strict) <= {"recipient", "countdown"} and len(deadlines) == 1:
                return deadlines[0]  # "电子版发去边度": where the one deadline's material goes, not a contact's office
            if holders:
                return None
        return None

    def _subject(self, analysis: Analysis, unit: Unit) -> str:
        """Who or what a question asks about, for a 'not stated' reply."""
        for e in analysis.entities:
            if e.role in ("project", "org"):
                return e.canonical
        parties = self.index.facts.parties_in(analysis.normalized)
        if parties:
            return parties[0]
        if unit.contact is not None and unit.contact.name and unit.contact.name in analysis.normalized:
            return unit.contact.name
        return unit.title

    def _entity_only(self, analysis: Analysis, docs: list[Document]) -> Unit | None:
        """The table to answer from when a question is nothing but a city, project or company name."""
        if not analysis.entities:
            return None
        rest = analysis.delexicalized
        for ph in PLACEHOLDERS.values():
            rest = rest.replace(ph, "")
        for word in self.k.lexicon.stopwords:
            rest = rest.replace(word, "")
        if rest.strip():
            return None
        return table_for(self.index, docs, None, analysis.entities)

    def _drill_down(self, unit: Unit, analysis: Analysis) -> Unit:
        """A section whose one numbered part clearly holds what was asked answers with that part."""
        index, k = self.index, self.k
        node = index.outline.by_unit.get(unit.id)
        children = list(unit.children) or ([c.unit for c in node.children.values() if c.unit] if node else [])
        if not children:
            return unit
        scored = sorted(((index.overlap(analysis.normalized, k.units[c].text), c) for c in children), reverse=True)
        best, child = scored[0]
        second = scored[1][0] if len(scored) > 1 else 0.0
        if best >= DRILL_MIN and best - second >= DRILL_GAP and best > index.overlap(analysis.normalized, unit.text):
            return k.units[child]
        return unit


def _out_of_scope(k: Knowledge, target: Target) -> bool:
    return not target.is_unit and k.intents[target.name].fallback


def generic(part: Part) -> bool:
    """A question that names no topic of its own ("这个通知里有说什么吗", "省里有发什么文吗")."""
    return not part.asks and not [w for w in part.subject if w not in _DOCUMENT_WORDS]


def _joined(part: Part, reader: QuestionReader) -> bool:
    """'文号和发文日期': two things asked side by side, a conjunction between their asking words
    (not '报名截止时间', where one qualifies the other)."""
    spans = reader.cue_spans(part.text)
    return any(re.search(r"[和及与、跟]|以及|还有", part.text[a_end:b_start]) for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))




def _without_pointer(folded: str, index: Index) -> str:
    """What a question says besides its numbers and the section title it names."""
    text = re.sub(r"最后(?:一|1)?(?:个|项|条|点|部分)?|第?[一二两三四五六七八九十\d]{1,3}\s*(?:大部分|部分|章|大项|条|项|点|个|款|方面|段|是)?|[(（)）]", "", folded)
    text = index.reader.strip(index.normalize(text)) if text.strip() else ""
    for titles in index.outline.titles.values():
        for title, _ in titles:
            text = text.replace(title[:8], "")
    return text


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

