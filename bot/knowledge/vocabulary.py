"""lexicon.yaml: the vocabulary shared by every notice (Cantonese, synonyms, typos, names, asking words)."""

from __future__ import annotations

import re

import yaml

from bot.core.model import Ask, Lexicon
from bot.knowledge.check import Checker, join


def read_lexicon(c: Checker, root: yaml.Node) -> Lexicon:
    f = (
        c.mapping(
            root,
            "",
            optional=(
                "cantonese",
                "synonyms",
                "typos",
                "aliases",
                "cities",
                "stopwords",
                "org_patterns",
                "fillers",
                "asks",
                "followups",
                "situation",
            ),
        )
        or {}
    )
    patterns: list[str] = []
    if "org_patterns" in f:
        for i, node in enumerate(c.sequence(f["org_patterns"], "org_patterns")):
            pattern = c.string(node, f"org_patterns[{i}]")
            try:
                if pattern:
                    re.compile(pattern)
                    patterns.append(pattern)
            except re.error as exc:
                c.fail(node, f"org_patterns[{i}]", f"不是有效的正则表达式：{exc}")
    cities: dict[str, tuple[str, ...]] = {}
    if "cities" in f:
        for name, node in (c.mapping(f["cities"], "cities", open_keys=True) or {}).items():
            if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
                cities[name] = ()
            else:
                cities[name] = tuple(c.strings(node, join("cities", name)))
    return Lexicon(
        cantonese=c.string_map(f["cantonese"], "cantonese") if "cantonese" in f else {},
        synonyms=c.string_map(f["synonyms"], "synonyms") if "synonyms" in f else {},
        typos=c.string_map(f["typos"], "typos") if "typos" in f else {},
        aliases=c.string_map(f["aliases"], "aliases") if "aliases" in f else {},
        cities=cities,
        stopwords=frozenset(c.strings(f["stopwords"], "stopwords")) if "stopwords" in f else frozenset(),
        org_patterns=tuple(patterns),
        fillers=tuple(c.strings(f["fillers"], "fillers")) if "fillers" in f else (),
        asks=_read_asks(c, f["asks"]) if "asks" in f else {},
        followups=tuple(c.strings(f["followups"], "followups")) if "followups" in f else (),
        situation=tuple(c.strings(f["situation"], "situation")) if "situation" in f else (),
    )


def _read_asks(c: Checker, node: yaml.Node) -> dict[str, Ask]:
    """`asks:` kind → {label, words, strict}: what a question may ask for and how staff name it."""
    asks: dict[str, Ask] = {}
    for kind, item in (c.mapping(node, "asks", open_keys=True) or {}).items():
        path = join("asks", kind)
        g = c.mapping(item, path, required=("label", "words"), optional=("strict",))
        if g is None:
            continue
        label = c.string(g.get("label"), join(path, "label"))
        words = c.strings(g.get("words"), join(path, "words"), 1)
        strict = True
        if "strict" in g:
            value = c.scalar(g["strict"], join(path, "strict"))
            if not isinstance(value, bool):
                c.fail(g["strict"], join(path, "strict"), f"这里应是 true 或 false，实际是“{value}”")
            strict = value is True
        if label and words:
            asks[kind] = Ask(kind, label, tuple(words), strict)
    return asks
