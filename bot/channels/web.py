"""Web chat page, embeddable widget and JSON API: the channel that needs no account on any platform.

Routes: ``GET /`` (chat page), ``GET /widget.js`` (the button other sites embed), ``POST /api/ask``,
``POST /api/feedback``, ``GET /api/deadlines``, ``GET /healthz`` and the page's files under
``/static/``. Bad input always gets a JSON 4xx, never a 500.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
import secrets
from datetime import datetime
from pathlib import Path

from aiohttp import web

from bot.channels.http import (
    Refused,
    Throttle,
    is_https,
    json_error,
    json_response,
    raw_query,
    read_body,
    too_many,
)
from bot.config import parse_moment
from bot.core.model import Incoming, Knowledge, Reply
from bot.service import Service

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_BODY = 16 * 1024  # bytes of a POST /api/ask body
MAX_TEXT = 2000  # characters of one question
MAX_ANSWERED = 200  # characters the engine reads: a question is short, the cost of one is bounded
SESSION_COOKIE = "qm_sid"
_SESSION_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
WEB_MENU_SKIP = frozenset({"SUBSCRIBE", "UNSUBSCRIBE", "HELP"})  # the web page cannot push reminders

# The page loads nothing from elsewhere, so the browser may refuse anything that tries to.
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
_NO_CACHE = {"Cache-Control": "no-cache"}


def frame_ancestors(origins: frozenset[str]) -> str:
    """The sites allowed to show the chat in the widget's frame (BOT_WIDGET_ORIGINS), or none."""
    return " ".join(sorted(origins)) if origins else "'none'"


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


def _json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # also bad UTF-8 and nesting deeper than the parser goes
        raise Refused(400, "请求体不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "请求体必须是 JSON 对象")
    return data


def parse_question(body: bytes) -> tuple[str, object]:
    """Validate the ask payload so the engine only ever sees a sensible question."""
    data = _json_object(body)
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
    data = _json_object(body)
    answer_id, vote = data.get("answer_id"), data.get("vote")
    if not isinstance(answer_id, str) or not re.fullmatch(r"[0-9a-f]{8,32}", answer_id):
        raise Refused(400, "缺少有效的 answer_id")
    if vote not in ("up", "down"):
        raise Refused(400, "vote 必须是 up 或 down")
    return answer_id, vote == "up"


def session_id(request: web.Request) -> str:
    """The anonymous id the page was given: the conversation's key, and the client the rate limit counts."""
    value = request.cookies.get(SESSION_COOKIE, "")
    return value if _SESSION_RE.fullmatch(value) else ""


def _cut_prefix(answer: str, full: str, shortest: int = 8) -> str:
    """The longest start of `full` that the answer shows cut off with a single "…"."""
    best = ""
    if len(full) <= shortest:
        return best
    head = full[:shortest]
    pos = answer.find("…")
    while pos != -1:
        if answer[pos - 1 : pos] != "…" and answer[pos + 1 : pos + 2] != "…":  # "……" marks left-out sentences
            start = answer.rfind(head, 0, pos)
            while start != -1:
                k = pos - start
                if len(best) < k < len(full) and answer[start:pos] == full[:k]:
                    best = full[:k]
                start = answer.rfind(head, 0, start)
        pos = answer.find("…", pos + 1)
    return best


def expansions(knowledge: Knowledge, reply: Reply) -> list[dict[str, str]]:
    """Quotes and sub-items the answer cut with "…", with their full text, so the page can expand
    them in place (the engine keeps answers short; the reader may still want the whole clause)."""
    unit = knowledge.units.get(reply.sources[0].id) if reply.sources and not reply.fallback else None
    if unit is None:
        return []
    texts = [unit.text] + [knowledge.units[c].text for c in unit.children if c in knowledge.units]
    out = []
    for full in dict.fromkeys(t.strip() for t in texts):
        shown = _cut_prefix(reply.text, full)
        if shown:
            out.append({"cut": shown + "…", "full": full})
    return out


def page_values(knowledge: Knowledge) -> dict[str, str]:
    """What the page says about itself, from the newest notice: nothing about a notice is in the HTML."""
    doc = knowledge.latest_document()
    examples = [q for key, q in knowledge.menu.items() if key not in WEB_MENU_SKIP] or list(knowledge.suggestions)
    items = "\n".join(
        f'          <li><button type="button" class="example">{html.escape(q)}</button></li>' for q in examples
    )
    return {
        "name": html.escape(f"{doc.campaign or doc.short_title}问答机器人"),
        "title": html.escape(doc.title),
        "number": html.escape(doc.number),
        "short_title": html.escape(doc.short_title or doc.title),
        "examples": items,
    }


def render_page(template: str, knowledge: Knowledge) -> str:
    """Fill ``{{name}}`` slots of the page template (values are escaped already)."""
    values = page_values(knowledge)
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), ""), template)


def _loopback(request: web.Request) -> bool:
    host = (request.url.host or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebChat:
    """Request handlers sharing one Service."""

    def __init__(self, services: Service) -> None:
        """Hold the services every handler answers from, and what the page's headers need."""
        self.services = services
        self.throttle = Throttle(services.settings, services.limiter)
        self.page_headers = {
            "Content-Security-Policy": _PAGE_CSP.format(ancestors=frame_ancestors(services.settings.widget_origins)),
            **_NO_CACHE,
        }
        self.static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        self._page: tuple[str, str] = ("", "")  # (knowledge version, rendered page)

    def _limited(self, request: web.Request) -> web.Response | None:
        wait = self.throttle.wait(request, "web", session_id(request))
        return too_many(wait) if wait else None

    async def index(self, request: web.Request) -> web.StreamResponse:
        """Serve the chat page and hand out an anonymous session id on the first visit.

        The cookie must reach us from inside the widget's frame on another site, where browsers
        send only SameSite=None cookies, which must be Secure; Partitioned (CHIPS) keeps it working
        where third-party cookies are blocked, one conversation per embedding site. Plain HTTP
        (not loopback) cannot carry such a cookie, so there it is an ordinary SameSite=Lax one.
        """
        engine = self.services.engine
        if self._page[0] != engine.version:
            template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
            self._page = (engine.version, render_page(template, engine.knowledge))
        response = web.Response(text=self._page[1], content_type="text/html", headers=self.page_headers)
        if not session_id(request):
            value = secrets.token_urlsafe(16)
            if is_https(request, self.throttle.proxies) or _loopback(request):
                # written by hand: Python 3.11's cookie module does not know Partitioned
                cookie = f"{SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=None; Partitioned"
                response.headers.add("Set-Cookie", cookie)
            else:
                response.set_cookie(SESSION_COOKIE, value, httponly=True, samesite="Lax", path="/")
        return response

    async def widget(self, request: web.Request) -> web.StreamResponse:
        """The script other sites include: a button that opens this chat in a frame."""
        return web.FileResponse(STATIC_DIR / "widget.js", headers={**_NO_CACHE, "Content-Type": "text/javascript; charset=utf-8"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        """The page's own files, by name only: nothing else on disk is reachable, however the path is spelled."""
        path = self.static_files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text="404: Not Found（没有这个文件）")
        return web.FileResponse(path, headers=_NO_CACHE)

    async def ask(self, request: web.Request) -> web.Response:
        """Answer one question through the same path (and question log) as every other channel."""
        if (limited := self._limited(request)) is not None:
            return limited
        if request.content_type != "application/json":
            raise Refused(400, "Content-Type 必须是 application/json")
        text, raw_now = parse_question(await read_body(request, MAX_BODY))
        now = parse_now(raw_now, self.services)
        sid = session_id(request)
        incoming = Incoming(text[:MAX_ANSWERED], channel="web", user=sid, chat=sid)
        reply = self.services.ask(incoming, now)
        data = reply.to_dict(text)
        data["expand"] = expansions(self.services.engine.knowledge, reply)
        return json_response(data)

    async def feedback(self, request: web.Request) -> web.Response:
        """👍/👎 under an answer: ``{"answer_id": "…", "vote": "up" | "down"}``."""
        if (limited := self._limited(request)) is not None:
            return limited
        if request.content_type != "application/json":
            raise Refused(400, "Content-Type 必须是 application/json")
        answer_id, helpful = parse_feedback(await read_body(request, MAX_BODY))
        if not self.services.feedback(answer_id, helpful, "web", session_id(request)):
            return json_error(404, "找不到这条回答，可能已过期")
        return json_response({"ok": True})

    async def deadlines(self, request: web.Request) -> web.Response:
        """Feed the page's countdown card; ``?now=`` shows the card as of another day."""
        now = parse_now(raw_query(request).get("now"), self.services)
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
    app.router.add_get("/widget.js", chat.widget)
    app.router.add_post("/api/ask", chat.ask)
    app.router.add_post("/api/feedback", chat.feedback)
    app.router.add_get("/api/deadlines", chat.deadlines)
    app.router.add_get("/healthz", chat.healthz)
    app.router.add_get("/static/{name}", chat.static, name="static")
