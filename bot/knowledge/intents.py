"""intents.yaml: small talk, out-of-scope examples, reply templates, the menu and the WeChat template map."""

from __future__ import annotations

import re
import string

import yaml

from bot.core.model import Intent
from bot.knowledge.check import Checker, join


def opt_string(c: Checker, f: dict[str, yaml.Node], key: str, path: str, default: str = "") -> str:
    """An optional text field, or its default."""
    if key not in f:
        return default
    return c.string(f[key], join(path, key)) or default


UNIT_INTENTS = ("document", "theme", "content", "deadline", "contact", "projects")


MENU_KEYS = ("DEADLINES", "CONTACT", "PROJECTS", "SUBSCRIBE", "UNSUBSCRIBE", "HELP")


TEMPLATE_KEYS = (
    "fallback",
    "empty",
    "source",
    "deadline",
    "countdown_future",
    "countdown_today",
    "countdown_past",
    "contact",
    "contact_line",
    "rows_header",
    "row",
    "no_rows",
    "rows_cities",
    "more_items",
)


# What a WeChat template message field may say about a reminder, and how a field may be named
# (first/keyword1/remark, or the newer thing1/time2/character_string3 …).
REMINDER_VALUES = ("what", "date", "countdown", "to", "contact", "title")


TEMPLATE_FIELD = r"[a-z][a-z_]*[0-9]*"


def read_intents(
    c: Checker, root: yaml.Node | None
) -> tuple[dict[str, Intent], dict[str, str], dict[str, str], list[str]]:
    intents: dict[str, Intent] = {}
    if root is None:
        return intents, {}, {}, []
    f = c.mapping(root, "", required=("intents", "templates"), optional=("menu", "suggestions", "wechat_template")) or {}
    for name, node in (c.mapping(f.get("intents"), "intents", open_keys=True) or {}).items() if "intents" in f else []:
        path = join("intents", name)
        g = c.mapping(node, path, optional=("examples", "reply", "action", "fallback"))
        if g is None:
            continue
        action = opt_string(c, g, "action", path) or None
        if action not in (None, "subscribe", "unsubscribe", "reset"):
            c.fail(g["action"], join(path, "action"), f"“{action}”不是 subscribe、unsubscribe 或 reset")
        fallback = False
        if "fallback" in g:
            value = c.scalar(g["fallback"], join(path, "fallback"))
            if not isinstance(value, bool):
                c.fail(g["fallback"], join(path, "fallback"), f"这里应是 true 或 false，实际是“{value}”")
            fallback = value is True
        reply = c.string(g["reply"], join(path, "reply")) if "reply" in g else ""
        examples = tuple(c.strings(g["examples"], join(path, "examples"))) if "examples" in g else ()
        if not reply and name not in UNIT_INTENTS and not fallback:
            c.fail(node, join(path, "reply"), "这个意图不从知识库作答，需要写回复（reply）")
        intents[name] = Intent(name, examples, reply or "", action, fallback)
    templates = c.string_map(f["templates"], "templates") if "templates" in f else {}
    nodes = _children(f["templates"]) if "templates" in f else {}
    for key, text in templates.items():
        _check_placeholders(c, nodes.get(key), join("templates", key), text)
    for name, intent in intents.items():
        _check_placeholders(c, None, join("intents", f"{name}.reply"), intent.reply)
    if "templates" in f:
        for key in TEMPLATE_KEYS:
            if key not in templates:
                c.fail(f["templates"], join("templates", key), f"缺少模板“{key}”")
    menu = c.string_map(f["menu"], "menu") if "menu" in f else {}
    for key in MENU_KEYS:  # Telegram commands and WeChat menu buttons ask these questions
        if "intents" in f and key not in menu:
            c.fail(f.get("menu", root), join("menu", key), f"缺少菜单问题“{key}”")
    suggestions = c.strings(f["suggestions"], "suggestions") if "suggestions" in f else []
    for needed in ("help", "welcome", "non_text", "subscribe_unsupported"):
        if "intents" in f and needed not in intents:
            c.fail(f["intents"], join("intents", needed), f"缺少意图“{needed}”")
    return intents, templates, menu, suggestions


def read_wechat_template(c: Checker, root: yaml.Node | None) -> dict[str, str]:
    """The template message's field map: field names WeChat accepts, texts with reminder values only."""
    node = _children(root).get("wechat_template") if root is not None else None
    if node is None:
        return {}
    entries = c.mapping(node, "wechat_template", open_keys=True)
    if entries is None:
        return {}
    if not entries:
        c.fail(node, "wechat_template", "至少要有一个字段，例如 first: \"【截止提醒】{what}\"")
    out: dict[str, str] = {}
    for name, value_node in entries.items():
        path = join("wechat_template", name)
        if not re.fullmatch(TEMPLATE_FIELD, name):
            c.fail(value_node, path, f"“{name}”不是模板字段名（应像 first、keyword1、thing2、remark）")
            continue
        text = c.string(value_node, path)
        if text is None:
            continue
        try:
            fields = [n for _, n, _, _ in string.Formatter().parse(text) if n is not None]
        except ValueError as exc:
            c.fail(value_node, path, f"占位符的花括号没有配对（{exc}）；要写花括号本身，请写成 {{{{ 和 }}}}")
            continue
        unknown = [n for n in fields if n not in REMINDER_VALUES]
        for n in unknown:
            known = ", ".join(f"{{{v}}}" for v in REMINDER_VALUES)
            c.fail(value_node, path, f"不认识的占位符 {{{n}}}（可用 {known}）")
        if not unknown:
            out[name] = text
    return out


def _children(node: yaml.Node) -> dict[str, yaml.Node]:
    """Value nodes of a mapping by key, for locating messages (problems were reported already)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _check_placeholders(c: Checker, node: yaml.Node | None, path: str, text: str) -> None:
    """Templates take plain {name} placeholders only: {a.b} or {a[0]} would fail at answer time."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        c.fail(node, path, f"占位符的花括号没有配对（{exc}）；要写花括号本身，请写成 {{{{ 和 }}}}")
        return
    for name in fields:
        if not _FIELD.fullmatch(name):
            c.fail(node, path, f"占位符 {{{name}}} 只能是简单的名称，例如 {{date}}")


_FIELD = re.compile(r"\w+")
