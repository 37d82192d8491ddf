"""WeChat Official Account (/wechat) and WeCom app (/wecom) callbacks: platform XML in, engine reply out."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiohttp import web

from bot.channels.http import Refused, TooLarge, plain_error, raw_query, read_body
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
from bot.service import Service

log = logging.getLogger(__name__)

SUCCESS = "success"  # what WeChat expects when there is nothing to say
ERROR_TEXT = "抱歉，系统暂时出了点问题，请稍后再问一次。"


@dataclass(frozen=True)
class Channel:
    """One callback endpoint: its channel name, token and (when set up) its message crypto."""

    name: str  # "wechat" | "wecom"
    token: str
    crypto: MessageCrypto | None
    always_encrypted: bool = False


def configured_channels(services: Service) -> list[Channel]:
    """The endpoints the settings switch on; a bad EncodingAESKey raises InvalidAESKey at startup."""
    s = services.settings
    channels: list[Channel] = []
    if s.wechat_token:
        crypto = None
        if s.wechat_aes_key:
            if not s.wechat_appid:
                raise ValueError(
                    "BOT_WECHAT_AES_KEY is set but BOT_WECHAT_APPID is empty: "
                    "safe mode needs the AppID of the Official Account"
                )
            crypto = MessageCrypto(
                s.wechat_token, s.wechat_aes_key, s.wechat_appid, "BOT_WECHAT_AES_KEY"
            )
        channels.append(Channel("wechat", s.wechat_token, crypto))
    elif s.wechat_aes_key or s.wechat_appid:
        log.warning("WeChat callback disabled: BOT_WECHAT_TOKEN is not set")
    wecom = {
        "BOT_WECOM_CORPID": s.wecom_corpid,
        "BOT_WECOM_TOKEN": s.wecom_token,
        "BOT_WECOM_AES_KEY": s.wecom_aes_key,
    }
    if all(wecom.values()):
        crypto = MessageCrypto(s.wecom_token, s.wecom_aes_key, s.wecom_corpid, "BOT_WECOM_AES_KEY")
        channels.append(Channel("wecom", s.wecom_token, crypto, always_encrypted=True))
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
        log.info(
            "%s callback at %s (%s)",
            channel.name,
            path,
            "encrypted" if channel.crypto else "plaintext",
        )


class CallbackHandler:
    """Verification and message handling of one channel; every failure becomes a 4xx or a polite reply."""

    def __init__(self, channel: Channel, services: Service) -> None:
        """Bind the channel settings to the shared services."""
        self.channel = channel
        self.services = services

    def _refusal(self, error: Exception, crypto_problem: str) -> web.Response:
        """Map what went wrong with a request to its 4xx: bad input is never a 500."""
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
        log.error("%s request could not be read", self.channel.name, exc_info=error)
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
            return self._refusal(e, "bad echostr")

    # -- POST: messages ----------------------------------------------------------------

    async def receive(self, request: web.Request) -> web.Response:
        """Authenticate, decrypt and parse one message, then answer it exactly once."""
        try:
            q = raw_query(request)
            body = await read_body(request, MAX_BODY_BYTES)
            message, encrypted = self._open(q, body)
        except Exception as e:
            return self._refusal(e, "cannot decrypt")
        try:
            text = self._answer(message)
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

    def _answer(self, message: dict[str, str]) -> str | None:
        """The reply text for a message (None for 'success'), given at most once per MsgId."""
        user = message["FromUserName"].strip()
        msg_type = message["MsgType"].strip().lower()
        event = message.get("Event", "").strip().lower() if msg_type == "event" else ""
        if event == "unsubscribe":
            # The user left: forget them. Repeating this on a retry is harmless.
            self.services.forget_user(self.channel.name, user)
            return None
        msg_id = message.get("MsgId", "").strip()
        if msg_id and msg_type != "event":
            key = f"{user}|{self.channel.name}|{msg_id}"
        else:
            key = f"{user}|{self.channel.name}|{message.get('CreateTime', '').strip()}|{event}"

        def reply() -> str | None:
            try:
                return self._reply_text(message, msg_type, event, user)
            except Exception:
                log.exception("%s could not answer %s", self.channel.name, msg_type)
                return ERROR_TEXT

        return self.services.once(key, user, reply)

    def _ask(self, text: str, user: str) -> str:
        """One question through the shared path that answers, logs and (un)subscribes."""
        incoming = Incoming(text=text, channel=self.channel.name, user=user, chat=user)
        return self.services.ask(incoming).text

    def _reply_text(
        self, message: dict[str, str], msg_type: str, event: str, user: str
    ) -> str | None:
        """Decide what to say for each message type; None means nothing to say."""
        engine = self.services.engine
        if msg_type == "text":
            content = message.get("Content", "").strip()
            if not content:
                return None
            staff = self.services.admin_reply(Incoming(content, self.channel.name, user, user))
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
