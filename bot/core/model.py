"""Plain data of the answer: the knowledge snapshot, a message in, a reply out, and their enums."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

DEFAULT_TZ = "Asia/Shanghai"  # the zone deadlines are counted in unless settings say otherwise
DEFAULT_REMIND_DAYS = (7, 3, 1, 0)
DEFAULT_REMIND_AT = dt.time(9, 0)


class TargetKind(StrEnum):
    """What a retrieval hit points at."""

    UNIT = "unit"
    INTENT = "intent"


class Target(NamedTuple):
    """A retrieval hit: a knowledge unit or an intent, by id or name (a tuple: hashed and compared in C,
    since the answer path handles thousands of them)."""

    kind: TargetKind
    name: str
    is_unit: bool  # whether the hit is a knowledge unit (else an intent)

    @classmethod
    def unit(cls, name: str) -> Target:
        """The target of a knowledge unit."""
        return cls(TargetKind.UNIT, name, True)

    @classmethod
    def intent(cls, name: str) -> Target:
        """The target of an intent of intents.yaml."""
        return cls(TargetKind.INTENT, name, False)

    @classmethod
    def parse(cls, text: str) -> Target:
        """Inverse of str(): 'unit:doc-number' or 'intent:greeting' (the index cache stores them so)."""
        kind, _, name = text.partition(":")
        return cls(TargetKind(kind), name, kind == TargetKind.UNIT.value)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"


class Outcome(StrEnum):
    """How one push (reminder or broadcast) went; stored as its value."""

    SENT = "sent"
    UNDELIVERABLE = "undeliverable"  # the platform cannot reach the user now (e.g. 48 h window)
    BLOCKED = "blocked"  # the user blocked or left: unsubscribe them
    FAILED = "failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"  # the platform's daily quota is used up: send again the next day


@dataclass(frozen=True)
class Incoming:
    """One user message, already translated from its platform payload."""

    text: str
    channel: str = "cli"  # cli | web | telegram | wechat | wecom
    user: str = ""
    chat: str = ""


@dataclass(frozen=True)
class Source:
    """A knowledge unit the answer was taken from."""

    id: str
    title: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON shape used by the CLI and the web API."""
        return {"id": self.id, "title": self.title, "score": round(self.score, 4)}


@dataclass(frozen=True)
class DeadlineInfo:
    """A deadline with its countdown relative to the time of the question."""

    id: str
    date: date
    days_left: int
    what: str
    document: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON shape used by the CLI and the web API."""
        return {
            "id": self.id,
            "date": self.date.isoformat(),
            "days_left": self.days_left,
            "what": self.what,
            "document": self.document,
        }


@dataclass
class Reply:
    """What the engine answers; channels render it."""

    text: str
    intent: str
    fallback: bool = False
    sources: list[Source] = field(default_factory=list)
    deadlines: list[DeadlineInfo] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    action: str | None = None  # "subscribe" / "unsubscribe": the service carries it out
    answer_id: str = ""  # set by the service when the answer is logged, for 👍/👎 feedback
    reason: str = ""  # why the engine answered so, for staff testing a question (not sent to users)

    def to_dict(self, question: str) -> dict[str, Any]:
        """The one JSON object of `ask --json` and POST /api/ask."""
        return {
            "question": question,
            "answer": self.text,
            "fallback": self.fallback,
            "intent": self.intent,
            "sources": [s.to_dict() for s in self.sources],
            "deadlines": [d.to_dict() for d in self.deadlines],
            "suggestions": list(self.suggestions),
            "action": self.action,
            "answer_id": self.answer_id,
        }


@dataclass(frozen=True)
class Context:
    """What a conversation has established, so that a follow-up ("那深圳呢", "他的邮箱呢") is understood.

    Small and immutable: the service keeps one per conversation and passes it to the next turn.
    """

    document: str = ""
    unit: str = ""  # the unit last answered from
    question: str = ""  # the last question as understood (normalised), for swapping in a new name
    entities: tuple[tuple[str, str, str], ...] = ()  # (role, canonical, surface) named in it
    rows: tuple[int, ...] = ()  # table rows just shown (indexes)
    listing: str = ""  # the unit whose numbered parts were just shown: "第二点" points into it

    def __bool__(self) -> bool:
        return bool(self.unit or self.question)


# -- the knowledge snapshot -----------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One notice: the facts every answer cites.

    Not every notice prints a 文号, an issuer or a date: those are then empty (number, issuer) or
    None (date), never a stand-in. A notice without a title is named by its short_title.
    """

    id: str
    title: str
    short_title: str
    number: str
    issuer: str
    date: dt.date | None
    year: int
    campaign: str
    file: str

    def recency(self) -> tuple[int, dt.date]:
        """Sort key of "newest campaign first": the year, then the issue date when there is one."""
        return self.year, self.date or dt.date.min


@dataclass(frozen=True)
class Deadline:
    """A dated obligation from a notice, with its reminder plan."""

    id: str
    document: str
    date: dt.date
    what: str
    who: str
    how: str
    to: str
    remind_days: tuple[int, ...]
    remind_at: dt.time


@dataclass(frozen=True)
class Contact:
    """Who to call, as printed at the foot of a notice."""

    name: str
    phone: str
    fax: str
    email: str
    office: str
    mobile: str = ""


@dataclass(frozen=True)
class Row:
    """One attachment table row, with the short names people use for it."""

    values: dict[str, str]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """An attachment table whose rows can be filtered by city, project and organisation."""

    columns: tuple[str, ...]
    roles: dict[str, str]
    rows: tuple[Row, ...]

    def cell(self, row: Row, role: str) -> str:
        """The value of the column that plays `role` (city, name, org, number)."""
        column = self.roles.get(role)
        return row.values.get(column, "") if column else ""


@dataclass
class Unit:
    """Anything the bot can answer with: a section, a sub-item, a deadline, a contact or a table."""

    id: str
    document: str
    kind: str  # section | item | deadline | contact | table
    intent: str
    section: str
    title: str
    text: str
    questions: list[str]
    keywords: list[str] = field(default_factory=list)
    label: str = ""
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    deadline: Deadline | None = None
    contact: Contact | None = None
    table: Table | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Intent:
    """A conversational intent from intents.yaml."""

    name: str
    examples: tuple[str, ...]
    reply: str
    action: str | None
    fallback: bool


@dataclass(frozen=True)
class Lexicon:
    """Shared vocabulary for normalisation and entity spotting."""

    cantonese: dict[str, str]
    synonyms: dict[str, str]
    typos: dict[str, str]
    aliases: dict[str, str]
    cities: dict[str, tuple[str, ...]]
    stopwords: frozenset[str]
    org_patterns: tuple[str, ...] = ()
    fillers: tuple[str, ...] = ()  # padding that carries no meaning (请问一下, 麻烦问下, 那个 …)
    asks: dict[str, Ask] = field(default_factory=dict)  # kinds of fact a question can ask for
    followups: tuple[str, ...] = ()  # words that make a message lean on the one before (那…呢, 它 …)
    situation: tuple[str, ...] = ()  # how users start telling who they are (我是, 我们是 …)


@dataclass(frozen=True)
class Ask:
    """A kind of fact a question asks for (phone, date, amount …), the words that ask it and its name."""

    kind: str
    label: str  # how an answer names it: 电话, 日期, 金额 …
    words: tuple[str, ...]
    strict: bool = True  # a unit must hold this kind to answer; else the bot says the notice does not say


@dataclass
class Knowledge:
    """One validated snapshot of everything the bot knows; replaced whole on reload."""

    documents: dict[str, Document]
    units: dict[str, Unit]
    lexicon: Lexicon
    intents: dict[str, Intent]
    templates: dict[str, str]
    menu: dict[str, str]
    suggestions: list[str]
    version: str
    wechat_template: dict[str, str] = field(default_factory=dict)  # template field -> text with reminder values

    def deadlines(self) -> list[Deadline]:
        """Every deadline of every document, earliest first."""
        found = [u.deadline for u in self.units.values() if u.deadline]
        return sorted(found, key=lambda d: (d.date, d.id))

    def latest_document(self) -> Document:
        """The most recent campaign: what an unqualified question is about."""
        return max(self.documents.values(), key=Document.recency)


EMPTY_LEXICON = Lexicon({}, {}, {}, {}, {}, frozenset())
