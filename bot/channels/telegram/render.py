"""Telegram HTML for the service's replies: escaped, headings bold, split to the Bot API's limit."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from bot.core.model import DeadlineInfo, Reply
from bot.core.text import cn_date
from bot.service import stats_lines, unanswered_lines

MESSAGE_LIMIT = 4096  # Bot API limit on the text of one message
_SOFT_BREAKS = "\n。！？；;!?，, "


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a long answer into messages Telegram accepts, on line boundaries wherever possible."""
    if limit < 16:
        raise ValueError("limit must be at least 16 characters")
    text = text.strip("\n")
    if len(text) <= limit:
        return [text] if text.strip() else []
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        pieces = _cut_line(line, limit) if len(line) > limit else [line]
        for piece in pieces:
            extra = len(piece) + (1 if current else 0)
            if current and size + extra > limit:
                parts.append("\n".join(current))
                current, size = [], 0
                extra = len(piece)
            current.append(piece)
            size += extra
    if current:
        parts.append("\n".join(current))
    return [p.strip("\n") for p in parts if p.strip()]


def _cut_line(line: str, limit: int) -> list[str]:
    """Cut one over-long line at sentence punctuation, never inside an HTML entity like &amp;."""
    pieces: list[str] = []
    while len(line) > limit:
        window = line[:limit]
        cut = max(window.rfind(ch) for ch in _SOFT_BREAKS) + 1
        if cut <= limit // 2:
            cut = limit
        amp = line.rfind("&", max(0, cut - 10), cut)
        if amp >= 0 and ";" not in line[amp:cut]:
            cut = amp if amp > 0 else cut
        pieces.append(line[:cut])
        line = line[cut:]
    if line:
        pieces.append(line)
    return pieces


def escape(text: str) -> str:
    """Make engine or user text inert in HTML parse mode."""
    return html.escape(text, quote=False)


def render_reply(reply: Reply) -> list[str]:
    """The HTML messages for one answer: escaped text, heading bold, source italic, split to fit."""
    lines = []
    for number, line in enumerate(reply.text.strip("\n").split("\n")):
        safe = escape(line)
        if number == 0 and line.startswith("【") and len(line) <= 200:
            safe = f"<b>{safe}</b>"
        elif line.startswith("——") and len(line) <= 400:
            safe = f"<i>{safe}</i>"
        lines.append(safe)
    return split_message("\n".join(lines)) or [escape("（没有内容）")]


def format_deadlines(deadlines: list[DeadlineInfo], countdown: Callable[[DeadlineInfo], str]) -> str:
    """HTML list of deadlines with date and countdown (worded by the knowledge's templates)."""
    if not deadlines:
        return "目前没有登记的截止日期。"
    lines = ["<b>截止日期</b>"]
    for item in deadlines:
        day = cn_date(item.date)
        line = f"• <b>{escape(day)}</b>：{escape(item.what)}"
        if item.document:
            line += f"（{escape(item.document)}）"
        lines.append(line)
        lines.append(f"    {escape(countdown(item))}")
    return "\n".join(lines)


def format_stats(stats: dict[str, Any]) -> str:
    """HTML summary of store.stats() for an admin."""
    head, *rest = stats_lines(stats)
    return "\n".join([f"<b>{escape(head)}</b>", *(escape(line) for line in rest)])


def format_unanswered(rows: list[tuple[str, int]]) -> str:
    """HTML list of the most frequent unanswered questions, for an admin."""
    lines = unanswered_lines(rows)
    if not rows:
        return escape(lines[0])
    return "\n".join([f"<b>{escape(lines[0])}</b>", *(escape(line) for line in lines[1:])])


def button_label(text: str, limit: int = 40) -> str:
    """Button captions stay readable on a phone."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
