"""Telegram adapter: turns Bot API updates into Incoming questions and renders Replies as HTML.

Everything runs in the one asyncio loop of the aiohttp server: polling is driven with
initialize/start/updater.start_polling, webhooks arrive through a POST route on the aiohttp app.
The engine is reached only through Service, so subscriptions and the question log stay central.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import inspect
import logging
import re
import secrets
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from bot.config import Settings
from bot.core.model import DeadlineInfo, Incoming, Outcome, Reply
from bot.service import Service, stats_lines, unanswered_lines

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MESSAGE_LIMIT = 4096  # Bot API limit on the text of one message
CALLBACK_DATA_LIMIT = 64  # Bot API limit on callback_data, in bytes
MAX_SUGGESTION_BUTTONS = 5
WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

PUBLIC_COMMANDS: list[tuple[str, str]] = [
    ("start", "开始使用，看看能问什么"),
    ("help", "帮助：可以问哪些问题"),
    ("deadlines", "截止日期和倒计时"),
    ("contact", "联系人和联系电话"),
    ("projects", "观摩项目，可加城市，如 /projects 广州"),
    ("subscribe", "订阅截止日期提醒"),
    ("unsubscribe", "取消订阅提醒"),
]
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("stats", "统计：提问数、未答率、订阅数"),
    ("unanswered", "没能回答的问题"),
    ("broadcast", "群发给订阅者：/broadcast 内容"),
    ("reload", "重新加载知识库"),
]

SORRY = "抱歉，处理您的消息时出了点问题，请稍后再试。"
_SOFT_BREAKS = "\n。！？；;!?，, "
_K = TypeVar("_K")
_V = TypeVar("_V")


# ----------------------------------------------------------------------------- rendering


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a long answer into messages Telegram accepts, on line boundaries wherever possible."""
    if limit < 16:
        raise ValueError("limit must be at least 16 characters")
    text = text.strip("\n")
    if len(text) <= limit:
        return [text] if text.strip() else []
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        pieces = _cut_line(line, limit) if len(line) > limit else [line]
        for piece in pieces:
            extra = len(piece) + (1 if current else 0)
            if current and size + extra > limit:
                parts.append("\n".join(current))
                current, size = [], 0
                extra = len(piece)
            current.append(piece)
            size += extra
    if current:
        parts.append("\n".join(current))
    return [p.strip("\n") for p in parts if p.strip()]


def _cut_line(line: str, limit: int) -> list[str]:
    """Cut one over-long line at sentence punctuation, never inside an HTML entity like &amp;."""
    pieces: list[str] = []
    while len(line) > limit:
        window = line[:limit]
        cut = max(window.rfind(ch) for ch in _SOFT_BREAKS) + 1
        if cut <= limit // 2:
            cut = limit
        amp = line.rfind("&", max(0, cut - 10), cut)
        if amp >= 0 and ";" not in line[amp:cut]:
            cut = amp if amp > 0 else cut
        pieces.append(line[:cut])
        line = line[cut:]
    if line:
        pieces.append(line)
    return pieces


def escape(text: str) -> str:
    """Make engine or user text inert in HTML parse mode."""
    return html.escape(text, quote=False)


def render_reply(reply: Reply) -> list[str]:
    """The HTML messages for one answer: escaped text, heading bold, source italic, split to fit."""
    lines = []
    for number, line in enumerate(reply.text.strip("\n").split("\n")):
        safe = escape(line)
        if number == 0 and line.startswith("【") and len(line) <= 200:
            safe = f"<b>{safe}</b>"
        elif line.startswith("——") and len(line) <= 400:
            safe = f"<i>{safe}</i>"
        lines.append(safe)
    return split_message("\n".join(lines)) or [escape("（没有内容）")]


def format_deadlines(deadlines: list[DeadlineInfo], countdown: Callable[[DeadlineInfo], str]) -> str:
    """HTML list of deadlines with date and countdown (worded by the knowledge's templates)."""
    if not deadlines:
        return "目前没有登记的截止日期。"
    lines = ["<b>截止日期</b>"]
    for item in deadlines:
        day = f"{item.date.year}年{item.date.month}月{item.date.day}日"
        line = f"• <b>{escape(day)}</b>：{escape(item.what)}"
        if item.document:
            line += f"（{escape(item.document)}）"
        lines.append(line)
        lines.append(f"    {escape(countdown(item))}")
    return "\n".join(lines)


def format_stats(stats: dict[str, Any]) -> str:
    """HTML summary of store.stats() for an admin."""
    head, *rest = stats_lines(stats)
    return "\n".join([f"<b>{escape(head)}</b>", *(escape(line) for line in rest)])


def format_unanswered(rows: list[tuple[str, int]]) -> str:
    """HTML list of the most frequent unanswered questions, for an admin."""
    lines = unanswered_lines(rows)
    if not rows:
        return escape(lines[0])
    return "\n".join([f"<b>{escape(lines[0])}</b>", *(escape(line) for line in lines[1:])])


# ----------------------------------------------------------------------------- small state


class _Bounded(Generic[_K, _V]):
    """A dict that forgets its oldest entries, so button keys cannot grow memory without end."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[_K, _V] = OrderedDict()

    def put(self, key: _K, value: _V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, key: _K) -> _V | None:
        return self._items.get(key)

    def pop(self, key: _K) -> _V | None:
        return self._items.pop(key, None)


@dataclass(frozen=True)
class _Broadcast:
    """A broadcast an admin has previewed but not yet confirmed."""

    admin: str
    text: str


def _retry_seconds(error: RetryAfter) -> float:
    """Seconds Telegram asks us to wait, whatever type this PTB version reports."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


async def send_html(
    bot: Bot,
    chat_id: int | str,
    text: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> Message:
    """Send one HTML message, waiting out a single flood-control answer before giving up."""
    kwargs: dict[str, Any] = {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": ParseMode.HTML,
        "link_preview_options": LinkPreviewOptions(is_disabled=True),
    }
    if reply_markup is not None:
        kwargs["reply_markup"] = reply_markup
    if reply_to is not None:
        kwargs["reply_parameters"] = ReplyParameters(
            message_id=reply_to, allow_sending_without_reply=True
        )
    try:
        return await bot.send_message(**kwargs)
    except RetryAfter as error:
        wait = _retry_seconds(error)
        log.warning("flood control on chat %s: retrying in %.1f s", chat_id, wait)
        await asyncio.sleep(wait)
        return await bot.send_message(**kwargs)


class TelegramSender:
    """Delivers reminders and broadcasts; a chat that blocked the bot stops being a subscriber."""

    channel = CHANNEL

    def __init__(self, bot: Bot, services: Service) -> None:
        """Keep the bot to send with and the services whose store records blocked chats."""
        self.bot = bot
        self.services = services

    async def send(self, chat: str, text: str) -> Outcome:
        """Send plain text; SENT, or BLOCKED when Telegram refuses it (other errors raise)."""
        try:
            for part in split_message(escape(text)):
                await send_html(self.bot, chat, part)
        except Forbidden:
            return Outcome.BLOCKED
        return Outcome.SENT


# ----------------------------------------------------------------------------- handlers


class _Handlers:
    """The update handlers of one Application, sharing the services and button state."""

    def __init__(self, services: Service) -> None:
        self.services = services
        self.suggestions: _Bounded[str, str] = _Bounded(2048)
        self.broadcasts: _Bounded[str, _Broadcast] = _Bounded(64)
        self.quiet_admins: set[str] = set()

    # -- helpers --------------------------------------------------------------------------

    def menu_question(self, key: str) -> str:
        """The question a command stands for, from the knowledge's menu (check requires the keys)."""
        return self.services.engine.menu_question(key) or ""

    def ask(self, text: str, user: str, chat: str) -> Reply:
        """One question through the shared path (answer, subscribe, log)."""
        return self.services.ask(Incoming(text=text, channel=CHANNEL, user=user, chat=chat))

    def suggestion_data(self, suggestion: str) -> str:
        """callback_data for a suggested question: the text itself if short, else a remembered key."""
        direct = f"q:{suggestion}"
        if len(direct.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
            return direct
        key = "k:" + hashlib.sha256(suggestion.encode("utf-8")).hexdigest()[:24]
        self.suggestions.put(key, suggestion)
        return key

    def suggestion_from(self, data: str) -> str | None:
        """The suggested question a button stands for; None when the key was forgotten."""
        if data.startswith("q:"):
            return data[2:] or None
        if data.startswith("k:"):
            return self.suggestions.get(data)
        return None

    def keyboard(self, reply: Reply) -> InlineKeyboardMarkup | None:
        """One button per suggestion, pressing it asks that question."""
        suggestions = [s for s in reply.suggestions if s.strip()][:MAX_SUGGESTION_BUTTONS]
        if not suggestions:
            return None
        rows = [
            [InlineKeyboardButton(_button_label(s), callback_data=self.suggestion_data(s))]
            for s in suggestions
        ]
        return InlineKeyboardMarkup(rows)

    async def deliver(
        self,
        bot: Bot,
        chat_id: int,
        parts: list[str],
        *,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
    ) -> None:
        """Send the parts in order (keyboard under the last); a blocked chat is unsubscribed."""
        try:
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                await send_html(
                    bot,
                    chat_id,
                    part,
                    reply_markup=markup if last else None,
                    reply_to=reply_to if index == 0 else None,
                )
        except Forbidden:
            self.services.chat_blocked(CHANNEL, str(chat_id))

    async def answer(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, question: str
    ) -> None:
        """Ask the engine and send its reply to the chat the update came from."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if chat is None:
            return
        reply = self.ask(question, str(user.id) if user else "", str(chat.id))
        await self.deliver(
            context.bot,
            chat.id,
            render_reply(reply),
            markup=self.keyboard(reply),
            reply_to=_reply_target(chat, message),
        )

    async def say(self, update: Update, context: ContextTypes.DEFAULT_TYPE, html_text: str) -> None:
        """Send adapter-made HTML (help, deadlines, admin output) to the update's chat."""
        chat = update.effective_chat
        if chat is None:
            return
        await self.deliver(
            context.bot,
            chat.id,
            split_message(html_text),
            reply_to=_reply_target(chat, update.effective_message),
        )

    def admin_in_private(self, update: Update) -> bool:
        """Admin commands work only for BOT_ADMINS and only in private chats, where output stays private."""
        chat, user = update.effective_chat, update.effective_user
        return (
            chat is not None
            and chat.type == ChatType.PRIVATE
            and user is not None
            and self.services.is_admin(str(user.id))
        )

    # -- public commands ------------------------------------------------------------------

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start and /help: what the bot can do, in the engine's words, plus the commands."""
        text = self.services.engine.intent_reply("help")
        commands = "\n".join(f"/{name} {escape(desc)}" for name, desc in PUBLIC_COMMANDS[2:])
        await self.say(update, context, f"{escape(text)}\n\n<b>常用命令</b>\n{commands}")

    async def deadlines(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/deadlines: every deadline with its date and countdown from now."""
        items = self.services.engine.deadlines(self.services.clock())
        now = self.services.clock()
        countdown = self.services.engine.countdown
        await self.say(update, context, format_deadlines(list(items), lambda item: countdown(item.date, now)))

    async def contact(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/contact: the contact answer, asked the way the menu asks it."""
        await self.answer(update, context, self.menu_question("CONTACT"))

    async def projects(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/projects [城市]: the observation projects, of one city when given."""
        city = " ".join(context.args or []).strip()
        question = f"{city}{self.menu_question('PROJECTS')}" if city else self.menu_question("PROJECTS")
        await self.answer(update, context, question)

    async def subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/subscribe: through the engine, so the store is updated the same way for every channel."""
        await self.answer(update, context, self.menu_question("SUBSCRIBE"))

    async def unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/unsubscribe: the inverse of /subscribe, through the same path."""
        await self.answer(update, context, self.menu_question("UNSUBSCRIBE"))

    # -- free text ------------------------------------------------------------------------

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer every private message; in groups only those addressed to the bot."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text:
            return
        question = message.text
        if chat.type != ChatType.PRIVATE:
            addressed, question = _addressed_to_bot(message, context.bot)
            if not addressed:
                return
        question = question.strip()
        if not question:
            await self.help(update, context)
            return
        await self.answer(update, context, question)

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, voice and stickers in a private chat get a hint instead of silence."""
        await self.say(update, context, escape(self.services.engine.intent_reply("non_text")))

    # -- buttons --------------------------------------------------------------------------

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed inline button: a suggested question, or an admin confirming a broadcast."""
        query = update.callback_query
        if query is None:
            return
        data = query.data or ""
        if data.startswith(("bc:", "bx:")):
            await self.broadcast_button(query, context, data)
            return
        suggestion = self.suggestion_from(data)
        if suggestion is None:
            await query.answer("这个按钮已过期，请直接输入问题。")
            return
        await query.answer()
        chat_id = query.message.chat.id if query.message else query.from_user.id
        reply = self.ask(suggestion, str(query.from_user.id), str(chat_id))
        await self.deliver(context.bot, chat_id, render_reply(reply), markup=self.keyboard(reply))

    # -- admin ----------------------------------------------------------------------------

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats for admins: how much is asked and how much goes unanswered."""
        if not self.admin_in_private(update):
            return
        await self.say(update, context, format_stats(self.services.store.stats()))

    async def unanswered(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/unanswered for admins: what the knowledge should cover next."""
        if not self.admin_in_private(update):
            return
        await self.say(update, context, format_unanswered(self.services.store.unanswered()))

    async def reload(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reload for admins: pick up edited knowledge without a restart, when the app supports it."""
        if not self.admin_in_private(update):
            return
        reload: Callable[[], Any] | None = getattr(self.services, "reload", None)
        if not callable(reload):
            await self.say(update, context, "此运行方式不支持重新加载知识库。")
            return
        admin = str(update.effective_user.id) if update.effective_user else ""
        self.quiet_admins.add(admin)  # they get the result here, not also as a notification
        try:
            result = reload()
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:  # the admin needs the reason, the bot keeps the old knowledge
            log.exception("reload failed")
            await self.say(
                update, context, f"重新加载失败，仍使用原有知识库：\n{escape(str(error))}"
            )
            return
        finally:
            self.quiet_admins.discard(admin)
        describe = getattr(result, "describe", None)
        if callable(describe):
            text = str(describe())
        elif isinstance(result, str) and result:
            text = f"已重新加载知识库。\n{result}"
        else:
            text = "已重新加载知识库。"
        await self.say(update, context, escape(text))

    async def broadcast(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/broadcast TEXT for admins: show a preview and the audience, send only after confirming."""
        if not self.admin_in_private(update):
            return
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None
        parts = (message.text or "").split(maxsplit=1)
        text = parts[1].strip() if len(parts) > 1 else ""
        if not text:
            await self.say(update, context, "用法：/broadcast 要群发的内容")
            return
        audience = len(self._broadcast_audience())
        token = secrets.token_hex(8)
        self.broadcasts.put(token, _Broadcast(admin=str(user.id), text=text))
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(f"确认发送（{audience} 人）", callback_data=f"bc:{token}"),
                    InlineKeyboardButton("取消", callback_data=f"bx:{token}"),
                ]
            ]
        )
        preview = f"<b>群发预览</b>：将发送给 {audience} 个订阅者\n\n{escape(text)}"
        parts_html = split_message(preview)
        await self.deliver(context.bot, message.chat.id, parts_html, markup=markup)

    async def broadcast_button(
        self, query: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, data: str
    ) -> None:
        """Confirm or cancel a previewed broadcast; only the admin who wrote it can."""
        if not self.services.is_admin(str(query.from_user.id)):
            await query.answer()
            return
        token = data[3:]
        pending = self.broadcasts.get(token)
        if pending is None or pending.admin != str(query.from_user.id):
            await query.answer("这条群发已处理或已过期。")
            return
        self.broadcasts.pop(token)
        chat_id = query.message.chat.id if query.message else query.from_user.id
        if data.startswith("bx:"):
            await query.answer("已取消")
            await send_html(context.bot, chat_id, "已取消群发。")
            return
        await query.answer("开始发送")
        context.application.create_task(
            self.run_broadcast(context.bot, chat_id, pending.text), update=None
        )

    def _senders(self, bot: Bot | None = None) -> dict[str, Any]:
        """Every channel that can push: Telegram itself plus what the server set up (WeChat)."""
        senders = dict(self.services.senders or {})
        if bot is not None and CHANNEL not in senders:
            senders[CHANNEL] = TelegramSender(bot, self.services)
        return senders

    def _broadcast_audience(self) -> list[Any]:
        """Active subscribers of every channel a broadcast can reach (Telegram included)."""
        return self.services.broadcast_audience({*self._senders(), CHANNEL})

    async def run_broadcast(self, bot: Bot, report_chat: int, text: str) -> None:
        """Send to every active subscriber on every pushing channel (rate-limited) and report counts."""
        report = await self.services.broadcast(text, self._senders(bot))
        await send_html(bot, report_chat, escape(report.describe()))

    # -- errors ---------------------------------------------------------------------------

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log and keep running; a chat that blocked the bot is unsubscribed."""
        error = context.error
        if isinstance(error, Forbidden) and isinstance(update, Update) and update.effective_chat:
            self.services.chat_blocked(CHANNEL, str(update.effective_chat.id))
            return
        log.error("telegram handler failed for %r", update, exc_info=error)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None and chat.type == ChatType.PRIVATE:
            try:
                await send_html(context.bot, chat.id, escape(SORRY))
            except TelegramError:
                log.warning("could not tell chat %s about the failure", chat.id)


def _button_label(text: str, limit: int = 40) -> str:
    """Button captions stay readable on a phone."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reply_target(chat: Chat, message: Message | None) -> int | None:
    """In groups answers quote the question, so it is clear whom they answer."""
    if message is None or chat.type == ChatType.PRIVATE:
        return None
    return message.message_id


def _addressed_to_bot(message: Message, bot: Bot) -> tuple[bool, str]:
    """Whether a group message is for the bot (reply to it or @mention) and the text without the mention."""
    text = message.text or ""
    username = bot.username or ""
    addressed = False
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        addressed = True
    for entity, value in message.parse_entities(
        [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    ).items():
        is_me = (
            entity.type == MessageEntity.MENTION and value.lower() == f"@{username}".lower()
        ) or (
            entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id
        )
        if is_me:
            addressed = True
            if entity.type == MessageEntity.TEXT_MENTION:
                text = text.replace(value, " ", 1)
    if username:
        pattern = re.compile(rf"@{re.escape(username)}(?![A-Za-z0-9_])", re.IGNORECASE)
        if pattern.search(text):
            addressed = True
            text = pattern.sub(" ", text)
    return addressed, re.sub(r"\s+", " ", text).strip()


# ----------------------------------------------------------------------------- application


def _file_url(api_url: str) -> str:
    """The file endpoint that goes with an API endpoint (…/bot -> …/file/bot)."""
    base = api_url.rstrip("/")
    if base.endswith("/bot"):
        return base[: -len("/bot")] + "/file/bot"
    return base + "/file/bot"


async def set_commands(application: Application, services: Service) -> None:
    """Publish the command menu; admins additionally see their commands in their own chat."""
    bot = application.bot
    public = [BotCommand(name, desc) for name, desc in PUBLIC_COMMANDS]
    await bot.set_my_commands(public)
    admin = public + [BotCommand(name, desc) for name, desc in ADMIN_COMMANDS]
    for admin_id in sorted(services.settings.admins):
        if not admin_id.lstrip("-").isdigit():
            continue
        try:
            await bot.set_my_commands(admin, scope=BotCommandScopeChat(int(admin_id)))
        except TelegramError as error:  # the admin may not have opened a chat with the bot yet
            log.info("no admin command menu for %s: %s", admin_id, error)


def build_application(services: Service, *, webhook: bool = False) -> Application:
    """The configured PTB Application; with webhook=True it has no Updater (updates come via aiohttp)."""
    settings = services.settings
    if not settings.telegram_token:
        raise ValueError("BOT_TELEGRAM_TOKEN is not set")
    handlers = _Handlers(services)

    async def post_init(application: Application) -> None:
        await set_commands(application, services)

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_url)
        .base_file_url(_file_url(settings.telegram_api_url))
        .rate_limiter(AIORateLimiter(max_retries=0))
        # A second connection lets the final getUpdates on stop go out while a cancelled
        # long poll still holds the first one.
        .get_updates_connection_pool_size(2)
        .post_init(post_init)
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["handlers"] = handlers

    new_message = filters.UpdateType.MESSAGE
    commands: list[tuple[str | list[str], Callable[..., Awaitable[None]]]] = [
        (["start", "help"], handlers.help),
        ("deadlines", handlers.deadlines),
        ("contact", handlers.contact),
        ("projects", handlers.projects),
        ("subscribe", handlers.subscribe),
        ("unsubscribe", handlers.unsubscribe),
        ("stats", handlers.stats),
        ("unanswered", handlers.unanswered),
        ("broadcast", handlers.broadcast),
        ("reload", handlers.reload),
    ]
    for names, callback in commands:
        application.add_handler(CommandHandler(names, callback, filters=new_message))
    application.add_handler(
        MessageHandler(new_message & filters.TEXT & ~filters.COMMAND, handlers.text)
    )
    application.add_handler(
        MessageHandler(
            new_message
            & filters.ChatType.PRIVATE
            & ~filters.TEXT
            & ~filters.StatusUpdate.ALL
            & ~filters.COMMAND,
            handlers.not_text,
        )
    )
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_error_handler(handlers.error)
    return application


# ----------------------------------------------------------------------------- run modes


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram must echo; derived from the token when none is configured."""
    if settings.telegram_webhook_secret:
        return str(settings.telegram_webhook_secret)
    digest = hashlib.sha256(f"webhook:{settings.telegram_token}".encode()).hexdigest()
    return digest[:64]


def webhook_path(settings: Settings) -> str:
    """The local path of the webhook route, taken from the public webhook URL."""
    return urlsplit(settings.telegram_webhook_url).path or DEFAULT_WEBHOOK_PATH


class _WebhookSlot:
    """Connects the aiohttp route to the Application that is currently running."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.application: Application | None = None

    async def handle(self, request: web.Request) -> web.Response:
        """Accept an Update only with the right secret header, then queue it for the handlers."""
        given = request.headers.get(WEBHOOK_SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return web.Response(status=403, text="forbidden")
        application = self.application
        if application is None or not application.running:
            return web.Response(status=503, text="not running")
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("update must be a JSON object")
            update = Update.de_json(data, application.bot)
        except Exception:  # noqa: BLE001 - a malformed body is the sender's problem, not a 500
            log.warning("bad webhook body from %s", request.remote)
            return web.Response(status=400, text="bad update")
        await application.update_queue.put(update)
        return web.Response(text="ok")


WEBHOOK_SLOT: web.AppKey[_WebhookSlot] = web.AppKey("telegram_webhook", _WebhookSlot)


def install_webhook_route(web_app: web.Application, settings: Settings) -> None:
    """Register the webhook route up front, for callers that start Telegram after the server froze."""
    if WEBHOOK_SLOT in web_app:
        return
    slot = _WebhookSlot(webhook_secret(settings))
    web_app[WEBHOOK_SLOT] = slot
    web_app.router.add_post(webhook_path(settings), slot.handle)


class Runner:
    """A started Telegram channel; stop() undoes start_telegram."""

    def __init__(
        self, application: Application, mode: str, slot: _WebhookSlot | None = None
    ) -> None:
        """Hold what stop() has to tear down."""
        self.application = application
        self.mode = mode
        self._handlers: _Handlers = application.bot_data["handlers"]
        self.sender = TelegramSender(application.bot, self._handlers.services)
        self._slot = slot

    @property
    def bot(self) -> Bot:
        """The bot reminders are sent with."""
        return self.application.bot

    async def notify_admins(self, text: str) -> int:
        """Tell every BOT_ADMINS id (in its private chat) about e.g. a reload; returns deliveries."""
        delivered = 0
        for admin in sorted(self._handlers.services.settings.admins):
            if admin in self._handlers.quiet_admins or not admin.lstrip("-").isdigit():
                continue
            try:
                outcome = await self.sender.send(admin, text)
            except TelegramError as error:
                log.warning("could not notify admin %s: %s", admin, error)
                continue
            delivered += outcome == Outcome.SENT
        return delivered

    async def stop(self) -> None:
        """Stop polling (or detach the webhook route), finish pending handlers, close connections."""
        if self._slot is not None:
            self._slot.application = None
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()


async def start_telegram(services: Service, web_app: web.Application | None) -> Runner:
    """Start Telegram in the running loop: polling by default, a webhook route when a URL is set."""
    settings = services.settings
    use_webhook = bool(settings.telegram_webhook_url)
    if use_webhook and web_app is None:
        raise ValueError("BOT_TELEGRAM_WEBHOOK_URL is set but there is no web server to receive it")
    application = build_application(services, webhook=use_webhook)
    slot: _WebhookSlot | None = None
    if use_webhook:
        assert web_app is not None
        if WEBHOOK_SLOT not in web_app:
            if web_app.frozen:
                raise RuntimeError(
                    "the web app is already running: call install_webhook_route() before "
                    "starting it, or start_telegram() before the server starts"
                )
            install_webhook_route(web_app, settings)
        slot = web_app[WEBHOOK_SLOT]
    await application.initialize()
    try:
        if application.post_init is not None:
            try:
                await application.post_init(application)
            except TelegramError:  # a missing command menu must not keep the bot offline
                log.exception("could not set the Telegram command menu")
        await application.start()
        if use_webhook:
            assert slot is not None
            slot.application = application
            await application.bot.set_webhook(
                settings.telegram_webhook_url,
                secret_token=slot.secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            mode = "webhook"
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, error_callback=_polling_error
            )
            mode = "polling"
    except BaseException:
        if slot is not None:
            slot.application = None
        if application.running:
            await application.stop()
        await application.shutdown()
        raise
    log.info("telegram started (%s) as @%s", mode, application.bot.username)
    return Runner(application, mode, slot)


def _polling_error(error: TelegramError) -> None:
    """Polling retries by itself; one line per failure is enough."""
    log.warning("telegram polling error: %s", error)
