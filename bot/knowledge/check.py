"""A tiny schema walker over PyYAML nodes, so every error can name its file, line and key path."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.syntax import explain

# The libyaml parser when PyYAML was built with it: several times faster, and its nodes keep their marks.
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file, located for the person who has to fix it."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"{self.file}:{self.line}:{where} {self.message}"


class KnowledgeError(Exception):
    """Raised with every problem found, not just the first, so staff fix them in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Checker:
    """Walks a composed YAML node tree, converting values and collecting problems."""

    def __init__(self, file: Path | str) -> None:
        self.file = str(file)
        self.problems: list[Problem] = []

    def fail(self, node: yaml.Node | None, path: str, message: str) -> None:
        """Record a problem at the node's line (1-based)."""
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(Problem(self.file, line, path, message))

    def compose(self, text: str) -> yaml.Node | None:
        """Parse to nodes; a syntax error becomes a located problem instead of a traceback."""
        try:
            return yaml.compose(text, Loader=_LOADER)
        except yaml.MarkedYAMLError as exc:
            line, message = explain(exc, text)
            self.problems.append(Problem(self.file, line, "", f"YAML 格式错误：{message}"))
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.file, 1, "", f"YAML 格式错误：{exc}"))
        return None

    # -- shapes -------------------------------------------------------------------------------

    def mapping(
        self,
        node: yaml.Node | None,
        path: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        open_keys: bool = False,
    ) -> dict[str, yaml.Node] | None:
        """A mapping with known keys; flags missing, unknown and duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, f"这里应是“名称: 内容”的条目，实际是{kind(node)}")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            sub = join(path, key or "?")
            if key is None:
                self.fail(key_node, path, "名称必须是普通文字")
                continue
            if key in out:
                self.fail(key_node, sub, f"“{key}”在这一项里写了两次")
                continue
            if not open_keys and key not in required and key not in optional:
                allowed = ", ".join(required + optional)
                self.fail(key_node, sub, f"不认识的名称“{key}”（可用：{allowed}）")
                continue
            out[key] = value_node
        for key in required:
            if key not in out:
                self.fail(node, join(path, key), f"缺少必填项“{key}”")
        return out

    def sequence(self, node: yaml.Node | None, path: str) -> list[yaml.Node]:
        """A list; anything else is a problem and yields nothing."""
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, path, f"这里应是列表（每项一行，以“- ”开头），实际是{kind(node)}")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node | None, path: str) -> Any:
        """Any scalar value (string, number, date), converted as YAML would."""
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, f"这里应是一个值，实际是{kind(node)}")
            return None
        return _construct(node)

    def string(self, node: yaml.Node | None, path: str, pattern: str | None = None) -> str | None:
        """A non-empty text; numbers are refused so a typo like `title: 1` is caught."""
        value = self.scalar(node, path)
        if value is None and isinstance(node, yaml.ScalarNode):
            self.fail(node, path, "不能为空")
            return None
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(node, path, f"这里应是文字，实际是{_typed(value)}（如要当作文字，请加引号）")
            return None
        value = value.strip()
        if not value:
            self.fail(node, path, "不能为空")
            return None
        if pattern and not re.fullmatch(pattern, value):
            self.fail(node, path, f"“{value}”的写法不对（编号只能用小写英文字母、数字和“-”，以字母或数字开头）")
            return None
        return value

    def text(self, node: yaml.Node | None, path: str) -> str | None:
        """A text where numbers are fine too (table cells, phone numbers)."""
        value = self.scalar(node, path)
        if value is None or isinstance(value, (dict, list)):
            if isinstance(node, yaml.ScalarNode):
                self.fail(node, path, "不能为空")
            return None
        return str(value).strip()

    def integer(self, node: yaml.Node | None, path: str, low: int = 0, high: int = 10**6) -> int | None:
        """A whole number within bounds."""
        value = self.scalar(node, path)
        if isinstance(value, bool) or not isinstance(value, int):
            if value is not None:
                self.fail(node, path, f"这里应是整数，实际是“{value}”")
            return None
        if not low <= value <= high:
            self.fail(node, path, f"{value} 超出范围（应在 {low} 到 {high} 之间）")
            return None
        return value

    def date(self, node: yaml.Node | None, path: str) -> dt.date | None:
        """A calendar date written YYYY-MM-DD."""
        value = self.scalar(node, path)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        if value is not None:
            self.fail(node, path, f"这里应是日期，写成 2021-09-30 的样子，实际是“{value}”")
        return None

    def clock(self, node: yaml.Node | None, path: str) -> dt.time | None:
        """A time of day written HH:MM (quoted, or YAML reads 09:00 as a number)."""
        value = self.scalar(node, path)
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            hours, minutes = (int(x) for x in value.strip().split(":"))
            if hours < 24 and minutes < 60:
                return dt.time(hours, minutes)
        if value is not None:
            self.fail(node, path, f'这里应是时间，写成 "09:00" 的样子（带引号），实际是“{value}”')
        return None

    def strings(self, node: yaml.Node | None, path: str, min_len: int = 0) -> list[str]:
        """A list of texts."""
        out = []
        items = self.sequence(node, path)
        for i, item in enumerate(items):
            value = self.text(item, f"{path}[{i}]")
            if value:
                out.append(value)
        if node is not None and isinstance(node, yaml.SequenceNode) and len(items) < min_len:
            self.fail(node, path, f"至少要有 {min_len} 项，现在有 {len(items)} 项")
        return out

    def string_map(self, node: yaml.Node | None, path: str) -> dict[str, str]:
        """A mapping of text to text (lexicon tables)."""
        entries = self.mapping(node, path, open_keys=True) or {}
        out = {}
        for key, value in entries.items():
            text = self.text(value, join(path, key))
            if text:
                out[key] = text
        return out


def _construct(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value
    finally:
        loader.dispose()


def join(path: str, key: str) -> str:
    """Dotted key path for messages."""
    return f"{path}.{key}" if path else key


def _typed(value: Any) -> str:
    """A non-text value as staff typed it: 2021 is a number, 2021-09-30 a date, yes a true/false."""
    if isinstance(value, bool):
        return f"是/否值“{value}”"
    if isinstance(value, (dt.date, dt.datetime)):
        return f"日期“{value}”"
    if isinstance(value, (int, float)):
        return f"数字“{value}”"
    return f"“{value}”"


def kind(node: yaml.Node | None) -> str:
    """How a node looks, in words."""
    if node is None:
        return "空的"
    if isinstance(node, yaml.MappingNode):
        return "“名称: 内容”的条目"
    if isinstance(node, yaml.SequenceNode):
        return "列表"
    if node.value == "" or node.tag.endswith(":null"):
        return "空的"
    return f"“{node.value}”"
