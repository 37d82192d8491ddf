"""WeChat Official Account push: reminders go out through the customer-service message API.

A passive callback reply only answers the message that triggered it, so anything sent later (a
deadline reminder) has to use ``/cgi-bin/message/custom/send``. That API needs an access_token,
which WeChat rate-limits and invalidates on every fresh fetch, so one cached token is shared by
every send and fetched once however many sends need it at the same moment. WeChat accepts a
customer-service message only within 48 hours of the user's last message to the account (45015
otherwise); such a reminder is recorded as undeliverable, not retried.

WeCom (企业微信) push is out of scope here: it uses a different token endpoint and message API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.channels.wechat.xml import MAX_TEXT_BYTES, cut_utf8
from bot.core.model import Outcome

if TYPE_CHECKING:
    from bot.service import Service
    from bot.state.reminders import Sender

log = logging.getLogger(__name__)

CHANNEL = "wechat"
TIMEOUT = aiohttp.ClientTimeout(total=10)
REFRESH_MARGIN = 300.0  # seconds before expires_in at which a cached token counts as stale
DEFAULT_EXPIRES_IN = 7200  # what WeChat issues; used if a reply omits expires_in

TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, token expired
OUT_OF_WINDOW = 45015  # more than 48 h since the user's last message
UNSUBSCRIBED = 43004  # the user no longer follows the account
INVALID_OPENID = 40003
RATE_LIMITED = frozenset({45009, 45047})  # daily API quota, too many customer-service messages


class WeChatApiError(RuntimeError):
    """A WeChat API answer that is neither success nor a known per-user refusal, so the send counts as failed."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        """Keep the code so callers can tell rate limits from other failures."""
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class AccessTokenCache:
    """One access_token for the whole process, fetched once and reused until shortly before it expires."""

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

    async def _fetch(self) -> str:
        """Ask WeChat for a fresh token (caller holds the lock)."""
        self.fetches += 1
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        async with self.session().get(f"{self.api_url}/cgi-bin/token", params=params) as resp:
            data = await _json(resp)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError(_errcode(data) or -1, str(data.get("errmsg", "no access_token")))
        try:
            expires_in = float(data.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = float(DEFAULT_EXPIRES_IN)
        margin = min(self.refresh_margin, expires_in / 2)
        self._token = token
        self._valid_until = self.clock() + max(0.0, expires_in - margin)
        return token


class WeChatCustomerServiceSender:
    """Pushes reminder text to a follower (chat = openid) as a customer-service text message."""

    channel = CHANNEL

    def __init__(self, tokens: AccessTokenCache) -> None:
        """Share the process-wide token cache and its HTTP session."""
        self.tokens = tokens

    async def close(self) -> None:
        """Release the HTTP session at shutdown."""
        await self.tokens.close()

    async def send(self, chat: str, text: str) -> Outcome:
        """Deliver text; SENT, UNDELIVERABLE (48 h window, bad openid), BLOCKED (unfollowed), else raise."""
        if not chat:
            return Outcome.UNDELIVERABLE
        body = json.dumps(
            {
                "touser": chat,
                "msgtype": "text",
                "text": {"content": cut_utf8(text, MAX_TEXT_BYTES)},
            },
            ensure_ascii=False,
        ).encode("utf-8")
        for attempt in (1, 2):
            token = await self.tokens.get()
            code, data = await self._post(token, body)
            if code == 0:
                return Outcome.SENT
            if code in TOKEN_INVALID and attempt == 1:
                log.info("wechat access_token rejected (%s): fetching a new one", code)
                self.tokens.invalidate(token)
                continue
            if code == OUT_OF_WINDOW:
                log.info("wechat user %s is outside the 48 h customer-service window", chat)
                return Outcome.UNDELIVERABLE
            if code == UNSUBSCRIBED:
                log.info("wechat user %s no longer follows the account", chat)
                return Outcome.BLOCKED
            if code == INVALID_OPENID:
                log.info("wechat openid %s is not valid for this account", chat)
                return Outcome.UNDELIVERABLE
            raise WeChatApiError(code, str(data.get("errmsg", "")))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """One call to the customer-service API; network and HTTP errors propagate."""
        async with self.tokens.session().post(
            f"{self.tokens.api_url}/cgi-bin/message/custom/send",
            params={"access_token": token},
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as resp:
            data = await _json(resp)
        return _errcode(data), data


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """Decode a WeChat answer (often served as text/plain); the URL is left out because it carries secrets."""
    if resp.status != 200:
        raise WeChatApiError(-resp.status, f"HTTP {resp.status}")
    try:
        data = json.loads(await resp.read())
    except ValueError as e:
        raise WeChatApiError(-1, "answer is not JSON") from e
    if not isinstance(data, dict):
        raise WeChatApiError(-1, "answer is not a JSON object")
    return data


def _errcode(data: dict[str, Any]) -> int:
    """The errcode of an answer, 0 when absent (a token reply carries none)."""
    try:
        return int(data.get("errcode", 0))
    except (TypeError, ValueError):
        return -1


def wechat_senders(services: Service) -> dict[str, Sender]:
    """A "wechat" sender when the Official Account's appid and secret are set, so reminders can reach followers.

    WeCom push is out of scope: only the Official Account customer-service API is covered.
    """
    s = services.settings
    if not (s.wechat_appid and s.wechat_secret):
        return {}
    tokens = AccessTokenCache(s.wechat_appid, s.wechat_secret, s.wechat_api_url)
    return {CHANNEL: WeChatCustomerServiceSender(tokens)}
