"""Starting and stopping Telegram inside the one asyncio loop: polling, or a webhook on the aiohttp app.

Lifecycle is PTB's own: the Application is entered as an async context manager (initialize /
shutdown), flood control is AIORateLimiter's, button data is PTB's bounded callback-data cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.channels.telegram.handlers import ADMIN_COMMANDS, PUBLIC_COMMANDS, Handlers, TelegramSender
from bot.config import Settings
from bot.core.model import Outcome
from bot.service import Service

log = logging.getLogger(__name__)

WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
FLOOD_RETRIES = 1  # one flood-control wait per send; a second refusal means the send failed
CALLBACK_CACHE = 2048  # button payloads remembered; an older button answers "expired"


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
    handlers = Handlers(services)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_url)
        .base_file_url(_file_url(settings.telegram_api_url))
        .rate_limiter(AIORateLimiter(max_retries=FLOOD_RETRIES))
        .arbitrary_callback_data(CALLBACK_CACHE)
        # A second connection lets the final getUpdates on stop go out while a cancelled
        # long poll still holds the first one.
        .get_updates_connection_pool_size(2)
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["handlers"] = handlers

    new_message = filters.UpdateType.MESSAGE
    commands: list[tuple[str | list[str], Callable[..., Coroutine[Any, Any, None]]]] = [
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
        self,
        application: Application,
        mode: str,
        stack: contextlib.AsyncExitStack,
        slot: _WebhookSlot | None = None,
    ) -> None:
        """Hold what stop() has to tear down."""
        self.application = application
        self.mode = mode
        self._stack = stack
        self._handlers: Handlers = application.bot_data["handlers"]
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
        await self._stack.aclose()  # the Application's own shutdown


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
    stack = contextlib.AsyncExitStack()
    try:
        await stack.enter_async_context(application)  # initialize now, shutdown on aclose()
        try:
            await set_commands(application, services)
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
        await stack.aclose()
        raise
    log.info("telegram started (%s) as @%s", mode, application.bot.username)
    return Runner(application, mode, stack, slot)


def _polling_error(error: TelegramError) -> None:
    """Polling retries by itself; one line per failure is enough."""
    log.warning("telegram polling error: %s", error)
