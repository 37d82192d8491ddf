"""What a push carries and what the platform said about it, kept per reminder.

A reminder is more than its text: a WeChat template message fills its fields from the reminder's
values, so senders that can use them get a ``ReminderMessage``. A sender may answer with a bare
``Outcome`` or with a ``Delivery`` that also names the path it took and the platform's own answer
(e.g. ``"43004 require subscribe"``), which the store keeps next to the reminder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bot.core.model import Outcome

ANSWER_LIMIT = 300  # characters of a platform answer kept per reminder


@dataclass(frozen=True)
class ReminderMessage:
    """A reminder's text and the values it was written from ({what}, {date}, {countdown}, …)."""

    text: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """How one push went: the outcome, the path taken (template, customer_service, …) and the platform's answer."""

    outcome: Outcome
    path: str = ""
    answer: str = ""


@runtime_checkable
class ReminderSender(Protocol):
    """A sender that makes more of a reminder than its text (a WeChat template message)."""

    async def send_reminder(self, chat: str, message: ReminderMessage) -> Outcome | Delivery:
        """Deliver the reminder to a chat and say how it went."""
        ...


def as_delivery(result: object) -> Delivery:
    """Whatever a sender returned, as a Delivery; an unknown value counts as failed."""
    if isinstance(result, Delivery):
        return Delivery(result.outcome, result.path, result.answer[:ANSWER_LIMIT])
    try:
        return Delivery(Outcome(str(result)))
    except ValueError:
        return Delivery(Outcome.FAILED, answer=f"sender returned {result!r}"[:ANSWER_LIMIT])


def as_message(rendered: str | ReminderMessage) -> ReminderMessage:
    """A render callable may return plain text (Telegram needs no more) or a full ReminderMessage."""
    return rendered if isinstance(rendered, ReminderMessage) else ReminderMessage(str(rendered))
