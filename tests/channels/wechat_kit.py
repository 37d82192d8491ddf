"""What the WeChat callback tests share: account settings and requests built the way WeChat builds them.

Signatures and encryption come from wechatpy, never from the code under test. Every request gets the
current time and a fresh nonce, as WeChat's own do: the callback refuses stale timestamps and reused
nonces.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.utils import WeChatSigner

TOKEN = "qualitymonth2021"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx7f1a2b3c4d5e6f70"
CORPID = "ww1a2b3c4d5e6f7080"
WECOM_TOKEN = "wecomtoken2021"
WECOM_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
GH = "gh_3a4b5c6d7e8f"
OPENID = "oQM_user_0001"
NOW = datetime(2021, 9, 20, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def sign(*parts: str) -> str:
    """Signature computed by wechatpy, not by the code under test."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def fresh() -> tuple[str, str]:
    """A timestamp of the real clock and a nonce never used before."""
    return str(int(time.time())), secrets.token_hex(6)


def text_xml(content: str, msg_id: str = "24000000000000001", user: str = OPENID) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(event: str, key: str = "", create_time: int = 1632103200, user: str = OPENID) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


def media_xml(msg_type: str, msg_id: str = "24000000000000099") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"<PicUrl><![CDATA[http://example.invalid/p.jpg]]></PicUrl>"
        f"<MediaId><![CDATA[media_id]]></MediaId><MsgId>{msg_id}</MsgId></xml>"
    )


def plain_query(timestamp: str | None = None, nonce: str | None = None, token: str = TOKEN) -> str:
    """The query string of a plaintext-mode POST (or of the GET verification)."""
    ts, fresh_nonce = fresh()
    timestamp, nonce = timestamp or ts, nonce or fresh_nonce
    return f"signature={sign(token, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}&openid={OPENID}"


async def post_plain(client, xml: str | bytes, query: str | None = None):
    return await client.post("/wechat?" + (query or plain_query()), data=xml)


def reply_content(body: str) -> str:
    """Parse a plaintext reply with wechatpy, as WeChat's servers would."""
    reply = parse_message(body)
    assert reply.type == "text", body
    return reply.content


def safe_request(
    xml: str,
    crypto: WeChatCrypto | None = None,
    compatible: bool = False,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> tuple[str, str]:
    """(query, body) of a message encrypted with wechatpy the way WeChat sends it in safe or compatible mode."""
    crypto = crypto or WeChatCrypto(TOKEN, AES_KEY, APPID)
    ts, fresh_nonce = fresh()
    timestamp, nonce = timestamp or ts, nonce or fresh_nonce
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    encrypt, msg_signature = envelope["Encrypt"], envelope["MsgSignature"]
    inner = "" if not compatible else xml[len("<xml>") : -len("</xml>")]
    body = f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName>{inner}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    query = (
        f"signature={sign(TOKEN, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}"
        f"&openid={OPENID}&encrypt_type=aes&msg_signature={msg_signature}"
    )
    return query, body


async def post_safe(client, xml: str, crypto: WeChatCrypto | None = None, compatible: bool = False):
    """Encrypt with wechatpy and post the way WeChat does in safe (or compatible) mode."""
    query, body = safe_request(xml, crypto, compatible)
    return await client.post("/wechat?" + query, data=body)


def wecom_request(xml: str, timestamp: str | None = None, nonce: str | None = None) -> tuple[str, str]:
    """(query, body) of a WeCom app message, encrypted with wechatpy's enterprise crypto."""
    crypto = WeComCrypto(WECOM_TOKEN, WECOM_AES_KEY, CORPID)
    ts, fresh_nonce = fresh()
    timestamp, nonce = timestamp or ts, nonce or fresh_nonce
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    body = (
        f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
        f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    )
    return f"msg_signature={envelope['MsgSignature']}&timestamp={timestamp}&nonce={nonce}", body


def wecom_text_xml(content: str, user: str = "ZhangSan", msg_id: str = "1234567890123456") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )


def decrypt_reply(body: str, crypto: WeChatCrypto | WeComCrypto) -> str:
    """Check our encrypted reply with wechatpy (signature and AES) and return its text."""
    envelope = xmltodict.parse(body)["xml"]
    inner = crypto.decrypt_message(
        body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    return reply_content(inner)
