"""The terminal channel: `run_bot.py ask` and `run_bot.py chat` print replies the way a person reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from bot.core.model import Reply

EXIT_WORDS = ("exit", "quit", "退出")


def render(reply: Reply, indent: str = "") -> str:
    """The answer, then the suggested questions on one line."""
    text = reply.text
    if reply.suggestions:
        text += f"\n{indent or chr(10)}您还可以问：" + " / ".join(reply.suggestions)
    return text


def repl(answer: Callable[[str], Reply], greeting: str, out: TextIO, read: Callable[[str], str] = input) -> int:
    """Ask, print, repeat until exit or end of input."""
    out.write(greeting + "\n（输入 exit 或按 Ctrl-D 退出）\n")
    while True:
        try:
            question = read("你> ")
        except (EOFError, KeyboardInterrupt):
            out.write("\n")
            return 0
        if question.strip() in EXIT_WORDS:
            return 0
        if not question.strip():
            continue
        out.write(f"机器人> {render(answer(question), indent='  ')}\n")
