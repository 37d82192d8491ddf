"""WeChat push, the shared part: the access-token cache, one authenticated API call, the customer-service sender.

A passive callback reply only answers the message that triggered it, so anything sent later (a
reminder, a broadcast) goes through the platform's APIs. They need an access_token, which WeChat
rate-limits and invalidates on every fresh fetch, so one cached token is shared by every send of an
account (customer-service and template messages alike) and fetched once however many sends need it
at the same moment. ``/cgi-bin/message/custom/send`` reaches a follower only within 48 hours of
their last message (45015 otherwise). Template messages (``template``) and the WeCom app
(``wecom``) build on the same cache and call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.channels.wechat.xml import MAX_TEXT_BYTES, cut_utf8
from bot.core.model import Outcome
from bot.state.delivery import Delivery

log = logging.getLogger(__name__)

CHANNEL = "wechat"
TIMEOUT = aiohttp.ClientTimeout(total=10)
REFRESH_MARGIN = 300.0  # seconds before expires_in at which a cached token counts as stale
DEFAULT_EXPIRES_IN = 7200  # what WeChat issues; used if a reply omits expires_in

TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, token expired
OUT_OF_WINDOW = 45015  # more than 48 h since the user's last message
UNSUBSCRIBED = 43004  # the user no longer follows the account
INVALID_OPENID = 40003
QUOTA = 45009  # the API's daily quota is used up: try again tomorrow
CUSTOMER_SERVICE = "customer_service"  # the path name kept with each reminder


class WeChatApiError(RuntimeError):
    """A WeChat API answer that is neither success nor a known per-user refusal, so the send counts as failed."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        """Keep the code so callers can tell rate limits from other failures."""
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class AccessTokenCache:
    """One access_token for the whole process, fetched once and reused until shortly before it expires."""

    token_path = "/cgi-bin/token"
    token_invalid = TOKEN_INVALID  # answers that mean "fetch a new token and call once more"

    def __init__(
        self,
        appid: str,
        secret: str,
        api_url: str = "https://api.weixin.qq.com",
        *,
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep the credentials; no session is opened until a token is first needed."""
        self.appid = appid
        self.secret = secret
        self.api_url = api_url.rstrip("/")
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.fetches = 0
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The one HTTP session of this cache (created on first use), so sends share its connection pool."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def close(self) -> None:
        """Release the connection pool at shutdown."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _current(self) -> str | None:
        """The cached token while it is still fresh, else None."""
        if self._token is not None and self.clock() < self._valid_until:
            return self._token
        return None

    async def get(self) -> str:
        """A valid token; concurrent callers wait for a single fetch instead of each fetching."""
        token = self._current()
        if token is not None:
            return token
        async with self._lock:
            token = self._current()  # another caller may have fetched while we waited
            if token is not None:
                return token
            return await self._fetch()

    def invalidate(self, stale: str | None = None) -> None:
        """Drop the cached token so the next get() fetches; with `stale`, only if that is still the cached one."""
        if stale is None or stale == self._token:
            self._token = None
            self._valid_until = 0.0

    def _token_params(self) -> dict[str, str]:
        """The token endpoint's query: the Official Account's appid and secret."""
        return {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}

    async def call(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST JSON with the cached token; a token the platform rejects is replaced and the call made once more.

        Returns the answer's errcode and body; network and HTTP errors propagate.
        """
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        for attempt in (1, 2):
            token = await self.get()
            async with self.session().post(
                f"{self.api_url}{path}",
                params={"access_token": token},
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            ) as resp:
                data = await read_answer(resp)
            code = errcode(data)
            if code in self.token_invalid and attempt == 1:
                log.info("access_token rejected (%s): fetching a new one", code)
                self.invalidate(token)
                continue
            return code, data
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(self) -> str:
        """Ask WeChat for a fresh token (caller holds the lock)."""
        self.fetches += 1
        async with self.session().get(f"{self.api_url}{self.token_path}", params=self._token_params()) as resp:
            data = await read_answer(resp)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError(errcode(data) or -1, str(data.get("errmsg", "no access_token")))
        try:
            expires_in = float(data.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = float(DEFAULT_EXPIRES_IN)
        margin = min(self.refresh_margin, expires_in / 2)
        self._token = token
        self._valid_until = self.clock() + max(0.0, expires_in - margin)
        return token


class WeChatCustomerServiceSender:
    """Pushes text to a follower (chat = openid) as a customer-service message; the caller minds the 48 hours."""

    channel = CHANNEL

    def __init__(self, tokens: AccessTokenCache) -> None:
        """Share the account's token cache and its HTTP session."""
        self.tokens = tokens

    async def close(self) -> None:
        """Release the HTTP session at shutdown."""
        await self.tokens.close()

    async def send(self, chat: str, text: str) -> Delivery:
        """SENT; UNDELIVERABLE (48 h window, bad openid); BLOCKED (unfollowed); DEFERRED (quota); else raise."""
        if not chat:
            return Delivery(Outcome.UNDELIVERABLE, CUSTOMER_SERVICE, "no openid")
        payload = {"touser": chat, "msgtype": "text", "text": {"content": cut_utf8(text, MAX_TEXT_BYTES)}}
        code, data = await self.tokens.call("/cgi-bin/message/custom/send", payload)
        said = answer_text(code, data)
        if code == 0:
            return Delivery(Outcome.SENT, CUSTOMER_SERVICE, said)
        if code == OUT_OF_WINDOW:
            log.info("wechat user %s is outside the 48 h customer-service window", chat)
            return Delivery(Outcome.UNDELIVERABLE, CUSTOMER_SERVICE, said)
        if code == UNSUBSCRIBED:
            log.info("wechat user %s no longer follows the account", chat)
            return Delivery(Outcome.BLOCKED, CUSTOMER_SERVICE, said)
        if code == INVALID_OPENID:
            log.info("wechat openid %s is not valid for this account", chat)
            return Delivery(Outcome.UNDELIVERABLE, CUSTOMER_SERVICE, said)
        if code == QUOTA:
            log.warning("wechat daily API quota used up: %s", said)
            return Delivery(Outcome.DEFERRED, CUSTOMER_SERVICE, said)
        raise WeChatApiError(code, str(data.get("errmsg", "")))


async def read_answer(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """Decode a WeChat/WeCom answer (often served as text/plain); the URL is left out because it carries secrets."""
    if resp.status != 200:
        raise WeChatApiError(-resp.status, f"HTTP {resp.status}")
    try:
        data = json.loads(await resp.read())
    except ValueError as e:
        raise WeChatApiError(-1, "answer is not JSON") from e
    if not isinstance(data, dict):
        raise WeChatApiError(-1, "answer is not a JSON object")
    return data


def errcode(data: dict[str, Any]) -> int:
    """The errcode of an answer, 0 when absent (a token reply carries none)."""
    try:
        return int(data.get("errcode", 0))
    except (TypeError, ValueError):
        return -1


def answer_text(code: int, data: dict[str, Any]) -> str:
    """The platform's answer as kept with a reminder: "0 ok", "43004 require subscribe"."""
    return f"{code} {data.get('errmsg', '')}".strip()
