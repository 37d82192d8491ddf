"""Follow-ups: a turn that only makes sense after the one before ("那深圳呢", "谁施工的", "他的邮箱呢").

The previous turn's context says which unit, rows and names were involved. A follow-up either
swaps in a new name (that city instead of this one), asks another fact of the rows just shown,
or asks another fact of the unit just answered. A turn that changes the topic is left alone:
when the unit of the previous turn does not hold what is asked now, the turn is answered fresh.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.compose import Rows
from bot.core.index import Analysis, Index
from bot.core.model import Context, Document, Knowledge, Reply, Target, Unit
from bot.core.question import Part


class Turn(Protocol):
    """What a follow-up needs of the turn that is answering (bot.core.decide.Turn)."""

    index: Index
    k: Knowledge

    def standalone(self, part: Part, analysis: Analysis, docs: list[Document]) -> tuple[Reply, Context]:
        """Answer a question on its own."""
        ...

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
        """Answer from a unit."""
        ...

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
        """Answer with table rows."""
        ...

_NEXT = ("下一个", "下一条", "下一项", "后一个", "接下来")
_PREVIOUS = ("上一个", "上一条", "上一项", "前一个")


class FollowUps:
    """Follow-up resolution for the parts of one message."""

    def __init__(self, turn: Turn) -> None:
        """Work on the turn's snapshot and composer."""
        self.turn = turn

    def leans(self, part: Part, analysis: Analysis) -> bool:
        """Whether a turn reads as the continuation of the previous one."""
        if part.leans:
            return True
        rest = _without_names(part, analysis)
        if analysis.entities and not rest:
            return True  # 佛山有吗
        return bool(part.asks) and len("".join(part.subject)) <= 1  # 谁施工的, 还剩几天, 在哪个市

    def answer(self, part: Part, analysis: Analysis, docs: list[Document], ctx: Context) -> tuple[Reply, Context] | None:
        """The follow-up's reply, or None when the context does not help (then the turn stands alone)."""
        turn = self.turn
        k = turn.k
        unit = k.units.get(ctx.unit)
        strict = tuple(a for a in part.asks if a in turn.index.reader.asks and turn.index.reader.asks[a].strict)
        if analysis.entities and ctx.question:
            return self._swap_names(part, analysis, docs, ctx)
        if unit is None:
            return None
        holds = turn.index.facts.by_unit[unit.id].kinds
        if strict and not all(kind in holds for kind in strict):
            return None  # another kind of fact: a new question, not this unit's
        question = (ctx.question + part.text)[-200:]
        if unit.table is not None and ctx.rows:
            rows = list(ctx.rows)
            text = part.text
            if any(w in text for w in _NEXT):
                rows = [rows[-1] + 1] if rows[-1] + 1 < len(unit.table.rows) else []
            elif any(w in text for w in _PREVIOUS):
                rows = [rows[0] - 1] if rows[0] > 0 else []
            chosen = Rows(rows, by_name=len(rows) == 1)
            return turn.rows_reply(unit, chosen, analysis, part, "接着上一轮列出的表格行回答", question, ctx)
        if strict or (part.leans and len("".join(part.subject)) <= 1):
            return turn.unit_reply(
                unit, 1.0, analysis, part, [], reason=f"接着上一轮“{unit.title}”回答", question=question, carried=ctx
            )
        return None  # a follow-up with a subject of its own ("比对试验又是哪个协会办的"): answered fresh

    def _swap_names(self, part: Part, analysis: Analysis, docs: list[Document], ctx: Context) -> tuple[Reply, Context] | None:
        """The previous question again with the new city, project or company in place of the old one."""
        turn = self.turn
        text = ctx.question
        swapped = False
        for e in analysis.entities:
            surface = analysis.normalized[e.start : e.end]
            old = next((s for role, _, s in ctx.entities if role == e.role and s and s in text), None)
            if old is None and e.role in ("project", "org"):  # 那新华医院呢 after a company, or the reverse
                old = next((s for role, _, s in ctx.entities if role in ("project", "org") and s and s in text), None)
            if old is None:
                return None  # a name of another kind: a new subject, not a variation of the last question
            text = text.replace(old, surface, 1)
            swapped = True
        if not swapped:
            return None
        if _without_names(part, analysis):
            text += part.text
        reader = turn.index.reader
        asked = reader.part(text, text)
        merged = Part(asked.text, asked.folded, tuple(dict.fromkeys(part.asks + asked.asks)), False, asked.subject)
        return turn.standalone(merged, turn.index.analyze_normalized(text, text), docs)


def _without_names(part: Part, analysis: Analysis) -> str:
    """The subject of a turn without the names it mentions: empty for "那深圳呢", "佛山有吗"."""
    rest = "".join(part.subject)
    for e in analysis.entities:
        rest = rest.replace(analysis.normalized[e.start : e.end].replace(" ", ""), "")
    return rest
