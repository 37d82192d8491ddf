"""The shared objects one process hands to every adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.types import Incoming, Reply

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.engine import Engine
    from bot.store import Store

log = logging.getLogger(__name__)

PUSH_CHANNELS = frozenset({"telegram", "wechat"})  # WeCom has no push sender: it cannot remind


@dataclass
class Services:
    """Engine, state and clock; adapters get this instead of importing each other."""

    engine: Engine
    store: Store
    settings: Settings
    clock: Callable[[], datetime]  # aware datetime; fixed under --now
    senders: dict[str, Any] = field(default_factory=dict)  # channel -> reminder Sender, set by serve()

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

    def can_push(self, channel: str) -> bool:
        """Only channels that can deliver a reminder accept subscriptions (no silent promises)."""
        if self.senders:  # a running server knows exactly which senders it set up
            return channel in self.senders
        return channel in PUSH_CHANNELS

    def is_admin(self, user: str) -> bool:
        """Admin commands answer only to the ids listed in BOT_ADMINS."""
        return bool(user) and user in self.settings.admins


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
