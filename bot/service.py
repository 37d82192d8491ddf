"""What every channel shares: answering, subscriptions, staff commands, broadcast, retries, forgetting a user.

Channels translate platform payloads into calls on one ``Service`` and render what it returns;
every rule that is not about a platform's format lives here, written once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.core.engine import Engine, Explanation
from bot.core.model import Context, Incoming, Outcome, Reply
from bot.knowledge.check import KnowledgeError
from bot.knowledge.drafts import Draft, Drafts
from bot.knowledge.edit import Editor, EditResult
from bot.knowledge.load import load_knowledge
from bot.state.conversations import Conversations
from bot.state.delivery import as_delivery
from bot.state.index_cache import IndexCache
from bot.state.limits import RateLimiter, Unlimited
from bot.state.reminders import Sender, unsubscribe_blocked
from bot.state.store import Store, Subscription

log = logging.getLogger(__name__)

PUSH_CHANNELS = frozenset({"telegram", "wechat", "wecom"})
ADMIN_COMMANDS = ("/stats", "/unanswered", "/reload")
RATE_LIMITED_TEXT = "您发送得太快了，请稍等一分钟再问。"  # a flood from one user, told once
SEEN_EVERY = timedelta(minutes=1)  # a user's last-message time is written at most this often


def utc_now() -> datetime:
    """The real time: what log rows, retention, replay windows and WeChat's 48 hours are counted in."""
    return datetime.now(UTC)


def load_engine(
    knowledge_dir: Path | str, intents_file: Path | str, zone: ZoneInfo | None = None, cache_dir: Path | None = None
) -> Engine:
    """Load, validate and index the knowledge in one call (raises KnowledgeError)."""
    cache = IndexCache(cache_dir) if cache_dir is not None else None
    return Engine(load_knowledge(knowledge_dir, intents_file), zone=zone, cache=cache)


@dataclass
class KnowledgeStatus:
    """Whether the bot answers from the knowledge as staff last saved it, or from an older good copy."""

    ok: bool = True
    problems: list[str] = field(default_factory=list)  # file:line: key: message, when degraded
    since: datetime | None = None
    serving: str = ""  # the version answered from

    def describe(self) -> str:
        """One line for /healthz, logs and the staff console."""
        if self.ok:
            return f"知识库正常，版本 {self.serving}"
        return f"知识库有错误，仍使用上一个正确的版本 {self.serving}：" + "；".join(self.problems[:5])


@dataclass
class BroadcastReport:
    """How a broadcast went, per outcome."""

    sent: int = 0
    blocked: int = 0
    undeliverable: int = 0
    failed: int = 0

    def describe(self) -> str:
        """One sentence for the admin who sent it."""
        text = f"群发完成：已送达 {self.sent} 个订阅者"
        if self.blocked:
            text += f"，{self.blocked} 个已屏蔽机器人（已取消其订阅）"
        if self.undeliverable:
            text += f"，{self.undeliverable} 个暂时无法送达（如微信用户超过48小时未互动）"
        if self.failed:
            text += f"，{self.failed} 个发送失败"
        return text + "。"


def conversation_key(incoming: Incoming) -> str:
    """One conversation per channel and chat, and per user within a group chat ('' when anonymous)."""
    if not (incoming.chat or incoming.user):
        return ""
    return f"{incoming.channel}|{incoming.chat}|{incoming.user}"


def stats_lines(stats: Mapping[str, Any]) -> list[str]:
    """store.stats() as lines a person reads: questions, fallback rate, subscribers per channel."""
    subscribers = stats.get("subscribers") or {}
    per_channel = "，".join(f"{k} {v}" for k, v in sorted(subscribers.items())) or "0"
    lines = [
        "统计",
        f"提问数：{int(stats.get('questions', 0))}",
        f"未能回答：{int(stats.get('fallbacks', 0))}（{float(stats.get('fallback_rate', 0.0)):.0%}）",
        f"订阅者：{per_channel}",
    ]
    lines += [f"{k}：{v}" for k, v in stats.items() if k not in {"questions", "fallbacks", "fallback_rate", "subscribers"}]
    return lines


def unanswered_lines(rows: list[tuple[str, int]]) -> list[str]:
    """The most frequent unanswered questions, most asked first."""
    if not rows:
        return ["暂时没有未能回答的问题。"]
    return ["未能回答的问题（按次数）"] + [f"• {question}（{count} 次）" for question, count in rows]


@dataclass
class Service:
    """Engine, state and clock behind every channel; channels get this instead of importing each other."""

    engine: Engine
    store: Store
    settings: Settings
    clock: Callable[[], datetime]  # aware datetime; fixed under --now
    # channel -> reminder Sender; None until a server or a send run has set up its senders
    senders: dict[str, Sender] | None = None
    reload: Callable[[], Coroutine[Any, Any, Any]] | None = None  # set by serve(): validate and swap the knowledge
    # The real clock, never the --now preview: dates log rows, prunes, checks callback timestamps.
    real_clock: Callable[[], datetime] = utc_now
    admin_notifiers: list[Callable[[str], Awaitable[object]]] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set, repr=False)
    status: KnowledgeStatus = field(default_factory=KnowledgeStatus)
    conversations: Conversations = field(default_factory=Conversations, repr=False)
    limiter: RateLimiter | Unlimited = field(init=False, repr=False)
    _seen: dict[tuple[str, str], datetime] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        """Per-client limits from the settings (BOT_RATE_LIMIT=off switches them off)."""
        s = self.settings
        on = s.rate_limit.lower() not in ("off", "0", "false", "no")
        self.limiter = RateLimiter(s.rate_per_minute, s.rate_burst) if on else Unlimited()
        if self.engine is not None and not self.status.serving:
            self.status.serving = self.engine.version

    def knowledge_loaded(self, version: str) -> None:
        """A good load or reload: the bot answers from what staff saved."""
        self.status = KnowledgeStatus(True, [], self.clock(), version)

    def knowledge_broken(self, problems: list[str]) -> None:
        """A broken edit: keep answering from the last good version, and say so everywhere staff look."""
        since = self.status.since if not self.status.ok else self.clock()
        self.status = KnowledgeStatus(False, list(problems), since, self.engine.version)

    # -- answering ------------------------------------------------------------------------

    def ask(self, incoming: Incoming, now: datetime | None = None) -> Reply:
        """Answer in the conversation's context, carry out a subscribe/unsubscribe request and log the
        question: one path for every channel.

        A `now` from the request is a preview: answered as of then, logged at the real time and
        never counted in statistics, so nobody can date or skew the log.
        """
        preview = now is not None
        now = now or self.clock()
        key = conversation_key(incoming)
        context = self.conversations.get(key, now) if key else Context()
        reply, context = self.engine.respond(incoming, now, context)
        if key:
            self.conversations.put(key, context, now)
        if reply.action == "subscribe":
            if self.can_push(incoming.channel) and incoming.chat:
                self.store.subscribe(incoming.channel, incoming.chat, incoming.user, now)
            else:
                reply.text = self.engine.intent_reply("subscribe_unsupported")
                reply.action = None
        elif reply.action == "unsubscribe" and incoming.chat:
            self.store.unsubscribe(incoming.channel, incoming.chat)
        top = reply.sources[0] if reply.sources else None
        reply.answer_id = secrets.token_hex(8)
        try:
            self.store.log_question(
                self.real_clock(),
                incoming.channel,
                incoming.user,
                incoming.text[:500],
                reply.intent,
                top.id if top else None,
                top.score if top else None,
                reply.fallback,
                answer_id=reply.answer_id,
                preview=preview,
            )
        except Exception:  # a full disk must not cost the user the answer
            log.exception("could not log question")
            reply.answer_id = ""
        return reply

    def feedback(self, answer_id: str, helpful: bool, channel: str, user: str = "") -> bool:
        """A 👍 or 👎 on an answer this bot gave; False when the answer is unknown (or too old)."""
        return self.store.record_feedback(answer_id, 1 if helpful else -1, self.real_clock(), channel, user)

    def hit_test(self, text: str, now: datetime | None = None, previous: list[str] | None = None) -> Explanation:
        """How the bot would answer `text` (after the `previous` turns of a chat), without logging it."""
        now = now or self.clock()
        context = Context()
        for turn in previous or []:
            _, context = self.engine.respond(Incoming(turn, "console"), now, context)
        return self.engine.explain(Incoming(text, "console"), now, context)

    def once(self, key: str, user: str, answer: Callable[[], str | None]) -> str | None:
        """The reply to a platform message, computed once: a retry of the same message gets the same reply.

        Call without awaiting in between, so a retry cannot slip between the look-up and the record.
        """
        previous = self.store.dedupe_get(key)
        if previous is not None:
            return previous or None
        text = answer()
        try:
            self.store.dedupe_put(key, text or "", self.real_clock(), user=user)
        except Exception:  # a full disk must not cost the user the answer
            log.exception("could not record message %s", key)
        return text or None

    def forget_user(self, channel: str, user: str) -> int:
        """The user left (unfollowed): delete their subscriptions, reminders, questions, retry records
        and conversation."""
        self._seen.pop((channel, user), None)
        self.conversations.forget(f"{channel}|{user}|")
        self.conversations.forget(f"{channel}||{user}")
        return self.store.delete_user(channel, user)

    def seen(self, channel: str, user: str) -> None:
        """The user wrote to the account: WeChat's 48-hour customer-service window starts again."""
        now = self.real_clock()
        last = self._seen.get((channel, user))
        if last is not None and now - last < SEEN_EVERY:
            return
        if len(self._seen) > 100_000:  # only a write throttle: forgetting it costs one write
            self._seen.clear()
        self._seen[(channel, user)] = now
        try:
            self.store.touch_user(channel, user, now)
        except Exception:  # a full disk must not cost the user the answer
            log.exception("could not record the last message of %s:%s", channel, user)

    def housekeeping(self) -> dict[str, int]:
        """Delete what is kept no longer than needed: questions after BOT_LOG_DAYS, old retry and replay records."""
        removed = self.store.prune(self.real_clock(), self.settings.log_days)
        if any(removed.values()):
            log.info("housekeeping removed %s", removed)
        return removed

    async def notify_admins(self, text: str) -> None:
        """Tell the staff something once: Telegram (via the registered notifiers) and WeChat/WeCom admins."""
        log.info("admin notice: %s", text.replace("\n", " / "))
        for notify in list(self.admin_notifiers):
            try:
                await notify(text)
            except Exception:
                log.exception("could not notify the admins")
        for admin in sorted(self.settings.admins):
            channel, _, user = admin.partition(":")
            sender = (self.senders or {}).get(channel)
            if channel in ("wechat", "wecom") and user and sender is not None:
                try:
                    await sender.send(user, text)
                except Exception:
                    log.exception("could not notify admin %s", admin)

    def chat_blocked(self, channel: str, chat: str) -> None:
        """The platform says this chat blocked the bot: stop pushing to it."""
        unsubscribe_blocked(self.store, channel, chat)

    # -- channels -------------------------------------------------------------------------

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

    # -- staff ------------------------------------------------------------------------------

    def admin_reply(self, incoming: Incoming) -> str | None:
        """Answer an admin's /stats, /unanswered or /reload; None for anyone else or any other text."""
        text = incoming.text.strip()
        command = text.split(maxsplit=1)[0].lower() if text else ""
        if command not in ADMIN_COMMANDS or not self.is_admin(incoming.user, incoming.channel):
            return None
        if command == "/stats":
            return "\n".join([*stats_lines(self.store.stats()), f"知识库版本：{self.engine.version}"])
        if command == "/unanswered":
            return "\n".join(unanswered_lines(self.store.unanswered()))
        if self.reload is None:
            return "此进程未启用重新加载。"
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule on
            self.background(self.reload())
            return f"正在重新加载知识库（当前版本 {self.engine.version}），稍后发送 /stats 查看版本。"
        return "此进程未启用重新加载。"

    def broadcast_audience(self, channels: Iterable[str] | None = None) -> list[Subscription]:
        """Active subscribers of the given channels (default: every channel with a sender)."""
        reachable = set(self.senders or {}) if channels is None else set(channels)
        return [s for s in self.store.subscribers() if s.channel in reachable]

    async def broadcast(self, text: str, senders: Mapping[str, Sender] | None = None) -> BroadcastReport:
        """Send to every active subscriber on every pushing channel; one bad chat never stops the rest."""
        senders = dict(self.senders or {}) if senders is None else senders
        report = BroadcastReport()
        for subscription in self.broadcast_audience(senders):
            try:
                outcome = as_delivery(await senders[subscription.channel].send(subscription.chat, text)).outcome
            except Exception:
                log.exception("broadcast to %s:%s failed", subscription.channel, subscription.chat)
                report.failed += 1
                continue
            if outcome == Outcome.SENT:
                report.sent += 1
            elif outcome == Outcome.BLOCKED:
                self.chat_blocked(subscription.channel, subscription.chat)
                report.blocked += 1
            else:
                report.undeliverable += 1
        return report

    # -- staff console ----------------------------------------------------------------------

    @property
    def editor(self) -> Editor:
        """Edits of the files this bot answers from, each validated whole before it is written."""
        return Editor(self.settings.knowledge_dir, self.settings.intents_file)

    @property
    def drafts(self) -> Drafts:
        """Uploaded notices under review, kept beside the database so the bot never answers from them."""
        return Drafts(self.settings.db.parent / "drafts")

    async def edit_knowledge(self, change: Callable[[Editor], EditResult]) -> EditResult:
        """Apply one staff edit off the event loop; a saved edit reloads the running bot at once."""
        result = await asyncio.to_thread(change, self.editor)
        if result.saved:
            await self.reload_now()
        return result

    async def reload_now(self) -> None:
        """Reload through the server's Reloader, or (no server running) load and swap here."""
        if self.reload is not None:
            await self.reload()
            return
        s = self.settings
        try:
            knowledge = await asyncio.to_thread(load_knowledge, s.knowledge_dir, s.intents_file)
        except KnowledgeError as exc:
            self.knowledge_broken([str(p) for p in exc.problems])
            return
        await asyncio.to_thread(self.engine.swap, knowledge)
        self.knowledge_loaded(self.engine.version)

    def draft_notice(self, data: bytes, filename: str, who: str, now: datetime) -> Draft:
        """Ingest an uploaded notice into a draft for review; ValueError says why a file cannot be read."""
        return self.drafts.create(data, filename, who, now)

    async def publish_notice(self, draft: Draft) -> EditResult:
        """Publish a reviewed draft under knowledge/ (validated with everything else) and reload."""
        result = await self.edit_knowledge(lambda editor: editor.publish(draft.text))
        if result.saved:
            self.drafts.discard(draft.name)
        return result
