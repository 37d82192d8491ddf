"""Typing without the right characters: pinyin for a missing input method, near-homophones of the notice's terms.

Built from the knowledge's own vocabulary, so "lianxiren shi shei" becomes 联系人是谁 and 深证, 观磨,
东菀 become 深圳, 观摩, 东莞, without a list written for them. Readings are compared loosely
(zh/z, ch/c, sh/s, -ng/-n, n/l merge), as people from the south type them.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable

_LATIN = re.compile(r"[a-z]+(?: [a-z]+)*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FUZZY = (("zh", "z"), ("ch", "c"), ("sh", "s"))
MAX_WORD = 6
MAX_TERM = 4  # typo repair looks at terms up to this length
_NONE: frozenset[str] = frozenset()


def _loose(reading: str) -> str:
    for a, b in _FUZZY:
        if reading.startswith(a):
            reading = b + reading[len(a) :]
    if reading.endswith("ng"):
        reading = reading[:-1]
    if reading.startswith("n"):
        reading = "l" + reading[1:]
    return reading


def _common_characters() -> list[str]:
    """The GBK ideographs: what people type (rare characters such as 筦 included), so a typo's reading
    is known without pypinyin at answer time."""
    found = []
    for high in range(0x81, 0xFF):
        for low in range(0x40, 0xFF):
            try:
                ch = bytes((high, low)).decode("gbk")
            except UnicodeDecodeError:
                continue
            if _CJK.match(ch):
                found.append(ch)
    return found


class Speller:
    """Pinyin and near-homophone repair over one knowledge snapshot's vocabulary.

    `build` reads pronunciations with pypinyin (slow to import, so only when fitting the index);
    `tables` and `from_tables` carry them in the index cache, so serving never imports it.
    """

    def __init__(
        self, chars: dict[str, frozenset[str]], by_pinyin: dict[str, tuple[str, int]], terms: Iterable[str]
    ) -> None:
        """Readings per character, the best word per spelling, and the terms a typo may be repaired to."""
        self._chars = chars
        loose: dict[frozenset[str], frozenset[str]] = {}  # one set per distinct reading set, shared by its characters
        self._loose = {ch: loose.get(rs) or loose.setdefault(rs, frozenset(_loose(r) for r in rs)) for ch, rs in chars.items()}
        self._by_pinyin = by_pinyin
        self.terms = sorted({t for t in terms if 2 <= len(t) <= MAX_TERM and all(_CJK.match(ch) for ch in t)})
        self._wild: dict[str, list[str]] = {}
        for word in self.terms:
            for i in range(len(word)):
                self._wild.setdefault(word[:i] + "?" + word[i + 1 :], []).append(word)

        self._name_chars = set("".join(self.terms))
        self._syllables = {r for rs in chars.values() for r in rs}
        self._longest = max((len(s) for s in self._syllables), default=0)

    @classmethod
    def build(cls, words: Iterable[tuple[str, int]], terms: Iterable[str]) -> Speller:
        """From (word, weight) pairs of the knowledge (heavier wins a spelling) and its terms (names, keywords)."""
        from pypinyin import Style, pinyin

        def all_readings(ch: str) -> frozenset[str]:
            found = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
            return frozenset(r for group in found for r in group if r.isalpha())

        chars: dict[str, frozenset[str]] = {}
        by_pinyin: dict[str, tuple[str, int]] = {}
        for word, weight in words:
            if not word or len(word) > MAX_WORD or not all(_CJK.match(ch) for ch in word):
                continue
            for ch in word:
                if ch not in chars:
                    chars[ch] = all_readings(ch)
            if len(word) == 1:
                spellings = set(chars[word])
            else:
                spellings = {"".join(g[0] for g in pinyin(word, style=Style.NORMAL, errors="ignore") if g)}
            for spelled in spellings:
                if spelled and (spelled not in by_pinyin or by_pinyin[spelled][1] < weight):
                    by_pinyin[spelled] = (word, weight)
        for ch in _common_characters():
            if ch not in chars:
                chars[ch] = all_readings(ch)
        return cls(chars, by_pinyin, terms)

    def tables(self) -> dict[str, object]:
        """JSON-ready form for the index cache: characters grouped by their readings ("shi": "是事市…"),
        about a tenth of the size of one entry per character, and read back with one set per group."""
        groups: dict[str, list[str]] = {}
        for ch, rs in self._chars.items():
            groups.setdefault(",".join(sorted(rs)), []).append(ch)
        return {
            "chars": {readings: "".join(chs) for readings, chs in groups.items()},
            "pinyin": {key: [word, weight] for key, (word, weight) in self._by_pinyin.items()},
            "terms": self.terms,
        }

    @classmethod
    def from_tables(cls, tables: dict[str, object]) -> Speller:
        """Inverse of tables(); raises ValueError/KeyError/TypeError on a damaged cache."""
        chars_raw = tables["chars"]
        pinyin_raw = tables["pinyin"]
        if not isinstance(chars_raw, dict) or not isinstance(pinyin_raw, dict):
            raise ValueError("speller tables are not mappings")
        chars: dict[str, frozenset[str]] = {}
        for readings, chs in chars_raw.items():
            shared = frozenset(r for r in str(readings).split(",") if r)
            for ch in str(chs):
                chars[ch] = shared
        by_pinyin = {str(k): (str(v[0]), int(v[1])) for k, v in pinyin_raw.items()}
        terms = tables["terms"]
        if not isinstance(terms, list):
            raise ValueError("speller terms are not a list")
        return cls(chars, by_pinyin, [str(t) for t in terms])

    # -- pinyin typed for characters ------------------------------------------------------------

    def _syllabify(self, token: str) -> list[str] | None:
        """Split 'lianxiren' into known syllables (longest first, with backtracking)."""
        best: dict[int, list[str]] = {0: []}
        for start in range(len(token)):
            if start not in best:
                continue
            for size in range(min(self._longest, len(token) - start), 0, -1):
                piece = token[start : start + size]
                if piece in self._syllables and start + size not in best:
                    best[start + size] = [*best[start], piece]
        return best.get(len(token))

    def _hanzi(self, syllables: list[str]) -> str | None:
        """Cover the syllables with vocabulary words, fewest words first."""
        n = len(syllables)
        cover: dict[int, tuple[int, str]] = {0: (0, "")}
        for start in range(n):
            if start not in cover:
                continue
            count, text = cover[start]
            for end in range(min(n, start + MAX_WORD), start, -1):
                found = self._by_pinyin.get("".join(syllables[start:end]))
                if found is None:
                    continue
                if end not in cover or cover[end][0] > count + 1:
                    cover[end] = (count + 1, text + found[0])
        return cover[n][1] if n in cover else None

    def from_pinyin(self, text: str) -> str:
        """Replace runs of pinyin (with or without spaces) by the vocabulary words they spell."""
        if not self._syllables or not _LATIN.search(text):
            return text

        def convert(m: re.Match[str]) -> str:
            syllables: list[str] = []
            for token in m.group(0).split():
                split = self._syllabify(token)
                if split is None:
                    return m.group(0)
                syllables.extend(split)
            if len(syllables) < 2:
                return m.group(0)  # one syllable is more likely an English word or an abbreviation
            return self._hanzi(syllables) or m.group(0)

        return _LATIN.sub(convert, text)

    # -- near-homophones ---------------------------------------------------------------------

    def _sounds_alike(self, typed: str, meant: str) -> bool:
        return bool(self._loose.get(typed, _NONE) & self._loose.get(meant, _NONE))

    def correct(self, text: str, known: Container[str], names: Container[str] = ()) -> str:
        """Swap a mistyped character of a term for the right one when the two sound alike.

        A character the knowledge never uses (`known` holds the characters and pairs it does) may be
        repaired into any term; a known character only into a name (`names`: cities, projects,
        organisations) and only when it pairs with neither neighbour, so correct words stay as typed.
        """
        if not self._wild or len(text) < 2:
            return text
        for k, ch in enumerate(text):
            if not _CJK.match(ch):
                continue
            if ch not in known:
                fixed = self._repair(text, k)
            elif (
                ((k > 0 and text[k - 1] in self._name_chars) or (k + 1 < len(text) and text[k + 1] in self._name_chars))
                and (k == 0 or text[k - 1 : k + 1] not in known)
                and (k + 1 == len(text) or text[k : k + 2] not in known)
            ):
                fixed = self._repair(text, k, names)
            else:
                continue
            if fixed is not None:
                text = fixed
        return text

    def _repair(self, text: str, k: int, only: Container[str] | None = None) -> str | None:
        """The text with the character at k replaced so that a term (of `only`) appears, longest first."""
        wild = self._wild
        for size in range(min(MAX_TERM, len(text)), 1, -1):
            for start in range(max(0, k - size + 1), min(k, len(text) - size) + 1):
                window = text[start : start + size]
                pos = k - start
                for word in wild.get(window[:pos] + "?" + window[pos + 1 :], ()):
                    if (only is None or word in only) and self._sounds_alike(window[pos], word[pos]):
                        return text[:start] + word + text[start + size :]
        return None
