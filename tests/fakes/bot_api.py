"""A recording fake of the Telegram Bot API on 127.0.0.1, so adapter tests run the real client over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 777000111
BOT_USERNAME = "quality_month_test_bot"
TOKEN = f"{BOT_ID}:TEST-token_for-fake-api"

# Parameters Telegram takes as plain strings; everything else arrives JSON-encoded.
_STRING_PARAMS = frozenset(
    {
        "text",
        "parse_mode",
        "url",
        "secret_token",
        "callback_query_id",
        "language_code",
        "chat_id",
    }
)


@dataclass
class Sent:
    """One sendMessage call as the fake saw it."""

    chat_id: str
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    params: dict[str, Any]
    message_id: int

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline keyboard buttons in reading order, empty when there is no keyboard."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard", [])
        return [button for row in rows for button in row]


@dataclass
class FakeBotApi:
    """Answers the Bot API methods the adapter uses and records every call."""

    host: str = "127.0.0.1"
    max_poll_wait: float = 1.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    answered_callbacks: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._callback_ids = itertools.count(1)
        self._blocked: set[str] = set()
        self._flood: dict[str, tuple[int, int]] = {}  # chat -> (retry_after, times left)
        self._chat_types: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on a random local port."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._dispatch)
        app.router.add_get("/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        """Wake pending long polls and stop listening."""
        self._closing.set()
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What ApplicationBuilder().base_url() needs to talk to this fake."""
        return f"http://{self.host}:{self.port}/bot"

    # ----------------------------------------------------------------- scripting

    def block(self, chat_id: int | str) -> None:
        """Make sendMessage to this chat answer 403, as when a user blocked the bot."""
        self._blocked.add(str(chat_id))

    def flood(self, chat_id: int | str, retry_after: int = 1, times: int = 1) -> None:
        """Make the next `times` sendMessage calls to this chat answer 429 with retry_after."""
        self._flood[str(chat_id)] = (retry_after, times)

    def user(self, user_id: int, name: str = "测试用户") -> dict[str, Any]:
        """A Telegram User object for a person."""
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "zh-hans"}

    def bot_user(self) -> dict[str, Any]:
        """The User object of the bot itself."""
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "质量月助手",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _chat(self, chat_id: int, chat_type: str) -> dict[str, Any]:
        self._chat_types[str(chat_id)] = chat_type
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": "测试用户"}
        return {"id": chat_id, "type": chat_type, "title": "质量月工作群"}

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue a text message (commands and @mentions get their entities) as a new Update."""
        user_id = user_id if user_id is not None else chat_id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id, chat_type),
            "from": self.user(user_id),
            "text": text,
        }
        entities = _entities(text)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self._push({"message": message})

    def push_group_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue a message written by a member of a (super)group."""
        return self.push_text(
            chat_id, text, user_id=user_id, chat_type="supergroup", reply_to=reply_to
        )

    def push_callback(self, sent: Sent, data: str, *, user_id: int | None = None) -> str:
        """Queue a press on an inline button of a message the bot sent; returns the query id."""
        chat_id = int(sent.chat_id)
        query_id = f"cbq{next(self._callback_ids)}"
        chat_type = self._chat_types.get(sent.chat_id, "private" if chat_id > 0 else "supergroup")
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id if user_id is not None else chat_id),
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                    "message": self._bot_message(sent, chat_type),
                }
            }
        )
        return query_id

    def update_for_webhook(self, chat_id: int, text: str) -> dict[str, Any]:
        """A private text Update as Telegram would POST it to a webhook (not queued for polling)."""
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id, "private"),
            "from": self.user(chat_id),
            "text": text,
        }
        entities = _entities(text)
        if entities:
            message["entities"] = entities
        return {"update_id": next(self._update_ids), "message": message}

    def _bot_message(self, sent: Sent, chat_type: str) -> dict[str, Any]:
        chat_id = int(sent.chat_id)
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id, chat_type),
            "from": self.bot_user(),
            "text": sent.text,
        }
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message

    def bot_message(self, sent: Sent) -> dict[str, Any]:
        """The Message object of something the bot sent, e.g. to reply to it."""
        chat_type = self._chat_types.get(sent.chat_id, "private")
        return self._bot_message(sent, chat_type)

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- waiting

    def sent_to(self, chat_id: int | str) -> list[Sent]:
        """Every message sent to a chat so far."""
        return [s for s in self.sent if s.chat_id == str(chat_id)]

    async def wait_sent(self, chat_id: int | str, n: int = 1, timeout: float = 5.0) -> list[Sent]:
        """Wait until at least n messages were sent to the chat; fail after timeout seconds."""

        def enough() -> bool:
            return len(self.sent_to(chat_id)) >= n

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(enough), timeout)
            except TimeoutError:
                got = [s.text[:80] for s in self.sent_to(chat_id)]
                raise AssertionError(
                    f"expected {n} message(s) to chat {chat_id} within {timeout}s, got {got}"
                ) from None
        return self.sent_to(chat_id)

    async def wait_call(
        self, method: str, n: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until the method was called at least n times; return the parameters of each call."""

        def matching() -> list[dict[str, Any]]:
            return [p for m, p in self.calls if m == method]

        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(matching()) >= n), timeout
                )
            except TimeoutError:
                raise AssertionError(f"{method} not called {n} time(s) within {timeout}s") from None
        return matching()

    async def settle(self, seconds: float = 0.5) -> None:
        """Give the bot time to (not) react, for tests that check silence."""
        await asyncio.sleep(seconds)

    # ----------------------------------------------------------------- API

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        try:
            params = await _params(request)
        except ConnectionError:  # the client gave up (e.g. polling stopped) mid-request
            return web.Response(status=499)
        self.calls.append((method, params))
        await self._notify()
        handler = getattr(self, f"_api_{method}", None)
        try:
            if handler is None:
                return _error(404, "Not Found: method not found")
            return await handler(params)
        finally:
            await self._notify()

    async def _api_getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(self.bot_user())

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {}
        return _ok(True)

    async def _api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = dict(params)
        return _ok(True)

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> web.Response:
        return _ok(
            {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
        )

    async def _api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0 and not self._closing.is_set():
            async with self._changed:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(
                            lambda: bool(self._updates) or self._closing.is_set()
                        ),
                        min(timeout, self.max_poll_wait),
                    )
                except TimeoutError:
                    pass
        limit = int(params.get("limit") or 100)
        return _ok(self._updates[:limit])

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = str(params.get("chat_id"))
        text = str(params.get("text", ""))
        if chat_id in self._blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        retry_after, left = self._flood.get(chat_id, (0, 0))
        if left > 0:
            self._flood[chat_id] = (retry_after, left - 1)
            return _error(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        sent = Sent(
            chat_id=chat_id,
            text=text,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup if isinstance(markup, dict) else None,
            params=params,
            message_id=next(self._message_ids),
        )
        self.sent.append(sent)
        chat_type = self._chat_types.get(chat_id, "private" if int(chat_id) > 0 else "supergroup")
        return _ok(self._bot_message(sent, chat_type))

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        self.answered_callbacks.append(params)
        return _ok(True)

    async def _api_setMyCommands(self, params: dict[str, Any]) -> web.Response:
        self.commands[_scope_key(params.get("scope"))] = list(params.get("commands") or [])
        return _ok(True)

    async def _api_getMyCommands(self, params: dict[str, Any]) -> web.Response:
        return _ok(self.commands.get(_scope_key(params.get("scope")), []))

    async def _api_deleteMyCommands(self, params: dict[str, Any]) -> web.Response:
        self.commands.pop(_scope_key(params.get("scope")), None)
        return _ok(True)


def _scope_key(scope: Any) -> str:
    if not scope:
        return "default"
    if isinstance(scope, dict):
        key = scope.get("type", "default")
        return f"{key}:{scope['chat_id']}" if "chat_id" in scope else key
    return str(scope)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram would attach: a leading bot command and @mentions."""
    entities: list[dict[str, Any]] = []
    command_end = 0
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        command_end = len(command)
        entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(command)})
    start = 0
    while (at := text.find("@", start)) >= 0:
        end = at + 1
        while end < len(text) and (
            text[end].isascii() and (text[end].isalnum() or text[end] == "_")
        ):
            end += 1
        if end - at > 1 and at >= command_end:
            entities.append(
                {
                    "type": "mention",
                    "offset": _utf16_len(text[:at]),
                    "length": _utf16_len(text[at:end]),
                }
            )
        start = end
    return entities


async def _params(request: web.Request) -> dict[str, Any]:
    """Read parameters the way Telegram does: query string, form fields or a JSON body."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body if isinstance(body, dict) else {})
            return params
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key, value in list(params.items()):
        if key in _STRING_PARAMS or not isinstance(value, str):
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            pass
    return params


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
