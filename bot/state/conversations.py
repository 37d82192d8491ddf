"""The context of each conversation, so a follow-up is understood: bounded in number, forgotten after silence.

Kept in memory: a restart starts every conversation afresh, which is what a user expects after a
pause anyway. Keys are channel + chat (+ user in group chats), built by the service.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from bot.core.model import Context

IDLE = timedelta(minutes=30)  # a conversation silent this long starts afresh
MAX_CONVERSATIONS = 10_000


class Conversations:
    """Context per conversation key, least recently used dropped first."""

    def __init__(self, idle: timedelta = IDLE, limit: int = MAX_CONVERSATIONS) -> None:
        """Forget a conversation after `idle` of silence; keep at most `limit` of them."""
        self.idle = idle
        self.limit = limit
        self._items: OrderedDict[str, tuple[Context, datetime]] = OrderedDict()

    def get(self, key: str, now: datetime) -> Context:
        """The context of a conversation, empty when new or silent too long."""
        found = self._items.get(key)
        if found is None:
            return Context()
        context, seen = found
        if now - seen > self.idle or now < seen - self.idle:
            del self._items[key]
            return Context()
        return context

    def put(self, key: str, context: Context, now: datetime) -> None:
        """Remember the context after a turn (an empty one forgets the conversation)."""
        if not key:
            return
        if not context:
            self._items.pop(key, None)
            return
        self._items[key] = (context, now)
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def forget(self, key_prefix: str) -> None:
        """Drop every conversation of a user who asked to be forgotten."""
        for key in [k for k in self._items if k.startswith(key_prefix)]:
            del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
