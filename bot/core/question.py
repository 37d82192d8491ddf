"""Reading a message the way people type it: padding, who they are, several questions, what each asks for.

A message becomes one or more parts. Each part knows the kinds of fact it asks for (the lexicon's
`asks`), whether it leans on the previous turn (那深圳呢, 它, 下一个 …), and what is left of it once
the asking words and padding are gone (its subject). Everything tunable is in the lexicon.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.model import Ask, Lexicon
from bot.core.text import fold

# Clause boundaries in the raw message (before normalisation removes punctuation).
_CLAUSES = re.compile(r"[，,。？?！!；;\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
# Words that make a clause a question even without a kind of fact (是什么, 吗, 有没有 …).
_QUESTION = re.compile(
    r"什么|啥|哪|谁|几|多少|怎么|怎样|如何|吗|呢|么|是否|是不是|有没有|要不要|能不能|可不可以|可否|为什么|"
    r"多久|没有|行不行|对不对|好不好|\?|？"
)
# Function words that say nothing about the subject of a question (whole words; 要求 keeps its 要).
_FUNCTION_WORDS = frozenset(
    "是不是 有没有 要不要 能不能 可不可以 是什么 什么 啥 哪些 哪个 哪里 哪儿 哪 谁 多少 几 怎么 怎样 如何 吗 呢 吧 嘛 "
    "啊 呀 么 是 的 了 有 没有 要 需要 可以 能 会 请 都 也 还 就 在 给 我们 我 你们 你 这个 那个 这 那 一下 具体 "
    "分别 一共 总共 讲 说 叫 全称 内容 情况 东西 事情 些 个 里 里面 中 又 呢 不 和 与 及 或 对 把 被 让 吧 得 地 着 过 "
    "现在 这次 这边 一个 一家 之类 之 其中 以及 还是 或者 是否 为 于 从 向 由 到 该 其 此 们 啥子 距离 离 包括 请教 "
    "一般 大概 通常 目前 那么 然后 如果 假如 的话 不要 不用 需不需要 用不用 会不会 能否 这份 那份 本次 此次 这些 那些 每个 每家 每间 每位 最多 最少 至少".split()
)
_PRONOUN = re.compile(r"^(?:那么|那)|呢$|[它他她其]|该项目|这个项目|那个项目|下一|上一|前一|后一|分别|又")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Part:
    """One question of a message, normalised."""

    text: str  # normalised, padding removed
    folded: str  # script-folded raw clause, punctuation kept (for 二（三） style numbers)
    asks: tuple[str, ...]  # kinds of fact asked, strongest first
    leans: bool  # reads as a follow-up of the previous turn
    subject: tuple[str, ...]  # the words left after the asking words: none for "谁施工的", "还剩几天"


@dataclass(frozen=True)
class Message:
    """A whole message: its questions in order, and what the user said about themselves."""

    parts: tuple[Part, ...]
    situation: str  # normalised self-description ("我是佛山一家施工企业的"): context, not question
    background: str  # normalised clauses that ask nothing but may carry the topic


class QuestionReader:
    """Built once per knowledge snapshot from the lexicon and the normaliser."""

    def __init__(
        self,
        lexicon: Lexicon,
        normalize: Callable[[str], str],
        spelled: Callable[[str, str | None], str] | None = None,
        segment: Callable[[str], list[str]] | None = None,
    ) -> None:
        """Compile the lexicon's fillers, asking words, follow-up words and self-description openers.

        `normalize` folds the lexicon's own words; `spelled` (normalise and repair typos) reads users' text.
        """
        self._spelled = spelled
        self._normalize = normalize
        self.segment = segment or list
        self.asks: dict[str, Ask] = dict(lexicon.asks)
        fillers = sorted({normalize(f).replace(" ", "") for f in lexicon.fillers if normalize(f)}, key=len, reverse=True)
        self._fillers = re.compile("|".join(re.escape(f) for f in fillers)) if fillers else None
        cues: dict[str, str] = {}
        for ask in self.asks.values():
            for word in ask.words:
                key = normalize(word).replace(" ", "")
                if key and key not in cues:
                    cues[key] = ask.kind
        self._cue_kind = cues
        self._cues = re.compile("|".join(re.escape(c) for c in sorted(cues, key=len, reverse=True))) if cues else None
        follow = sorted({normalize(f).replace(" ", "") for f in lexicon.followups if normalize(f)}, key=len, reverse=True)
        self._follow = re.compile("|".join(re.escape(f) for f in follow)) if follow else None
        openers = sorted({normalize(s).replace(" ", "") for s in lexicon.situation if normalize(s)}, key=len, reverse=True)
        self._situation = re.compile("^(?:" + "|".join(re.escape(s) for s in openers) + ")") if openers else None

    def normalize(self, raw: str, folded: str | None = None) -> str:
        """A user's text normalised and repaired; `folded` is fold(raw) when the caller has it."""
        if self._spelled is not None:
            return self._spelled(raw, folded)
        return self._normalize(raw)

    def strip(self, normalized: str) -> str:
        """The text without padding (请问一下, 麻烦问下, 那个 …)."""
        text = normalized.replace(" ", "")
        if self._fillers is not None:
            text = self._fillers.sub("", text)
        return text

    def kinds(self, text: str) -> tuple[str, ...]:
        """Kinds of fact asked, longest cue first, each kind once (on stripped text)."""
        if self._cues is None:
            return ()
        found: list[str] = []
        for m in self._cues.finditer(text):
            kind = self._cue_kind[m.group(0)]
            if kind not in found:
                found.append(kind)
        return tuple(found)

    def cue_spans(self, text: str) -> list[tuple[int, int]]:
        """Where the asking words are, in order."""
        return [m.span() for m in self._cues.finditer(text)] if self._cues is not None else []

    def subject(self, text: str) -> tuple[str, ...]:
        """The words a question is about once its asking words and function words are gone."""
        rest = self._cues.sub(" ", text) if self._cues is not None else text
        return tuple(w for w in self.segment(rest) if w.strip() and not is_function_word(w))

    def part(self, raw: str, normalized: str | None = None, folded: str | None = None) -> Part:
        """One clause as a question."""
        folded = fold(raw) if folded is None else folded
        normalized = self.normalize(raw, folded) if normalized is None else normalized
        text = self.strip(normalized)
        subject = self.subject(text) if text else ()
        kinds = self.kinds(text)
        if not subject and not kinds and not _QUESTION.search(text):
            text = normalized.replace(" ", "")  # "你好啊", "谢谢": the padding is the message
            subject, kinds = self.subject(text), self.kinds(text)
        leans = bool(self._follow and _PRONOUN.search(text) and self._follow.search(text))
        return Part(text, folded, kinds, leans, subject)

    def read(self, raw: str) -> Message:
        """Split a message into its questions, its self-description and its background."""
        clauses = [c for c in _CLAUSES.split(raw) if c.strip()]
        if len(clauses) <= 1:
            folded = fold(raw)
            normalized = self.normalize(raw, folded)
            said, rest = split_situation(self.strip(normalized), self)
            if said:
                return Message((self.part(rest, rest),), said, "")
            return Message((self.part(raw, normalized, folded),), "", "")
        situation: list[str] = []
        background: list[str] = []
        questions: list[tuple[str, str]] = []
        folds: dict[str, str] = {}
        for clause in clauses:
            folds[clause] = folded = fold(clause)
            normalized = self.normalize(clause, folded)
            text = self.strip(normalized)
            if not text:
                continue  # 你好, 麻烦了 beside a question
            if self._situation is not None and self._situation.search(text) and not _QUESTION.search(text):
                situation.append(text)
            elif _QUESTION.search(text) or self.kinds(text):
                said, rest = split_situation(text, self)
                if said:
                    situation.append(said)
                    questions.append((rest, rest))
                else:
                    questions.append((clause, normalized))
            else:
                background.append(text)
        if not questions:  # a statement ("截止日期", "联系人") or only greetings: the whole message is the question
            joined = "".join(clauses)
            return Message((self.part(joined),), "".join(situation), "")
        parts = [self.part(clause, normalized, folds.get(clause)) for clause, normalized in questions]
        return Message(tuple(_merge(parts, self)), "".join(situation), "".join(background))


def is_function_word(word: str) -> bool:
    """Whether a word says nothing about what a question is about (哪家, 几个, 多少 … included)."""
    return word in _FUNCTION_WORDS or word[:1] in ("哪", "几") or word.startswith("多少")


def _merge(parts: list[Part], reader: QuestionReader) -> list[Part]:
    """Join a clause that asks nothing of its own onto the question before it ("比如要不要…")."""
    merged: list[Part] = []
    for part in parts:
        if merged and not part.asks and not part.leans and len("".join(part.subject)) <= 1:
            prev = merged.pop()
            text = prev.text + part.text
            merged.append(Part(text, prev.folded + part.folded, reader.kinds(text), prev.leans, reader.subject(text)))
        else:
            merged.append(part)
    return merged


def split_situation(text: str, reader: QuestionReader) -> tuple[str, str]:
    """'我们公司是中建八局的我们那个项目…' → ('我们公司是中建八局的', '我们那个项目…') inside one clause."""
    if reader._situation is None or not reader._situation.search(text):
        return "", text
    cut = text.find("的", 2)
    if 2 < cut < len(text) - 2 and _QUESTION.search(text[cut + 1 :]):
        return text[: cut + 1], text[cut + 1 :]
    return "", text


def squeeze(text: str) -> str:
    """Collapse spaces (normalised text keeps single spaces between runs)."""
    return _SPACES.sub("", text)
