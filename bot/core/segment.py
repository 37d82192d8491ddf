"""jieba's exact segmentation (HMM off), in about half the time.

jieba's `lcut(text, HMM=False)` builds a dictionary of word ends, then scores it with a generator and
`max` per character. Here both happen in one backward pass over the same prefix dictionary, with the
same scores added in the same order and the same tie-break (the longer word wins), so the words are
identical — the index is fitted and queried with this, and a test compares it with jieba on every
knowledge text and question the project keeps. Segmentation is most of an answer's cost.
"""

from __future__ import annotations

import re
from math import log

import jieba

# jieba's own block patterns: runs of CJK, letters, digits and +#&._%- are segmented, the rest split by spaces.
_HAN = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%\\-]+)")
_SKIP = re.compile("(\r\n|\\s)")
_ENG = re.compile("[a-zA-Z0-9]")


def dag_cut(tok: jieba.Tokenizer, text: str) -> list[str]:
    """The words of `text` exactly as `tok.lcut(text, HMM=False)` gives them."""
    freq = tok.FREQ
    logtotal = log(tok.total)
    out: list[str] = []
    for block in _HAN.split(text):
        if not block:
            continue
        if _HAN.match(block):
            _cut_block(block, freq, logtotal, out)
            continue
        for piece in _SKIP.split(block):
            if _SKIP.match(piece):
                out.append(piece)
            else:
                out.extend(piece)
    return out


def _cut_block(s: str, freq: dict[str, int], logtotal: float, out: list[str]) -> None:
    n = len(s)
    value = [0.0] * (n + 1)  # best log-probability of s[idx:]
    end = [0] * (n + 1)  # where the first word of that best split ends
    for idx in range(n - 1, -1, -1):
        best: float | None = None
        at = idx
        i = idx
        frag = s[idx]
        while i < n and frag in freq:  # every dictionary word starting at idx (prefixes have frequency 0)
            f = freq[frag]
            if f:
                v = log(f) - logtotal + value[i + 1]
                if best is None or v >= best:  # max() over (score, end): a tie goes to the later end
                    best, at = v, i
            i += 1
            frag = s[idx : i + 1]
        if best is None:  # no word starts here: the single character, as jieba scores it
            best = log(freq.get(s[idx]) or 1) - logtotal + value[idx + 1]
        value[idx] = best
        end[idx] = at
    x = 0
    letters = ""
    while x < n:  # single letters and digits in a row are one token, as jieba joins them
        y = end[x] + 1
        word = s[x:y]
        if y - x == 1 and _ENG.match(word):
            letters += word
        else:
            if letters:
                out.append(letters)
                letters = ""
            out.append(word)
        x = y
    if letters:
        out.append(letters)
