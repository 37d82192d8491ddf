"""Fitted tf-idf feature spaces as plain arrays, and one scatter-add that scores a question in all of them.

scikit-learn fits the spaces; answering reads the arrays with numpy alone (scikit-learn's per-call
overhead is larger than the whole answer), and the reference path through scikit-learn's transform
is kept so the benchmark and the tests can check the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bot.core.text import idf_weighted

Analyzer = Callable[[str], list[str]]


def _as_is(features: list[str]) -> list[str]:
    """The analyzer of a vectorizer fitted on already analysed documents."""
    return features


class Space:
    """One fitted feature space (characters or words) as column-major arrays for fast scoring."""

    def __init__(
        self,
        analyzer: Analyzer,
        terms: Sequence[str],
        idf: Sequence[float] | np.ndarray,
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        n_rows: int,
    ) -> None:
        """Wrap fitted arrays (from scikit-learn or from the cache) without touching scikit-learn."""
        self.analyzer = analyzer
        self.terms = list(terms)
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(self.terms)}
        self.idf: list[float] = [float(x) for x in idf]
        # What smooth idf gives a feature no entry contains: ln((1 + n) / 1) + 1.
        self.unknown_idf = math.log(1 + n_rows) + 1.0
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.intp)
        self.data = np.ascontiguousarray(data, dtype=np.float64)
        self.n_rows = n_rows
        self._reference: Any = None  # the fitted TfidfVectorizer, made on demand for reference scores

    @classmethod
    def fit(cls, analyzer: Analyzer, analysed: list[list[str]]) -> Space:
        """Fit TfidfVectorizer on documents already split into features."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(analyzer=_as_is, sublinear_tf=True, norm="l2")
        csc = vectorizer.fit_transform(analysed).tocsc()
        vocab = vectorizer.vocabulary_
        terms = sorted(vocab, key=vocab.__getitem__)
        space = cls(analyzer, terms, vectorizer.idf_, csc.indptr, csc.indices, csc.data, len(analysed))
        space._reference = vectorizer
        return space

    def check(self) -> None:
        """Raise ValueError when arrays read back from a file do not fit together."""
        n_cols = len(self.terms)
        if len(self.idf) != n_cols or len(self.indptr) != n_cols + 1 or self.indptr[0] != 0:
            raise ValueError("vocabulary and columns disagree")
        if self.indptr[-1] != len(self.indices) or len(self.indices) != len(self.data):
            raise ValueError("column pointers and entries disagree")
        if np.any(np.diff(self.indptr) < 0) or (
            len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= self.n_rows)
        ):
            raise ValueError("entry rows out of range")

    def query(self, text: str) -> dict[int, float]:
        """The question's tf-idf vector in this space, as column → value."""
        return idf_weighted(self.analyzer(text), self.vocab, self.idf, self.unknown_idf)

    def sklearn_scores(self, text: str, docs: list[str]) -> np.ndarray:
        """Reference scores through scikit-learn's transform, to check the fast path against."""
        if self._reference is None:
            self._reference = reference_fit([self.analyzer(d) for d in docs])
        q = self._reference.transform([self.analyzer(text)])
        if not q.nnz:
            return np.zeros(self.n_rows)
        known = idf_weighted(self.analyzer(text), self.vocab, self.idf)
        full = idf_weighted(self.analyzer(text), self.vocab, self.idf, self.unknown_idf)
        col = next(iter(known))
        shrink = full[col] / known[col]  # the same unknown-feature correction as the fast path
        from scipy.sparse import csc_matrix

        shape = (self.n_rows, len(self.terms))
        matrix = csc_matrix((self.data, self.indices, self.indptr), shape=shape)
        return (matrix @ q.T).toarray().ravel() * shrink

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to cache, named for one .npz file."""
        return {
            f"{prefix}_idf": np.asarray(self.idf, dtype=np.float64),
            f"{prefix}_indptr": self.indptr,
            f"{prefix}_indices": self.indices,
            f"{prefix}_data": self.data,
        }


def reference_fit(analysed: list[list[str]]) -> Any:
    """A TfidfVectorizer fitted like the index, for reference scores of an index read from the cache."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=_as_is, sublinear_tf=True, norm="l2").fit(analysed)


class Scorer:
    """Every space's columns side by side, the space and entry weights folded into the values, and
    the entries laid out grouped by target: a question's best score per target is one gather, one
    scatter-add and one np.maximum.reduceat, whatever the number of spaces.
    """

    def __init__(self, spaces: Sequence[tuple[Space, float]], entry_weights: np.ndarray, groups: np.ndarray) -> None:
        """`groups[i]` is entry i's target number; targets are numbered 0..n-1, each with an entry."""
        self.spaces = [space for space, _ in spaces]
        self.n_rows = len(groups)
        order = np.argsort(groups, kind="stable")
        place = np.empty(self.n_rows, dtype=np.intp)
        place[order] = np.arange(self.n_rows)  # where each entry sits once grouped
        sorted_groups = groups[order]
        firsts = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]] if self.n_rows else np.zeros(0, dtype=bool)
        self.group_starts = np.flatnonzero(firsts)
        self.offsets: list[int] = []
        indptr, indices, data = [np.zeros(1, dtype=np.int64)], [], []
        columns = 0
        for space, weight in spaces:
            self.offsets.append(columns)
            indptr.append(space.indptr[1:] + indptr[-1][-1])
            indices.append(place[space.indices])
            data.append(space.data * weight * entry_weights[space.indices])
            columns += len(space.terms)
        self.indptr = np.concatenate(indptr)
        self.indices = np.concatenate(indices) if indices else np.zeros(0, dtype=np.intp)
        self.data = np.concatenate(data) if data else np.zeros(0)

    def best(self, text: str) -> np.ndarray | None:
        """Each target's best weighted cosine with `text`; None when no feature of it is indexed."""
        cols: list[int] = []
        values: list[float] = []
        for space, offset in zip(self.spaces, self.offsets, strict=True):
            q = space.query(text)
            cols.extend(col + offset for col in q)
            values.extend(q.values())
        if not cols or not self.n_rows:
            return None
        col = np.array(cols, dtype=np.int64)
        starts = self.indptr[col]
        lengths = self.indptr[col + 1] - starts
        total = int(lengths.sum())
        if not total:
            return None
        # Positions of every stored value of the chosen columns, column after column; bincount then
        # adds each entry's products in that order (several times faster than np.add.at here).
        at = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        scores = np.bincount(self.indices[at], np.repeat(values, lengths) * self.data[at], minlength=self.n_rows)
        return np.maximum.reduceat(scores, self.group_starts)
