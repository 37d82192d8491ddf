"""The shared objects one process hands to every adapter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.engine import Engine
from bot.core.model import Incoming, Reply
from bot.knowledge.load import load_knowledge
from bot.state.index_cache import IndexCache

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.store import Store

log = logging.getLogger(__name__)

PUSH_CHANNELS = frozenset({"telegram", "wechat"})  # WeCom has no push sender: it cannot remind


def load_engine(
    knowledge_dir: Path | str, intents_file: Path | str, zone: ZoneInfo | None = None, cache_dir: Path | None = None
) -> Engine:
    """Load, validate and index the knowledge in one call (raises KnowledgeError)."""
    cache = IndexCache(cache_dir) if cache_dir is not None else None
    return Engine(load_knowledge(knowledge_dir, intents_file), zone=zone, cache=cache)


@dataclass
class Services:
    """Engine, state and clock; adapters get this instead of importing each other."""

    engine: Engine
    store: Store
    settings: Settings
    clock: Callable[[], datetime]  # aware datetime; fixed under --now
    # channel -> reminder Sender; None until a server or a send run has set up its senders
    senders: dict[str, Any] | None = None
    reload: Callable[[], Awaitable[Any]] | None = None  # set by serve(): validate and swap the knowledge
    _tasks: set[asyncio.Task] = field(default_factory=set, repr=False)

    def ask(self, incoming: Incoming, now: datetime | None = None) -> Reply:
        """Answer, carry out a subscribe/unsubscribe request and log the question: one path for every channel."""
        now = now or self.clock()
        reply = self.engine.answer(incoming, now)
        if reply.action == "subscribe":
            if self.can_push(incoming.channel) and incoming.chat:
                self.store.subscribe(incoming.channel, incoming.chat, incoming.user, now)
            else:
                reply.text = self.engine.intent_reply("subscribe_unsupported")
                reply.action = None
        elif reply.action == "unsubscribe" and incoming.chat:
            self.store.unsubscribe(incoming.channel, incoming.chat)
        top = reply.sources[0] if reply.sources else None
        try:
            self.store.log_question(
                now,
                incoming.channel,
                incoming.user,
                incoming.text[:500],
                reply.intent,
                top.id if top else None,
                top.score if top else None,
                reply.fallback,
            )
        except Exception:  # a full disk must not cost the user the answer
            log.exception("could not log question")
        return reply

    def background(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run a coroutine on the loop, holding a reference so it is not collected half-way."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def can_push(self, channel: str) -> bool:
        """Only channels that can deliver a reminder accept subscriptions (no silent promises)."""
        if self.senders is not None:  # a running server knows exactly which senders it set up
            return channel in self.senders
        return channel in PUSH_CHANNELS

    def is_admin(self, user: str, channel: str = "telegram") -> bool:
        """Staff commands answer only to BOT_ADMINS: `wechat:openid`, `wecom:userid`, and Telegram ids
        (bare or `telegram:id`), so an id on one platform never grants rights on another."""
        if not user:
            return False
        admins = self.settings.admins
        return f"{channel}:{user}" in admins or (channel == "telegram" and user in admins)

