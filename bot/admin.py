"""Staff commands shared by every channel: the same statistics whether asked in Telegram or WeChat."""

from __future__ import annotations

import contextlib
from typing import Any

from bot.core.model import Incoming
from bot.services import Services

COMMANDS = ("/stats", "/unanswered", "/reload")


def stats_lines(stats: dict[str, Any]) -> list[str]:
    """store.stats() as lines a person reads: questions, fallback rate, subscribers per channel."""
    subscribers = stats.get("subscribers") or {}
    per_channel = "，".join(f"{k} {v}" for k, v in sorted(subscribers.items())) or "0"
    lines = [
        "统计",
        f"提问数：{int(stats.get('questions', 0))}",
        f"未能回答：{int(stats.get('fallbacks', 0))}（{float(stats.get('fallback_rate', 0.0)):.0%}）",
        f"订阅者：{per_channel}",
    ]
    lines += [f"{k}：{v}" for k, v in stats.items() if k not in {"questions", "fallbacks", "fallback_rate", "subscribers"}]
    return lines


def unanswered_lines(rows: list[tuple[str, int]]) -> list[str]:
    """The most frequent unanswered questions, most asked first."""
    if not rows:
        return ["暂时没有未能回答的问题。"]
    return ["未能回答的问题（按次数）"] + [f"• {question}（{count} 次）" for question, count in rows]


def admin_reply(services: Services, incoming: Incoming) -> str | None:
    """Answer an admin's /stats, /unanswered or /reload; None for anyone else or any other text."""
    command = incoming.text.strip().split(maxsplit=1)[0].lower() if incoming.text.strip() else ""
    if command not in COMMANDS or not services.is_admin(incoming.user, incoming.channel):
        return None
    if command == "/stats":
        lines = stats_lines(services.store.stats())
        return "\n".join([*lines, f"知识库版本：{services.engine.version}"])
    if command == "/unanswered":
        return "\n".join(unanswered_lines(services.store.unanswered()))
    reload = services.reload
    if reload is None:
        return "此进程未启用重新加载。"
    with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule on
        services.background(reload())
        return f"正在重新加载知识库（当前版本 {services.engine.version}），稍后发送 /stats 查看版本。"
    return "此进程未启用重新加载。"
