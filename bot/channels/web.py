"""Web chat page and JSON API: the channel that needs no account on any platform.

Routes: ``GET /`` (chat page), ``POST /api/ask``, ``GET /api/deadlines``, ``GET /healthz`` and
the page's files under ``/static/``. Bad input always gets a JSON 4xx, never a 500.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import datetime
from pathlib import Path

from aiohttp import web

from bot.channels.http import Refused, json_error, json_response, raw_query, read_body
from bot.config import parse_moment
from bot.core.model import Incoming
from bot.service import Service

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_BODY = 16 * 1024  # bytes of a POST /api/ask body
MAX_TEXT = 2000  # characters of one question
SESSION_COOKIE = "qm_sid"
_SESSION_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")

# The page loads nothing from elsewhere, so the browser may refuse anything that tries to.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

def parse_now(value: object, services: Service) -> datetime | None:
    """Let a caller ask "as of" a moment (demos, tests); a naive time is in the bot's zone."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Refused(400, "now 必须是 ISO-8601 时间字符串")
    try:
        return parse_moment(value, services.settings.zone)
    except ValueError as exc:
        raise Refused(400, str(exc)) from None


def parse_question(body: bytes) -> tuple[str, object]:
    """Validate the ask payload so the engine only ever sees a sensible question."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # also bad UTF-8 and nesting deeper than the parser goes
        raise Refused(400, "请求体不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "请求体必须是 JSON 对象")
    text = data.get("text")
    if not isinstance(text, str):
        raise Refused(400, "缺少 text 字段（字符串）")
    text = text.strip()
    if not text:
        raise Refused(400, "问题不能为空")
    if len(text) > MAX_TEXT:
        raise Refused(413, f"问题太长（上限 {MAX_TEXT} 字）")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes
        raise Refused(400, "问题包含无效字符") from None
    return text, data.get("now")


def parse_feedback(body: bytes) -> tuple[str, bool]:
    """The answer a vote is about and whether it helped."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "请求体不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "请求体必须是 JSON 对象")
    answer_id, vote = data.get("answer_id"), data.get("vote")
    if not isinstance(answer_id, str) or not re.fullmatch(r"[0-9a-f]{8,32}", answer_id):
        raise Refused(400, "缺少有效的 answer_id")
    if vote not in ("up", "down"):
        raise Refused(400, "vote 必须是 up 或 down")
    return answer_id, vote == "up"


def session_id(request: web.Request) -> str:
    """The anonymous id the page was given, so the question log can group one visitor's turns."""
    value = request.cookies.get(SESSION_COOKIE, "")
    return value if _SESSION_RE.fullmatch(value) else ""


class WebChat:
    """Request handlers sharing one Service."""

    def __init__(self, services: Service) -> None:
        """Hold the services every handler answers from."""
        self.services = services

    async def index(self, request: web.Request) -> web.StreamResponse:
        """Serve the chat page and hand out an anonymous session id on the first visit."""
        response = web.FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)
        if not session_id(request):
            response.set_cookie(
                SESSION_COOKIE, secrets.token_urlsafe(16), httponly=True, samesite="Lax", path="/"
            )
        return response

    async def ask(self, request: web.Request) -> web.Response:
        """Answer one question through the same path (and question log) as every other channel."""
        try:
            if request.content_type != "application/json":
                raise Refused(400, "Content-Type 必须是 application/json")
            text, raw_now = parse_question(await read_body(request, MAX_BODY))
            now = parse_now(raw_now, self.services)
        except Refused as exc:
            return json_error(exc.status, exc.message)
        incoming = Incoming(text, channel="web", user=session_id(request), chat="")
        try:
            reply = self.services.ask(incoming, now)
        except Exception:
            log.exception("web: answering %r failed", text[:80])
            return json_error(500, "内部错误，请稍后再试")
        return json_response(reply.to_dict(text))

    async def feedback(self, request: web.Request) -> web.Response:
        """👍/👎 under an answer: ``{"answer_id": "…", "vote": "up" | "down"}``."""
        try:
            if request.content_type != "application/json":
                raise Refused(400, "Content-Type 必须是 application/json")
            answer_id, helpful = parse_feedback(await read_body(request, MAX_BODY))
        except Refused as exc:
            return json_error(exc.status, exc.message)
        if not self.services.feedback(answer_id, helpful, "web", session_id(request)):
            return json_error(404, "找不到这条回答，可能已过期")
        return json_response({"ok": True})

    async def deadlines(self, request: web.Request) -> web.Response:
        """Feed the page's countdown card; ``?now=`` shows the card as of another day."""
        try:
            now = parse_now(raw_query(request).get("now"), self.services)
        except Refused as exc:
            return json_error(exc.status, exc.message)
        items = self.services.engine.deadlines(now or self.services.clock())
        return json_response([d.to_dict() for d in items])

    async def healthz(self, request: web.Request) -> web.Response:
        """Tell a probe the process is up and which knowledge it answers from."""
        engine = self.services.engine
        counts = engine.counts()
        status = self.services.status
        return json_response(
            {
                "status": "ok" if status.ok else "degraded",
                "error": None if status.ok else status.describe(),
                "problems": status.problems,
                "knowledge_version": engine.version,
                "units": counts.get("units"),
                "deadlines": counts.get("deadlines"),
                "projects": counts.get("projects"),
            }
        )


def setup(app: web.Application, services: Service) -> None:
    """Mount the web chat and its API on the shared app."""
    chat = WebChat(services)
    app.router.add_get("/", chat.index)
    app.router.add_post("/api/ask", chat.ask)
    app.router.add_post("/api/feedback", chat.feedback)
    app.router.add_get("/api/deadlines", chat.deadlines)
    app.router.add_get("/healthz", chat.healthz)
    app.router.add_static("/static/", STATIC_DIR, name="static")
