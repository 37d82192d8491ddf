"""A tiny schema walker over PyYAML nodes, so every error can name its file, line and key path."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            what = " ".join(x for x in (exc.context, exc.problem) if x)
            self.problems.append(Problem(self.file, line, "", f"YAML syntax error: {what}"))
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.file, 1, "", f"YAML error: {exc}"))
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
            self.fail(node, path, f"expected a mapping, got {kind(node)}")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            sub = join(path, key or "?")
            if key is None:
                self.fail(key_node, path, "keys must be plain strings")
                continue
            if key in out:
                self.fail(key_node, sub, f"duplicate key {key!r}")
                continue
            if not open_keys and key not in required and key not in optional:
                allowed = ", ".join(required + optional)
                self.fail(key_node, sub, f"unknown key {key!r} (allowed: {allowed})")
                continue
            out[key] = value_node
        for key in required:
            if key not in out:
                self.fail(node, join(path, key), f"missing required key {key!r}")
        return out

    def sequence(self, node: yaml.Node | None, path: str) -> list[yaml.Node]:
        """A list; anything else is a problem and yields nothing."""
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, path, f"expected a list, got {kind(node)}")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node | None, path: str) -> Any:
        """Any scalar value (string, number, date), converted as YAML would."""
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, path, f"expected a single value, got {kind(node)}")
            return None
        return _construct(node)

    def string(self, node: yaml.Node | None, path: str, pattern: str | None = None) -> str | None:
        """A non-empty text; numbers are refused so a typo like `title: 1` is caught."""
        value = self.scalar(node, path)
        if value is None and isinstance(node, yaml.ScalarNode):
            self.fail(node, path, "must not be empty")
            return None
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(node, path, f"expected text, got {type(value).__name__} {value!r}")
            return None
        value = value.strip()
        if not value:
            self.fail(node, path, "must not be empty")
            return None
        if pattern and not re.fullmatch(pattern, value):
            self.fail(node, path, f"{value!r} does not match {pattern}")
            return None
        return value

    def text(self, node: yaml.Node | None, path: str) -> str | None:
        """A text where numbers are fine too (table cells, phone numbers)."""
        value = self.scalar(node, path)
        if value is None or isinstance(value, (dict, list)):
            if isinstance(node, yaml.ScalarNode):
                self.fail(node, path, "must not be empty")
            return None
        return str(value).strip()

    def integer(self, node: yaml.Node | None, path: str, low: int = 0, high: int = 10**6) -> int | None:
        """A whole number within bounds."""
        value = self.scalar(node, path)
        if isinstance(value, bool) or not isinstance(value, int):
            if value is not None:
                self.fail(node, path, f"expected a whole number, got {value!r}")
            return None
        if not low <= value <= high:
            self.fail(node, path, f"{value} is outside {low}..{high}")
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
            self.fail(node, path, f"expected a date like 2021-09-30, got {value!r}")
        return None

    def clock(self, node: yaml.Node | None, path: str) -> dt.time | None:
        """A time of day written HH:MM (quoted, or YAML reads 09:00 as a number)."""
        value = self.scalar(node, path)
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            hours, minutes = (int(x) for x in value.strip().split(":"))
            if hours < 24 and minutes < 60:
                return dt.time(hours, minutes)
        if value is not None:
            self.fail(node, path, f'expected a time like "09:00" (quoted), got {value!r}')
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
            self.fail(node, path, f"needs at least {min_len} entries, has {len(items)}")
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


def kind(node: yaml.Node | None) -> str:
    """How a node looks, in words."""
    if node is None:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.value == "" or node.tag.endswith(":null"):
        return "nothing"
    return f"the value {node.value!r}"
