"""What every HTTP channel shares: the capped body reader, 4xx refusals, query parsing, client
addresses behind proxies, per-client limits, security headers, error mapping and connection limits.

`install(app, settings)` puts the shared middleware on the app; `GuardedSite` listens with the
connection cap and the request-head timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import unquote

from aiohttp import web, web_response
from aiohttp.http_exceptions import HttpProcessingError

from bot.config import Settings
from bot.state.limits import RateLimiter, Unlimited

log = logging.getLogger(__name__)
_dumps = partial(json.dumps, ensure_ascii=False)

SERVER_NAME = "qm-bot"  # the Server header: no product versions for a scanner to match
LOGGED_PATH = 120  # characters of a request path that reach the log
# Everything that is not a page of ours: nothing to render, nothing to frame.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DEFAULT_BODY_TIMEOUT = 10.0
BODY_TIMEOUT: web.AppKey[float] = web.AppKey("body_timeout", float)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    """Read at most `limit` bytes within the body timeout, refusing larger or slower bodies early.

    Done here rather than with aiohttp's client_max_size, which is app-wide and too coarse. The
    limit counts decoded bytes, so a small gzip bomb is refused like a large body.
    """
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(limit)
    body = bytearray()
    try:
        async with asyncio.timeout(request.config_dict.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)):
            async for chunk in request.content.iter_chunked(16384):
                body.extend(chunk)
                if len(body) > limit:
                    raise TooLarge(limit)
    except TimeoutError:
        raise Refused(408, "请求体发送太慢，已超时") from None
    except (web.RequestPayloadError, HttpProcessingError):  # e.g. Content-Encoding: gzip on a body that is not
        raise Refused(400, "请求体无法按 Content-Encoding 解码") from None
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


# What a client (not the bot) did wrong while its body was read: it hung up, or its framing broke.
# Worth one WARNING line, never a traceback.
CLIENT_FAULTS: tuple[type[BaseException], ...] = (ConnectionError, HttpProcessingError, web.RequestPayloadError)


def cut(text: str, limit: int = LOGGED_PATH) -> str:
    """One log-sized line: a 5,000-character path or parser message must not flood the log."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def logged_path(request: web.BaseRequest) -> str:
    """The request line as it goes into a log message."""
    return f"{request.method} {cut(request.path)}"


# -- who is asking -------------------------------------------------------------------------------


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """BOT_TRUSTED_PROXIES as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(text: str, proxies: tuple[Network, ...]) -> bool:
    ip = _ip(text)
    return ip is not None and any(ip in net for net in proxies)


def client_address(request: web.BaseRequest, proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer, or what a trusted proxy wrote into X-Forwarded-For.

    Hops are read from the right (the nearest proxy appends last); the first one that is not a
    trusted proxy is the client. From an untrusted peer the header is ignored, since anyone can send it.
    """
    peer = request.remote or ""
    if not _trusted(peer, proxies):
        return peer
    hops = [h for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            return peer
        if not any(ip in net for net in proxies):
            return str(ip)
    return str(_ip(hops[0]) or peer) if hops else peer


def is_https(request: web.BaseRequest, proxies: tuple[Network, ...]) -> bool:
    """Whether the visitor's browser speaks HTTPS to us (directly or to a trusted TLS proxy)."""
    if request.secure:
        return True
    return _trusted(request.remote or "", proxies) and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


class Throttle:
    """Per-client limits for one HTTP channel, with a ceiling per address.

    The client is a session when the channel knows one, else the address. The address ceiling
    (BOT_RATE_PER_ADDRESS) leaves room for an office behind one NAT while stopping a client that
    invents a new session for every request.
    """

    def __init__(self, settings: Settings, per_client: RateLimiter | Unlimited) -> None:
        """`per_client` is the service's limiter (shared with other channels, keys prefixed)."""
        self.proxies = parse_networks(settings.trusted_proxies)
        self.per_client = per_client
        if isinstance(per_client, Unlimited):
            self.per_address: RateLimiter | Unlimited = Unlimited()
        else:
            scale = settings.rate_per_address / settings.rate_per_minute
            burst = max(settings.rate_burst, round(settings.rate_burst * scale))
            self.per_address = RateLimiter(settings.rate_per_address, burst)

    def wait(self, request: web.BaseRequest, channel: str, client: str = "") -> float:
        """Seconds to wait before the next request (0.0: go ahead); takes a token when allowed."""
        address = client_address(request, self.proxies)
        key = f"{channel}:s:{client}" if client else f"{channel}:a:{address}"
        return self.per_client.check(key) or self.per_address.check(f"{channel}:a:{address}")


def too_many(wait: float) -> web.Response:
    """429 with Retry-After in whole seconds and a message the page shows as it is."""
    seconds = max(1, math.ceil(wait))
    response = json_error(429, f"提问太频繁，请 {seconds} 秒后再试")
    response.headers["Retry-After"] = str(seconds)
    return response


# -- on every response ------------------------------------------------------------------------------


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """nosniff, no referrer, a CSP (a page sets its own first), and a Server header without versions."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    headers["Server"] = SERVER_NAME


def _middleware(guard: ConnectionGuard) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Refusals become their 4xx, a vanished client one warning line, a bug a logged 500 in Chinese."""
        guard.arrived(request.protocol)
        try:
            response = await handler(request)
        except web.HTTPException:
            raise
        except Refused as exc:
            response = json_error(exc.status, exc.message)
        except ConnectionError as exc:
            log.warning("%s: client went away (%s)", logged_path(request), type(exc).__name__)
            return web.Response(status=400, text="client went away")
        except Exception:
            log.exception("%s failed", logged_path(request))
            response = json_error(500, "内部错误，请稍后再试")
        if request.content.exception() is not None or not request.content.is_eof():
            # a body left unread (refused, too slow, undecodable) cannot be skipped reliably: say
            # Connection: close, so the client does not send its next request down this connection
            response.force_close()
        return response

    return errors


class ProtocolNoise(logging.Filter):
    """aiohttp logs malformed requests and vanished clients as errors with tracebacks: make each one
    warning line, cut, since they are the client's doing and say nothing about the bot."""

    QUIET = (HttpProcessingError, web.RequestPayloadError, ConnectionError)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, self.QUIET):
            detail = getattr(exc, "message", "") or str(exc)
            record.msg, record.args = "%s: %s", (cut(record.getMessage()), cut(f"{type(exc).__name__}: {detail}", 200))
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def quiet_protocol_noise() -> None:
    """Install ProtocolNoise on aiohttp's server logger once."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ProtocolNoise) for f in logger.filters):
        logger.addFilter(ProtocolNoise())


# -- connections ------------------------------------------------------------------------------------

_BUSY_TEXT = "服务器繁忙，请稍后再试".encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 5\r\n"
    b"Connection: close\r\nServer: " + SERVER_NAME.encode() + b"\r\nContent-Length: "
    + str(len(_BUSY_TEXT)).encode() + b"\r\n\r\n" + _BUSY_TEXT
)


class _Busy(asyncio.Protocol):
    """Answers a connection over the cap with 503 and closes it, without parsing anything."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Say busy, hang up."""
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY)
        transport.close()


class ConnectionGuard:
    """Caps open connections (BOT_MAX_CONNECTIONS) and closes those that send no request head in
    BOT_HEADER_TIMEOUT seconds (aiohttp itself waits for a head as long as its keep-alive timeout)."""

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        """Limits from the settings."""
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self._waiting: dict[object, asyncio.TimerHandle] = {}
        self._pending = 0  # protocols made whose connection_made has not run yet
        self._warned = 0.0

    def factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """The protocol factory a site listens with."""

        def make() -> asyncio.BaseProtocol:
            loop = asyncio.get_running_loop()
            if len(server.connections) + self._pending >= self.max_connections:
                if time.monotonic() - self._warned > 10:
                    self._warned = time.monotonic()
                    log.warning("connection refused: %d open, the cap is %d", len(server.connections), self.max_connections)
                return _Busy()
            handler = server()
            self._pending += 1
            # connection_made is scheduled right after this returns: settle the count after it
            loop.call_soon(loop.call_soon, self._settle)
            self._waiting[handler] = loop.call_later(self.header_timeout, self._expire, handler)
            return handler

        return make

    def _settle(self) -> None:
        self._pending -= 1

    def _expire(self, handler: web.RequestHandler) -> None:
        if self._waiting.pop(handler, None) is not None:
            handler.force_close()

    def arrived(self, protocol: object) -> None:
        """A request head came in time: the connection is an ordinary keep-alive one from now on."""
        timer = self._waiting.pop(protocol, None)
        if timer is not None:
            timer.cancel()


CONNECTIONS: web.AppKey[ConnectionGuard] = web.AppKey("connections", ConnectionGuard)


class GuardedSite(web.TCPSite):
    """A TCP site whose connections go through the app's ConnectionGuard."""

    __slots__ = ()

    async def start(self) -> None:
        """TCPSite.start with the guarded protocol factory."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None and isinstance(self._runner, web.AppRunner)
        guard = self._runner.app[CONNECTIONS]
        self._server = await asyncio.get_running_loop().create_server(
            guard.factory(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


def install(app: web.Application, settings: Settings) -> None:
    """The shared middleware: error mapping, security headers, body timeout, head timeout, quiet logs."""
    guard = ConnectionGuard(settings.max_connections, settings.header_timeout)
    app[CONNECTIONS] = guard
    app[BODY_TIMEOUT] = settings.body_timeout
    app.middlewares.append(_middleware(guard))
    app.on_response_prepare.append(_security_headers)
    # aiohttp answers malformed requests itself, before any app hook: its default names its version
    setattr(web_response, "SERVER_SOFTWARE", SERVER_NAME)  # noqa: B010
    quiet_protocol_noise()
