"""The engine: one knowledge snapshot, swapped whole on reload, and `respond()` over it.

respond(incoming, now, context) -> (reply, context) is pure: the conversation's context comes in
and the next one goes out, so the service keeps it and no channel decides anything about it. One
message may hold several questions; each is answered in order (see bot.core.decide).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.core.compose import Composer, fill
from bot.core.decide import MAX_INPUT, MAX_PARTS, Turn, generic
from bot.core.index import Index, IndexCacheLike
from bot.core.model import DEFAULT_TZ, Context, Deadline, DeadlineInfo, Incoming, Knowledge, Reply
from bot.core.rank import documents_for, notice_suggestions, resolve, standing_suggestions
from bot.core.text import cn_date


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
        """answered | declined | clarify | intent."""
        if self.reply.intent == "clarify":
            return "clarify"
        if self.reply.fallback:
            return "declined"
        return "answered" if self.reply.sources else "intent"


class Engine:
    """Answers questions from one knowledge snapshot; `swap` replaces it atomically."""

    def __init__(self, knowledge: Knowledge, zone: ZoneInfo | None = None, cache: IndexCacheLike | None = None) -> None:
        """Index `knowledge` (from `cache` when it holds this version); dates count in `zone`."""
        self.zone = zone or ZoneInfo(DEFAULT_TZ)
        self.cache = cache
        self._index = self._settled(Index(knowledge, cache))

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
        self._index = self._settled(Index(knowledge, self.cache))

    def counts(self) -> dict[str, int]:
        """Sizes of the snapshot, for health checks and staff."""
        k = self.knowledge
        rows = sum(len(u.table.rows) for u in k.units.values() if u.table)
        return {"documents": len(k.documents), "units": len(k.units), "deadlines": len(k.deadlines()), "projects": rows}

    # -- small helpers channels use -------------------------------------------------------------

    def menu_question(self, key: str) -> str | None:
        """The question behind a WeChat menu key or a Telegram command."""
        return self.knowledge.menu.get(key)

    def intent_reply(self, name: str) -> str:
        """A staff-written reply (welcome, help, non_text …) with its placeholders filled."""
        index = self._index
        intent = index.knowledge.intents.get(name)
        return fill(intent.reply, **Composer(index, self.zone).values()) if intent else ""

    def deadlines(self, now: datetime) -> list[DeadlineInfo]:
        """Every deadline with its countdown, earliest first."""
        c = Composer(self._index, self.zone)
        today = c.today(now)
        return [c.deadline_info(d, today) for d in self._index.knowledge.deadlines()]

    def countdown(self, day: date, now: datetime) -> str:
        """还有N天 / 今天截止 / 已于…截止 for a deadline day, as the templates word it."""
        c = Composer(self._index, self.zone)
        return c.countdown(day, c.today(now))

    def render_reminder(self, deadline: Deadline, now: datetime) -> str:
        """The text of a deadline reminder: what, when, how, to whom, and the contact."""
        c = Composer(self._index, self.zone)
        t = c.t
        lines = [
            fill(t.get("reminder", "【截止提醒】{what}"), what=deadline.what),
            fill(t["deadline"], date=cn_date(deadline.date), countdown=c.countdown(deadline.date, c.today(now))),
        ]
        if deadline.how or deadline.to:
            lines.append(fill(t.get("reminder_how", "{how}报送{to}"), how=deadline.how, to=deadline.to))
        contact = c.contact_text(deadline.document)
        if contact:
            lines.append(fill(t["contact"], contact=contact))
        doc = c.k.documents.get(deadline.document)
        if doc:
            lines.append(fill(t["source"], title=doc.title, number=doc.number, section=""))
        return "\n".join(line for line in lines if line)

    def reminder_values(self, deadline: Deadline, now: datetime) -> dict[str, str]:
        """A reminder's facts one by one, for platforms that lay them out themselves (WeChat templates)."""
        c = Composer(self._index, self.zone)
        doc = c.k.documents.get(deadline.document)
        return {
            "what": deadline.what,
            "date": cn_date(deadline.date),
            "countdown": c.countdown(deadline.date, c.today(now)),
            "to": deadline.to,
            "contact": c.contact_text(deadline.document),
            "title": doc.title if doc else "",
        }

    # -- answering ----------------------------------------------------------------------------

    def answer(self, incoming: Incoming, now: datetime) -> Reply:
        """A reply to one message on its own, with no conversation before it."""
        return self.respond(incoming, now)[0]

    def respond(self, incoming: Incoming, now: datetime, context: Context | None = None) -> tuple[Reply, Context]:
        """The reply to a message and the conversation's next context; pure, never raises on odd text."""
        return self._respond(self._index, incoming, now, context)  # one snapshot, even if a reload swaps meanwhile

    def _settled(self, index: Index) -> Index:
        """The index with its suggestions settled: staff's that this knowledge really answers, then the
        notice's own questions, worked out once while the snapshot is built, never on an answer.

        A suggestion the bot then declines ("观摩项目有哪些" beside a notice without projects) is
        worse than none. Asked as of the newest notice's date, so the result does not depend on the clock.
        """
        index.suggested = []  # the answers given while checking offer nothing
        newest = index.documents_newest_first[0] if index.documents_newest_first else None
        day = (newest.date or date(newest.year or 2000, 1, 1)) if newest else date(2000, 1, 1)
        when = datetime.combine(day, time(12), self.zone)
        kept = []
        for q in index.knowledge.suggestions:
            reply = self._respond(index, Incoming(q), when, None)[0]
            if reply.sources and not reply.fallback:  # answered from the notice, not by the help text
                kept.append(q)
        index.suggested = notice_suggestions(index, kept)
        return index

    def _respond(self, index: Index, incoming: Incoming, now: datetime, context: Context | None) -> tuple[Reply, Context]:
        ctx = context or Context()
        if ctx.unit and ctx.unit not in index.knowledge.units:
            ctx = Context()  # the knowledge changed under the conversation
        c = Composer(index, self.zone)
        message = index.reader.read(incoming.text[:MAX_INPUT])
        parts = [p for p in message.parts if p.text][:MAX_PARTS]
        if len(parts) == 1 and (message.background or message.situation) and generic(parts[0]):
            # "我们单位想参加省优质工程创建，这个通知里有说什么吗": the topic is in the other clause
            told = message.background or message.situation
            parts = [index.reader.part(told + parts[0].text, told + parts[0].text)]
        if not parts:
            return c.fallback(standing_suggestions(index), empty=True), ctx
        turn = Turn(index, c, message, now)
        replies: list[Reply] = []
        for part in parts:
            reply, ctx = turn.part(part, ctx)
            replies.append(reply)
        return (replies[0] if len(replies) == 1 else c.combine(replies)), ctx

    def explain(self, incoming: Incoming, now: datetime, context: Context | None = None) -> Explanation:
        """What the engine saw and why it answered as it did: for staff testing a question."""
        index = self._index
        k = index.knowledge
        reply, _ = self.respond(incoming, now, context)
        analysis = index.analyze(incoming.text[:MAX_INPUT])
        chosen = documents_for(index, analysis.normalized, Composer(index, self.zone).today(now)) if analysis.normalized else None
        ranked = resolve(index, index.search(analysis), chosen[0], analysis.entities, analysis.normalized) if chosen else []
        candidates = []
        for target, score in ranked[:5]:
            title = k.units[target.name].title if target.is_unit else f"意图：{target.name}"
            candidates.append(Candidate(str(target), title, round(score, 4)))
        entities = [(e.role, e.canonical) for e in analysis.entities]
        return Explanation(analysis.normalized, entities, candidates, reply.reason, reply)
