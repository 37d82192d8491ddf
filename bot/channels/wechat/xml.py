"""Safe parsing and building of WeChat callback XML, so hostile bodies get a 4xx and replies stay valid."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_BYTES = 2048  # WeChat's limit for a passive text reply, counted in UTF-8 bytes
ELLIPSIS = "…"

# Characters XML 1.0 cannot carry at all, not even inside CDATA.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class XMLRejected(ValueError):
    """Base of every refused body, so the handler maps them to a 4xx and never to a 500."""

    status = 400


class BodyTooLarge(XMLRejected):
    """The body exceeds MAX_BODY_BYTES; WeChat messages are a few hundred bytes."""

    status = 413


class UnsafeXML(XMLRejected):
    """A DOCTYPE or ENTITY declaration: refused outright to rule out entity expansion attacks."""


class MalformedXML(XMLRejected):
    """Not UTF-8, not well-formed, or not a WeChat `<xml>` document."""


def parse_message_xml(body: bytes | str) -> dict[str, str]:
    """Flatten a WeChat `<xml>` message into {tag: text}, refusing oversized, unsafe or broken input."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge("body too large")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MalformedXML("body is not UTF-8") from e
    lowered = text.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise UnsafeXML("DOCTYPE/ENTITY not allowed")
    try:
        # Parsing a str makes expat ignore any encoding= in the declaration.
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise MalformedXML("malformed XML") from e
    if root.tag != "xml":
        raise MalformedXML("root element must be <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str):
            fields.setdefault(child.tag, child.text or "")
    return fields


def cdata(text: str) -> str:
    """Wrap text in CDATA, splitting any `]]>` so user text can never close the section early."""
    clean = _XML_INVALID.sub("", text)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def cut_utf8(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Shorten text to at most `limit` UTF-8 bytes on a character boundary, marking the cut with an ellipsis."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    mark = ELLIPSIS.encode("utf-8")
    keep = limit - len(mark) if limit >= len(mark) else limit
    head = data[:keep].decode("utf-8", errors="ignore")
    return head + ELLIPSIS if limit >= len(mark) else head


def text_reply_xml(to_user: str, from_user: str, content: str, create_time: int) -> str:
    """A passive text reply; content is cut to WeChat's byte limit before it is wrapped."""
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(cut_utf8(content))}</Content>"
        "</xml>"
    )


def encrypted_reply_xml(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode envelope around an encrypted reply."""
    return (
        "<xml>"
        f"<Encrypt>{cdata(encrypt)}</Encrypt>"
        f"<MsgSignature>{cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{escape(timestamp)}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce>"
        "</xml>"
    )
