"""WeCom (企业微信) push: an app sends text to corp members at any time, no 48-hour window.

The app's token comes from ``/cgi-bin/gettoken?corpid=…&corpsecret=…`` (the secret of that app, not
the callback's token), and a message is ``POST /cgi-bin/message/send`` with ``touser``, ``msgtype``,
``agentid`` and ``text.content``. A member who left the corp (or is outside the app's visible range)
is refused: 81013 when every recipient is invalid, or listed in ``invaliduser`` when some are; both
unsubscribe them.
"""

from __future__ import annotations

import logging

from bot.channels.wechat.push import QUOTA, AccessTokenCache, WeChatApiError, answer_text
from bot.channels.wechat.xml import MAX_TEXT_BYTES, cut_utf8
from bot.core.model import Outcome
from bot.state.delivery import Delivery

log = logging.getLogger(__name__)

CHANNEL = "wecom"
LEFT_CORP = frozenset({81013, 60111})  # no valid recipient; userid not found


class WeComTokenCache(AccessTokenCache):
    """The app's access_token: same caching as the Official Account's, another endpoint and credentials."""

    token_path = "/cgi-bin/gettoken"
    token_invalid = frozenset({40014, 42001})  # invalid access_token, expired

    def _token_params(self) -> dict[str, str]:
        """WeCom asks for the CorpID and the app's secret."""
        return {"corpid": self.appid, "corpsecret": self.secret}


class WeComSender:
    """Pushes reminder and broadcast text to a member (chat = userid) through the app."""

    channel = CHANNEL

    def __init__(self, tokens: WeComTokenCache, agentid: int) -> None:
        """The app's token cache and its AgentId."""
        self.tokens = tokens
        self.agentid = agentid

    async def close(self) -> None:
        """Release the HTTP session at shutdown."""
        await self.tokens.close()

    async def send(self, chat: str, text: str) -> Delivery:
        """SENT; BLOCKED when the member left the corp; DEFERRED on the daily quota; else raise."""
        if not chat:
            return Delivery(Outcome.UNDELIVERABLE, CHANNEL, "no userid")
        payload = {
            "touser": chat,
            "msgtype": "text",
            "agentid": self.agentid,
            "text": {"content": cut_utf8(text, MAX_TEXT_BYTES)},
        }
        code, data = await self.tokens.call("/cgi-bin/message/send", payload)
        said = answer_text(code, data)
        invalid = set(str(data.get("invaliduser") or "").split("|"))
        if code in LEFT_CORP or (code == 0 and chat in invalid):
            log.info("wecom user %s is no longer reachable by the app", chat)
            return Delivery(Outcome.BLOCKED, CHANNEL, f"{said} invaliduser={chat}" if code == 0 else said)
        if code == 0:
            return Delivery(Outcome.SENT, CHANNEL, said)
        if code == QUOTA:
            log.warning("wecom daily API quota used up: %s", said)
            return Delivery(Outcome.DEFERRED, CHANNEL, said)
        raise WeChatApiError(code, str(data.get("errmsg", "")))
