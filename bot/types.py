"""Plain data passed between adapters and the engine, so neither side knows the other's platform."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


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
    """What the engine answers; adapters render it for their channel."""

    text: str
    intent: str
    fallback: bool = False
    sources: list[Source] = field(default_factory=list)
    deadlines: list[DeadlineInfo] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    action: str | None = None  # "subscribe" / "unsubscribe": the adapter carries it out

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
        }
