"""Telegram update handlers: Bot API updates in, service calls, HTML replies out.

Buttons carry Python objects through PTB's arbitrary_callback_data (a bounded cache), so a
suggested question or a pending broadcast never has to fit into 64 bytes of callback_data.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import (
    Bot,
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
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.channels.telegram.render import (
    button_label,
    escape,
    format_deadlines,
    format_stats,
    format_unanswered,
    render_reply,
    split_message,
)
from bot.core.model import Incoming, Outcome, Reply
from bot.service import Service

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_SUGGESTION_BUTTONS = 5

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
EXPIRED = "这个按钮已过期，请直接输入问题。"
FEEDBACK_THANKS = "谢谢反馈！"


@dataclass(frozen=True)
class AskButton:
    """A suggested question under an answer: pressing it asks the question."""

    question: str


@dataclass(frozen=True)
class FeedbackButton:
    """👍 or 👎 under an answer: staff see which answers helped and review the others."""

    answer_id: str
    helpful: bool


@dataclass(frozen=True)
class BroadcastButton:
    """Confirm or cancel of a previewed broadcast; only the admin who wrote it may press it."""

    admin: str
    text: str
    confirm: bool


async def send_html(
    bot: Bot,
    chat_id: int | str,
    text: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> Message:
    """Send one HTML message; flood control is waited out by the application's AIORateLimiter."""
    kwargs: dict[str, Any] = {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": ParseMode.HTML,
        "link_preview_options": LinkPreviewOptions(is_disabled=True),
    }
    if reply_markup is not None:
        kwargs["reply_markup"] = reply_markup
    if reply_to is not None:
        kwargs["reply_parameters"] = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
    return await bot.send_message(**kwargs)


class TelegramSender:
    """Delivers reminders and broadcasts; reports a chat that blocked the bot, the service acts on it."""

    channel = CHANNEL

    def __init__(self, bot: Bot, services: Service) -> None:
        """Keep the bot to send with."""
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


class Handlers:
    """The update handlers of one Application, sharing the services and button state."""

    def __init__(self, services: Service) -> None:
        """Share the service; remember admins who asked for a reload themselves."""
        self.services = services
        self.quiet_admins: set[str] = set()

    # -- helpers --------------------------------------------------------------------------

    def menu_question(self, key: str) -> str:
        """The question a command stands for, from the knowledge's menu (check requires the keys)."""
        return self.services.engine.menu_question(key) or ""

    def ask(self, text: str, user: str, chat: str) -> Reply:
        """One question through the shared path (answer, subscribe, log)."""
        return self.services.ask(Incoming(text=text, channel=CHANNEL, user=user, chat=chat))

    def keyboard(self, reply: Reply) -> InlineKeyboardMarkup | None:
        """One button per suggestion (pressing it asks that question), then 👍/👎 under a real answer."""
        suggestions = [s for s in reply.suggestions if s.strip()][:MAX_SUGGESTION_BUTTONS]
        rows = [
            [InlineKeyboardButton(button_label(s), callback_data=AskButton(s))]
            for s in suggestions
        ]
        if reply.answer_id and reply.sources and not reply.fallback:
            rows.append(
                [
                    InlineKeyboardButton("👍 有用", callback_data=FeedbackButton(reply.answer_id, True)),
                    InlineKeyboardButton("👎 没用", callback_data=FeedbackButton(reply.answer_id, False)),
                ]
            )
        return InlineKeyboardMarkup(rows) if rows else None

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
        data = query.data
        if isinstance(data, BroadcastButton):
            await self.broadcast_button(query, context, data)
            return
        if isinstance(data, FeedbackButton):
            kept = self.services.feedback(data.answer_id, data.helpful, CHANNEL, str(query.from_user.id))
            await query.answer(FEEDBACK_THANKS if kept else EXPIRED)
            return
        if not isinstance(data, AskButton):  # forgotten by the bounded cache, or not ours
            await query.answer(EXPIRED)
            return
        await query.answer()
        chat_id = query.message.chat.id if query.message else query.from_user.id
        reply = self.ask(data.question, str(query.from_user.id), str(chat_id))
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
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        f"确认发送（{audience} 人）", callback_data=BroadcastButton(str(user.id), text, True)
                    ),
                    InlineKeyboardButton("取消", callback_data=BroadcastButton(str(user.id), text, False)),
                ]
            ]
        )
        preview = f"<b>群发预览</b>：将发送给 {audience} 个订阅者\n\n{escape(text)}"
        await self.deliver(context.bot, message.chat.id, split_message(preview), markup=markup)

    async def broadcast_button(
        self, query: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, choice: BroadcastButton
    ) -> None:
        """Confirm or cancel a previewed broadcast once; only the admin who wrote it can."""
        if choice.admin != str(query.from_user.id) or not self.services.is_admin(choice.admin):
            await query.answer()
            return
        context.drop_callback_data(query)  # both buttons of this preview are spent
        chat_id = query.message.chat.id if query.message else query.from_user.id
        if not choice.confirm:
            await query.answer("已取消")
            await send_html(context.bot, chat_id, "已取消群发。")
            return
        await query.answer("开始发送")
        context.application.create_task(self.run_broadcast(context.bot, chat_id, choice.text), update=None)

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
