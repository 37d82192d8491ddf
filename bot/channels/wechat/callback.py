"""WeChat Official Account (/wechat) and WeCom app (/wecom) callbacks: platform XML in, engine reply out.

Replays: a plaintext-mode signature covers the token, timestamp and nonce but not the body, so a
captured query string could carry any message. A request is refused when its timestamp is more
than 5 minutes off the real clock, and when its (timestamp, nonce) was seen before with another
body; WeChat's own retries (same body) get the reply already given. Only an encrypted body is
authenticated, so staff commands and deleting a user's data (the unfollow event) are accepted only
from encrypted messages. BOT_WECHAT_MODE picks what the Official Account endpoint accepts: plain
(no EncodingAESKey), compat (plaintext and encrypted) or safe (encrypted only; the default when a
key is set). WeCom is always encrypted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from bot.channels.http import (
    CLIENT_FAULTS,
    Refused,
    TooLarge,
    logged_path,
    plain_error,
    raw_query,
    read_body,
)
from bot.channels.wechat.crypto import (
    InvalidSignature,
    MessageCrypto,
    WeChatCryptoError,
    check_signature,
)
from bot.channels.wechat.xml import (
    MAX_BODY_BYTES,
    XMLRejected,
    encrypted_reply_xml,
    parse_message_xml,
    text_reply_xml,
)
from bot.core.model import Incoming
from bot.service import RATE_LIMITED_TEXT, Service

log = logging.getLogger(__name__)

SUCCESS = "success"  # what WeChat expects when there is nothing to say
ERROR_TEXT = "抱歉，系统暂时出了点问题，请稍后再问一次。"
TIMESTAMP_WINDOW = 300  # seconds a request's timestamp may be off the real clock
MAX_REFUSED = 10_000  # users remembered as told about the rate limit
MODES = ("plain", "compat", "safe")
# What opens WeChat's 48-hour customer-service window besides a message (its documentation's list).
WINDOW_EVENTS = frozenset({"subscribe", "click", "scan", "scancode_push", "scancode_waitmsg"})


@dataclass(frozen=True)
class Channel:
    """One callback endpoint: its channel name, token, (when set up) its message crypto and what it accepts."""

    name: str  # "wechat" | "wecom"
    token: str
    crypto: MessageCrypto | None
    always_encrypted: bool = False
    mode: str = "plain"  # plain | compat | safe


def wechat_mode(services: Service) -> str:
    """BOT_WECHAT_MODE checked against the key: a contradiction stops startup with the setting to change."""
    s = services.settings
    mode = (s.wechat_mode or ("safe" if s.wechat_aes_key else "plain")).lower()
    if mode not in MODES:
        raise ValueError(f"BOT_WECHAT_MODE must be plain, compat or safe, not {s.wechat_mode!r}")
    if mode == "plain" and s.wechat_aes_key:
        raise ValueError(
            "BOT_WECHAT_MODE=plain but BOT_WECHAT_AES_KEY is set: use compat or safe (as in the "
            "Official Account's settings), or remove the key"
        )
    if mode != "plain" and not s.wechat_aes_key:
        raise ValueError(f"BOT_WECHAT_MODE={mode} needs BOT_WECHAT_AES_KEY (the EncodingAESKey)")
    return mode


def configured_channels(services: Service) -> list[Channel]:
    """The endpoints the settings switch on; a bad EncodingAESKey or mode stops startup."""
    s = services.settings
    channels: list[Channel] = []
    if s.wechat_token:
        crypto = None
        mode = wechat_mode(services)
        if s.wechat_aes_key:
            if not s.wechat_appid:
                raise ValueError(
                    "BOT_WECHAT_AES_KEY is set but BOT_WECHAT_APPID is empty: "
                    "safe mode needs the AppID of the Official Account"
                )
            crypto = MessageCrypto(
                s.wechat_token, s.wechat_aes_key, s.wechat_appid, "BOT_WECHAT_AES_KEY"
            )
        channels.append(Channel("wechat", s.wechat_token, crypto, mode=mode))
    elif s.wechat_aes_key or s.wechat_appid:
        log.warning("WeChat callback disabled: BOT_WECHAT_TOKEN is not set")
    wecom = {
        "BOT_WECOM_CORPID": s.wecom_corpid,
        "BOT_WECOM_TOKEN": s.wecom_token,
        "BOT_WECOM_AES_KEY": s.wecom_aes_key,
    }
    if all(wecom.values()):
        crypto = MessageCrypto(s.wecom_token, s.wecom_aes_key, s.wecom_corpid, "BOT_WECOM_AES_KEY")
        channels.append(Channel("wecom", s.wecom_token, crypto, always_encrypted=True, mode="safe"))
    elif any(wecom.values()):
        missing = ", ".join(k for k, v in wecom.items() if not v)
        log.warning("WeCom callback disabled: %s not set", missing)
    return channels


def setup(app: web.Application, services: Service) -> None:
    """Add GET (URL verification) and POST (messages) routes for every configured WeChat channel."""
    for channel in configured_channels(services):
        handler = CallbackHandler(channel, services)
        path = "/" + channel.name
        app.router.add_get(path, handler.verify)
        app.router.add_post(path, handler.receive)
        log.info("%s callback at %s (%s mode)", channel.name, path, channel.mode)


class CallbackHandler:
    """Verification and message handling of one channel; every failure becomes a 4xx or a polite reply."""

    def __init__(self, channel: Channel, services: Service) -> None:
        """Bind the channel settings to the shared services."""
        self.channel = channel
        self.services = services
        self._refused: set[str] = set()  # users told they are over the limit, until let through again

    def _refusal(self, error: Exception, crypto_problem: str, request: web.Request) -> web.Response:
        """Map what went wrong with a request to its 4xx: bad input is never a 500, nor a traceback in the log."""
        if isinstance(error, TooLarge):
            return plain_error(413, "body too large")
        if isinstance(error, Refused):
            return plain_error(error.status, error.message)
        if isinstance(error, XMLRejected):
            return plain_error(error.status, str(error))
        if isinstance(error, InvalidSignature):
            return plain_error(403, "invalid signature")
        if isinstance(error, WeChatCryptoError):
            return plain_error(400, f"{crypto_problem}: {error}")
        where = f"{self.channel.name} {logged_path(request)}"
        if isinstance(error, CLIENT_FAULTS):  # the client hung up or broke its framing: one line
            log.warning("%s: request not read (%s)", where, type(error).__name__)
        else:  # a bug of ours: worth the traceback
            log.error("%s: request could not be read", where, exc_info=error)
        return plain_error(400, "bad request")

    # -- GET: URL verification ---------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """Answer the console's URL check: echo echostr (WeChat) or its decryption (WeCom)."""
        try:
            q = raw_query(request)
            echostr = q.get("echostr", "")
            if not echostr:
                raise Refused(400, "missing echostr")
            ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
            if self.channel.always_encrypted:
                assert self.channel.crypto is not None
                text = self.channel.crypto.decrypt_verified(
                    q.get("msg_signature", ""), ts, nonce, echostr
                )
            else:
                check_signature(self.channel.token, q.get("signature", ""), ts, nonce)
                text = echostr
            return web.Response(text=text, content_type="text/plain")
        except Exception as e:
            return self._refusal(e, "bad echostr", request)

    # -- POST: messages ----------------------------------------------------------------

    async def receive(self, request: web.Request) -> web.Response:
        """Authenticate, refuse replays, decrypt and parse one message, then answer it exactly once."""
        try:
            q = raw_query(request)
            body = await read_body(request, MAX_BODY_BYTES)
            message, encrypted = self._open(q, body)
            self._refuse_replay(q, body)
        except Exception as e:
            return self._refusal(e, "cannot decrypt", request)
        try:
            text = self._answer(message, authenticated=encrypted)
            if text is None:
                return web.Response(text=SUCCESS, content_type="text/plain")
            return self._render(message, text, encrypted, q.get("nonce", ""))
        except Exception:
            log.exception("%s reply failed", self.channel.name)
            return web.Response(text=SUCCESS, content_type="text/plain")

    def _open(self, q: dict[str, str], body: bytes) -> tuple[dict[str, str], bool]:
        """Check the signature and return the message fields and whether the request was encrypted."""
        ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
        encrypted = (
            self.channel.always_encrypted
            or q.get("encrypt_type", "").lower() == "aes"
            or "msg_signature" in q
        )
        if not encrypted:
            if self.channel.mode == "safe":
                raise Refused(403, "plaintext messages are refused in safe mode: encrypt them (BOT_WECHAT_MODE)")
            check_signature(self.channel.token, q.get("signature", ""), ts, nonce)
            message = parse_message_xml(body)
        else:
            if self.channel.crypto is None:
                raise Refused(400, "encrypted message but no EncodingAESKey is configured")
            outer = parse_message_xml(body)
            encrypt = outer.get("Encrypt", "").strip()
            if not encrypt:
                raise Refused(400, "missing Encrypt")
            inner = self.channel.crypto.decrypt_verified(
                q.get("msg_signature", ""), ts, nonce, encrypt
            )
            message = parse_message_xml(inner)
        for name in ("ToUserName", "FromUserName", "MsgType"):
            if not message.get(name, "").strip():
                raise Refused(400, f"missing {name}")
        return message, encrypted

    def _refuse_replay(self, q: dict[str, str], body: bytes) -> None:
        """A timestamp off the real clock, or a (timestamp, nonce) seen with another body, is a replay."""
        ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not (ts.isascii() and ts.isdigit()):
            raise Refused(400, "timestamp must be a number of seconds")
        if not nonce:
            raise Refused(400, "missing nonce")
        now = self.services.real_clock()
        if abs(now.timestamp() - int(ts)) > TIMESTAMP_WINDOW:
            raise Refused(403, "stale timestamp: more than 5 minutes from the server's clock")
        digest = hashlib.sha256(body).hexdigest()
        if not self.services.store.remember_nonce(self.channel.name, ts, nonce, digest, now):
            raise Refused(403, "replayed nonce: this timestamp and nonce came with another body")

    def _within_limit(self, user: str) -> bool:
        """The shared per-client limit, keyed by channel and user; an allowed message ends a refusal streak."""
        if self.services.limiter.check(f"{self.channel.name}:{user}") > 0:
            return False
        self._refused.discard(user)
        return True

    def _first_refusal(self, user: str) -> bool:
        """Whether this refusal is the first of a flood, the one worth a reply."""
        if user in self._refused:
            return False
        if len(self._refused) > MAX_REFUSED:  # a bound, not a policy: forgetting costs one extra reply
            self._refused.clear()
        self._refused.add(user)
        return True

    def _answer(self, message: dict[str, str], authenticated: bool) -> str | None:
        """The reply text for a message (None for 'success'), given at most once per message."""
        user = message["FromUserName"].strip()
        msg_type = message["MsgType"].strip().lower()
        event = message.get("Event", "").strip().lower() if msg_type == "event" else ""
        if event == "unsubscribe":
            # The user left. Only WeChat's own (encrypted) word deletes their data; a plaintext body
            # could be forged by anyone holding a fresh query string, so it only stops reminders.
            # Repeating either on a retry is harmless.
            if authenticated:
                self.services.forget_user(self.channel.name, user)
            else:
                self.services.store.unsubscribe(self.channel.name, user)
            return None
        if msg_type != "event" or event in WINDOW_EVENTS:
            self.services.seen(self.channel.name, user)

        def reply() -> str | None:
            if not self._within_limit(user):  # a flood: say so once, then drop quietly
                return RATE_LIMITED_TEXT if self._first_refusal(user) else None
            try:
                return self._reply_text(message, msg_type, event, user, authenticated)
            except Exception:
                log.exception("%s could not answer %s", self.channel.name, msg_type)
                return ERROR_TEXT

        return self.services.once(dedupe_key(self.channel.name, message), user, reply)

    def _ask(self, text: str, user: str) -> str:
        """One question through the shared path that answers, logs and (un)subscribes."""
        incoming = Incoming(text=text, channel=self.channel.name, user=user, chat=user)
        return self.services.ask(incoming).text

    def _reply_text(
        self, message: dict[str, str], msg_type: str, event: str, user: str, authenticated: bool
    ) -> str | None:
        """Decide what to say for each message type; None means nothing to say."""
        engine = self.services.engine
        if msg_type == "text":
            content = message.get("Content", "").strip()
            if not content:
                return None
            # staff commands only from an authenticated body: anyone could forge an admin's plaintext
            incoming = Incoming(content, self.channel.name, user, user)
            staff = self.services.admin_reply(incoming) if authenticated else None
            return staff if staff is not None else self._ask(content, user)
        if msg_type == "voice" and message.get("Recognition", "").strip():
            # Speech recognition is switched on: the user asked a question aloud.
            return self._ask(message["Recognition"].strip(), user)
        if msg_type == "event":
            if event == "subscribe":
                return engine.intent_reply("welcome")
            if event == "click":
                question = engine.menu_question(message.get("EventKey", "").strip())
                return self._ask(question, user) if question else engine.intent_reply("help")
            return None  # VIEW, LOCATION, enter_agent, ...: nothing to say
        # image, voice, video, location, link, file, ...: ask for text instead
        return engine.intent_reply("non_text")

    def _render(
        self, message: dict[str, str], text: str, encrypted: bool, nonce: str
    ) -> web.Response:
        """Wrap the text in reply XML, encrypted whenever the request was."""
        now = int(time.time())
        xml = text_reply_xml(
            to_user=message["FromUserName"].strip(),
            from_user=message["ToUserName"].strip(),
            content=text,
            create_time=now,
        )
        if encrypted:
            crypto = self.channel.crypto
            assert crypto is not None
            encrypt = crypto.encrypt(xml)
            timestamp = str(now)
            xml = encrypted_reply_xml(
                encrypt, crypto.sign(timestamp, nonce, encrypt), timestamp, nonce
            )
        return web.Response(text=xml, content_type="application/xml")


def dedupe_key(channel: str, message: dict[str, str]) -> str:
    """What makes a message the same message again: its MsgId, or (events, messages without one) its content.

    Two menu clicks in one second share FromUserName and CreateTime but not EventKey; a digest of every
    field tells apart anything else. WeChat's retries carry the same fields, so they still match.
    """
    user = message["FromUserName"].strip()
    msg_type = message["MsgType"].strip().lower()
    msg_id = message.get("MsgId", "").strip()
    if msg_id and msg_type != "event":
        return f"{user}|{channel}|{msg_id}"
    event = message.get("Event", "").strip().lower()
    event_key = message.get("EventKey", "").strip()[:64]
    digest = hashlib.sha256(json.dumps(sorted(message.items()), ensure_ascii=False).encode()).hexdigest()[:16]
    return f"{user}|{channel}|{message.get('CreateTime', '').strip()}|{event}|{event_key}|{digest}"
