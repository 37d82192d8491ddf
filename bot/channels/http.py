"""What every HTTP channel shares: one capped body reader, one 4xx refusal, raw query parsing, loggable paths."""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

_dumps = partial(json.dumps, ensure_ascii=False)


class Refused(Exception):
    """A request answered with a 4xx and a short message instead of being served."""

    def __init__(self, status: int, message: str) -> None:
        """Keep status and message together so every refusal is answered the same way."""
        super().__init__(message)
        self.status = status
        self.message = message


class TooLarge(Refused):
    """A body over the channel's limit: 413, worded for people (callbacks may word it for platforms)."""

    def __init__(self, limit: int) -> None:
        """Name the limit in the message."""
        size = f"{limit // 1024} KiB" if limit >= 1024 else f"{limit} 字节"
        super().__init__(413, f"请求太大（上限 {size}）")
        self.limit = limit


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most `limit` bytes, refusing larger bodies early instead of buffering them.

    Done here rather than with aiohttp's client_max_size, which is app-wide and too coarse.
    """
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(limit)
    body = bytearray()
    async for chunk in request.content.iter_chunked(16384):
        body.extend(chunk)
        if len(body) > limit:
            raise TooLarge(limit)
    return bytes(body)


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with Chinese left readable, for curl users as much as for the page."""
    return web.json_response(data, status=status, dumps=_dumps)


def json_error(status: int, message: str) -> web.Response:
    """The one error shape of the JSON API: ``{"error": ...}``."""
    return json_response({"error": message}, status=status)


def plain_error(status: int, message: str) -> web.Response:
    """A refusal as plain text, for platform callbacks that do not speak JSON."""
    return web.Response(status=status, text=message, content_type="text/plain")


def raw_query(request: web.Request) -> dict[str, str]:
    """Query parameters with percent-escapes decoded but a raw `+` kept (aiohttp makes it a space).

    Base64 fields (WeChat's echostr) and ISO times with +08:00 need the plus.
    """
    params: dict[str, str] = {}
    for pair in request.rel_url.raw_query_string.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name), unquote(value))
    return params


LOGGED_PATH = 120  # characters of a request's path and query that a log line carries
# What a client (not the bot) did wrong while its body was read: it hung up, or its framing broke.
# Worth one WARNING line, never a traceback.
CLIENT_FAULTS: tuple[type[BaseException], ...] = (ConnectionError, HttpProcessingError, RequestPayloadError)


def logged_path(request: web.Request, limit: int = LOGGED_PATH) -> str:
    """The request's path and query cut short for a log line: a hostile 5,000-character URL is not copied."""
    path = request.rel_url.raw_path_qs
    return path if len(path) <= limit else path[: limit - 1] + "…"
