"""Normalisation and segmentation: turn messy chat text into something comparable with the knowledge."""

from __future__ import annotations

import calendar
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

import jieba
import zhconv

from bot.core.model import Lexicon
from bot.core.segment import dag_cut

jieba.setLogLevel(logging.WARNING)

# Kept: letters, digits, CJK, the placeholder characters and spaces. Everything else is noise.
_NOISE = re.compile(r"[^\w\u4e00-\u9fff\ue000-\ue0ff @.\-]+")
# @ . - survive only inside ASCII tokens (020-83133733, jt-zac@gd.gov.cn).
_LOOSE_MARKS = re.compile(r"(?<![a-z0-9])[@.\-]+|[@.\-]+(?![a-z0-9])")
_RUNS = re.compile(r"[a-z0-9_@.\-]+|[^\sa-z0-9_@.\-]+")
_PARTS = re.compile(r"[@.\-]")
_SPACES = re.compile(r"\s+")
# The Private Use Area characters that stand for a recognised entity in a question.
PLACEHOLDERS = {"city": "\ue001", "project": "\ue002", "org": "\ue003"}
T = TypeVar("T")


def _replacer(table: Mapping[str, str]) -> re.Pattern[str] | None:
    """One regex that tries the longest phrase first, so 系唔系 wins over 唔.

    English keys match whole words only, so `is` never rewrites the middle of `this`.
    """
    keys = sorted((k for k in table if k), key=len, reverse=True)
    alternatives = [rf"(?<![a-z]){re.escape(k)}(?![a-z])" if k.isascii() else re.escape(k) for k in keys]
    return re.compile("|".join(alternatives)) if keys else None


def fold(text: str) -> str:
    """Script-level folding only: NFKC, lower case, traditional to simplified."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return zhconv.convert(text, "zh-hans")


class BuildMemo(Generic[T]):
    """A pure function's results on the knowledge's texts, carried from one index build to the next.

    Each build keeps only what it used, so the memo never outgrows one knowledge snapshot; user
    questions never go through it.
    """

    def __init__(self, fn: Callable[[str], T]) -> None:
        """Wrap `fn`, which must depend on its argument only (or call clear() when it changes)."""
        self._fn = fn
        self._last: dict[str, T] = {}
        self._next: dict[str, T] = {}

    def __call__(self, text: str) -> T:
        """fn(text), computed at most once per text across consecutive builds."""
        found = self._next.get(text)
        if found is None:
            found = self._last.get(text)
            if found is None:
                found = self._fn(text)
            self._next[text] = found
        return found

    def finish(self) -> None:
        """End a build: what it did not use is dropped."""
        self._last, self._next = self._next, {}

    def clear(self) -> None:
        """Forget everything, because what fn depends on changed."""
        self._last, self._next = {}, {}


folded_for_index = BuildMemo(fold)  # fold() of paraphrases and notice texts, reused by every reload


def _lookup(table: Mapping[str, str], match: re.Match[str]) -> str:
    return table[match.group(0)]


class Normalizer:
    """Applies the lexicon's phrase maps after script folding; built once per knowledge snapshot."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.stopwords = lexicon.stopwords
        self._steps: list[tuple[re.Pattern[str], dict[str, str]]] = []
        # English stopwords (the, is, of …) carry nothing here; dropped as whole words.
        english = {fold(w): " " for w in lexicon.stopwords if w.isascii()}
        for table in (lexicon.typos, lexicon.cantonese, lexicon.synonyms, english):
            folded = table if table is english else {fold(k): fold(v) for k, v in table.items()}
            pattern = _replacer(folded)
            if pattern:
                self._steps.append((pattern, folded))

    def __call__(self, text: str, folded: Callable[[str], str] = fold) -> str:
        """The comparable form of a question or paraphrase (`folded`: fold() or a memo of it)."""
        return self.after_fold(folded(text))

    def after_fold(self, text: str) -> str:
        """The phrase maps and spacing on text fold() already went through (folding is the costly step)."""
        for pattern, table in self._steps:
            text = pattern.sub(partial(_lookup, table), text)
        text = _LOOSE_MARKS.sub(" ", _NOISE.sub(" ", text))
        return _SPACES.sub(" ", text).strip()


class Segmenter:
    """jieba with the knowledge's own terms, shared across reloads because its dictionary loads slowly."""

    _lock = threading.Lock()
    _shared: jieba.Tokenizer | None = None
    _added: dict[str, int] = {}  # words this class put into the shared tokenizer, with their frequency
    _memo: BuildMemo[list[str]]  # segmentation of indexed texts, valid until the dictionary changes

    def __init__(
        self,
        words: Iterable[str],
        cache_dir: Path | None = None,
        frequencies: Sequence[tuple[str, int]] | None = None,
    ) -> None:
        """Add `words` (or replay `frequencies` recorded by an earlier build) to the shared tokenizer."""
        self.added: list[tuple[str, int]] = []  # what this build asked for, in order: enough to replay it
        with Segmenter._lock:
            if Segmenter._shared is None:
                tok = jieba.Tokenizer()
                if cache_dir is not None:
                    tok.tmp_dir = str(cache_dir)
                tok.initialize()
                Segmenter._shared = tok
            self._tok = Segmenter._shared
            if frequencies is not None:
                for word, freq in frequencies:
                    self._add(word, int(freq))
                return
            for word in words:
                word = word.strip()
                if len(word) >= 2 and " " not in word:
                    # A word added by an earlier build keeps its frequency: suggest_freq() would now
                    # return one more each time, so every reload would shift the segmentation a little.
                    freq = Segmenter._added.get(word) or max(self._tok.suggest_freq(word), 2000)
                    self._add(word, freq)

    def _add(self, word: str, freq: int) -> None:
        """Add one word unless an earlier build already added it with this frequency (reloads stay stable)."""
        self.added.append((word, freq))
        if Segmenter._added.get(word) == freq:
            return
        self._tok.add_word(word, freq=freq)
        Segmenter._added[word] = freq
        Segmenter._memo.clear()

    def words(self, text: str) -> list[str]:
        """Segment without the HMM so new words stay stable between runs."""
        return [w for w in dag_cut(self._tok, text) if w.strip()]

    def indexed_words(self, text: str) -> list[str]:
        """words() remembered across reloads, for the knowledge's own texts (not for user questions)."""
        return Segmenter._memo(text)

    @classmethod
    def finish_build(cls) -> None:
        """Drop remembered segmentations the knowledge just indexed no longer has."""
        cls._memo.finish()
        folded_for_index.finish()


def _segment_shared(text: str) -> list[str]:
    tok = Segmenter._shared
    assert tok is not None
    return [w for w in dag_cut(tok, text) if w.strip()]


Segmenter._memo = BuildMemo(_segment_shared)


def char_ngrams(text: str) -> list[str]:
    """Character 1- and 2-grams of Chinese runs; ASCII runs (words, phones, emails) whole and by part."""
    grams: list[str] = []
    for run in _RUNS.findall(text):
        if run.isascii():
            grams.append(run)
            parts = [p for p in _PARTS.split(run) if len(p) >= 2]
            if len(parts) > 1:
                grams.extend(parts)
            continue
        grams.extend(run)
        grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


def idf_weighted(
    features: Iterable[str], vocab: Mapping[str, int], idf: list[float], unknown_idf: float | None = None
) -> dict[int, float]:
    """Sublinear tf times idf, L2-normalised, as TfidfVectorizer(sublinear_tf=True) makes it.

    With `unknown_idf`, features the index has never seen still count in the norm (as the rarest
    possible feature): a question that is mostly about something unknown then scores low everywhere,
    instead of being judged on the few familiar words it shares with some paraphrase.
    """
    counts: dict[int, int] = {}
    unknown: dict[str, int] = {}
    for f in features:
        col = vocab.get(f)
        if col is not None:
            counts[col] = counts.get(col, 0) + 1
        else:
            unknown[f] = unknown.get(f, 0) + 1
    weights = {col: (1.0 + math.log(n)) * idf[col] for col, n in counts.items()}
    norm_sq = sum(w * w for w in weights.values())
    if unknown_idf is not None:
        norm_sq += sum(((1.0 + math.log(n)) * unknown_idf) ** 2 for n in unknown.values())
    norm = math.sqrt(norm_sq)
    return {col: w / norm for col, w in weights.items()} if norm else {}


# -- numerals and dates -------------------------------------------------------------------------

_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "○": 0, "两": 2}
_CN_DATE = re.compile(
    r"(?:(?P<y>\d{4})\s*年\s*)?(?P<m>\d{1,2})\s*月\s*(?:(?P<d>\d{1,2})\s*[日号]|(?P<part>上旬|中旬|下旬|底|末))?"
)


def cn_numeral(text: str) -> int | None:
    """1, 六, 十二, 二十三, 两 → the number (up to 99); None for anything else."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return _CN_DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def to_cn_numeral(number: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 23 → 二十三: how section numbers are printed."""
    digits = "零一二三四五六七八九"
    if number < 10:
        return digits[number]
    tens, ones = divmod(number, 10)
    return (digits[tens] if tens > 1 else "") + "十" + (digits[ones] if ones else "")


_CN_YEAR = re.compile(r"([〇○零OΟ0一二三四五六七八九]{4})(\s*年)")
_CN_MONTH = re.compile(r"(?<![一二三四五六七八九十\d])([一二三四五六七八九十]{1,2})(\s*月)")
_CN_DAY = re.compile(r"((?:\d{1,2})\s*月\s*)([一二三四五六七八九十]{1,3})(\s*[日号])")
_YEAR_DIGITS = {c: str(i) for i, c in enumerate("零一二三四五六七八九")} | dict.fromkeys("〇○OΟ0", "0")


def arabic_dates(text: str) -> str:
    """二○二○年五月八日 → 2020年5月8日: dates as signatures print them, in the digits the parser reads."""
    text = _CN_YEAR.sub(lambda m: "".join(_YEAR_DIGITS[c] for c in m.group(1)) + m.group(2), text)
    text = _CN_MONTH.sub(lambda m: f"{cn_numeral(m.group(1)) or m.group(1)}{m.group(2)}", text)
    return _CN_DAY.sub(lambda m: f"{m.group(1)}{cn_numeral(m.group(2)) or m.group(2)}{m.group(3)}", text)


def cn_date(d: date) -> str:
    """2021年9月30日: how the notices write dates."""
    return f"{d.year}年{d.month}月{d.day}日"


def parse_cn_date(text: str, year: int | None = None, after: date | None = None) -> date | None:
    """2021年9月30日, 二〇二一年九月三十日, 9月30日, 9月中旬 or 9月 → a date; a period becomes its last day.

    Without a year in the text `year` is used; a date more than a month before `after` (the
    notice's own date) is taken to mean the next year ("1月15日" in a December notice).
    """
    m = _CN_DATE.search(arabic_dates(text))
    if not m:
        return None
    y = int(m.group("y")) if m.group("y") else year
    if y is None:
        return None
    month = int(m.group("m"))
    if not 1 <= month <= 12:
        return None
    last = calendar.monthrange(y, month)[1]
    part = m.group("part")
    day = int(m.group("d")) if m.group("d") else {"上旬": 10, "中旬": 20}.get(part or "", last)
    try:
        when = date(y, month, day)
    except ValueError:
        return None
    if not m.group("y") and after is not None and when < after - timedelta(days=31):
        when = parse_cn_date(text, y + 1) or when
    return when
