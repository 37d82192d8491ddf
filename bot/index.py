"""Retrieval over paraphrases and texts: fitted with scikit-learn, scored without its per-call overhead."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.knowledge import Knowledge, Unit
from bot.text import PLACEHOLDERS, Normalizer, Segmenter, char_ngrams, fold, idf_weighted

_PLACEHOLDER_RE = re.compile(r"\{(city|project|org)\}")
_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "集团", "项目", "工程")

CHAR_WEIGHT = 0.65  # character n-grams carry short queries; words add precision
TEXT_WEIGHT = 0.8
TOP_K = 24  # candidates kept per question: enough for several notices answering the same kind of thing  # a match on the notice's own wording counts a little less than a paraphrase


@dataclass(frozen=True)
class Entity:
    """A city, project or organisation recognised in a question."""

    role: str  # city | project | org
    canonical: str  # the city name, the project row's name, the organisation's full name
    unit: str  # table unit id ("" for a city from the lexicon only)
    start: int
    end: int


@dataclass
class Analysis:
    """A question as the engine sees it."""

    raw: str
    normalized: str
    delexicalized: str
    entities: list[Entity] = field(default_factory=list)


class _Space:
    """One fitted feature space (characters or words) with a column-major matrix for fast scoring."""

    def __init__(self, analyzer, docs: list[str]) -> None:  # noqa: ANN001
        self.analyzer = analyzer
        self.vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, norm="l2")
        matrix = self.vectorizer.fit_transform(docs)
        self.vocab: dict[str, int] = dict(self.vectorizer.vocabulary_)
        self.idf: list[float] = self.vectorizer.idf_.tolist()
        # What smooth idf gives a feature no entry contains: ln((1 + n) / 1) + 1.
        self.unknown_idf = math.log(1 + len(docs)) + 1.0
        self.csc = matrix.tocsc()

    def scores(self, text: str, out: np.ndarray, weight: float) -> None:
        """Add weight * cosine(text, every entry) into out."""
        q = idf_weighted(self.analyzer(text), self.vocab, self.idf, self.unknown_idf)
        csc = self.csc
        for col, w in q.items():
            lo, hi = csc.indptr[col], csc.indptr[col + 1]
            if hi > lo:
                out[csc.indices[lo:hi]] += (w * weight) * csc.data[lo:hi]

    def sklearn_scores(self, text: str) -> np.ndarray:
        """Reference scores through scikit-learn's transform, to check the fast path against."""
        q = self.vectorizer.transform([text])
        if not q.nnz:
            return np.zeros(self.csc.shape[0])
        known = idf_weighted(self.analyzer(text), self.vocab, self.idf)
        full = idf_weighted(self.analyzer(text), self.vocab, self.idf, self.unknown_idf)
        col = next(iter(known))
        shrink = full[col] / known[col]  # the same unknown-feature correction as the fast path
        return (self.csc @ q.T).toarray().ravel() * shrink


class Index:
    """Everything needed to answer, derived from one Knowledge snapshot and swapped with it."""

    def __init__(self, knowledge: Knowledge, cache_dir: Path | None = None) -> None:
        self.knowledge = knowledge
        self.normalize = Normalizer(knowledge.lexicon)
        self._build_entities()
        self.segmenter = Segmenter(self._dictionary_words(), cache_dir)
        stop = knowledge.lexicon.stopwords
        self._stop = stop
        entries: list[tuple[str, str, float]] = []  # (text, target, weight)
        for unit in knowledge.units.values():
            target = f"unit:{unit.id}"
            for q in unit.questions:
                entries.append((self._prepare_question(q), target, 1.0))
            entries.append((self.normalize(_title_text(unit)), target, TEXT_WEIGHT))
            for keyword in unit.keywords:  # a bare keyword should find its unit, not a diluted sentence
                entries.append((self.normalize(keyword), target, TEXT_WEIGHT))
            if unit.kind != "table" and unit.text != unit.title:
                for piece in text_pieces(unit.text):
                    entries.append((self.normalize(piece), target, TEXT_WEIGHT))
        for intent in knowledge.intents.values():
            for example in intent.examples:
                entries.append((self._prepare_question(example), f"intent:{intent.name}", 1.0))
        entries = [e for e in entries if e[0]]
        self.texts = [e[0] for e in entries]
        self.targets = [e[1] for e in entries]
        self.weights = np.array([e[2] for e in entries])
        self.chars = _Space(char_ngrams, self.texts)
        self.words = _Space(self._word_features, self.texts)
        self.target_ids = sorted(set(self.targets))
        pos = {t: i for i, t in enumerate(self.target_ids)}
        self._entry_target = np.array([pos[t] for t in self.targets])

    # -- entities -----------------------------------------------------------------------------

    def _build_entities(self) -> None:
        lex = self.knowledge.lexicon
        names: dict[str, tuple[str, str, str]] = {}  # normalized surface -> (role, canonical, unit)

        def add(surface: str, role: str, canonical: str, unit: str) -> None:
            key = self.normalize(surface).replace(" ", "")
            if len(key) >= 2 and key not in names:
                names[key] = (role, canonical, unit)

        for unit in self.knowledge.units.values():
            table = unit.table
            if table is None:
                continue
            for row in table.rows:
                name = table.cell(row, "name")
                if name:
                    add(name, "project", name, unit.id)
                    add(_strip_suffix(name), "project", name, unit.id)
                    for alias in row.aliases:
                        add(alias, "project", name, unit.id)
                org = table.cell(row, "org")
                if org:
                    add(org, "org", org, unit.id)
                    add(_strip_suffix(org), "org", org, unit.id)
                    for alias, full in lex.aliases.items():
                        if full == org:
                            add(alias, "org", org, unit.id)
                for city in split_cell(table.cell(row, "city")):
                    add(city, "city", city, "")  # any table with a city column can filter by it
        for city, aliases in lex.cities.items():
            for surface in (city, *aliases):
                add(surface, "city", city, "")
        self._entity_names = names
        self._entity_re = (
            re.compile("|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))) if names else None
        )
        # Company-like names the tables do not list (中建三局 …): recognised so the answer can say "没有".
        patterns = [fold(p) for p in lex.org_patterns]
        self._org_re = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def _dictionary_words(self) -> list[str]:
        words = set(self._entity_names)
        for unit in self.knowledge.units.values():
            words.update(self.normalize(k).replace(" ", "") for k in unit.keywords)
        for full in self.knowledge.lexicon.aliases.values():
            words.add(self.normalize(full).replace(" ", ""))
        return sorted(words)

    def entities(self, normalized: str) -> tuple[str, list[Entity]]:
        """Recognise entities (known names longest first, then unknown company names) as placeholders."""
        candidates: list[tuple[int, int, Entity]] = []  # (length, known?, entity): longest wins
        if self._entity_re is not None:
            for m in self._entity_re.finditer(normalized):
                role, canonical, unit = self._entity_names[m.group(0)]
                candidates.append((m.end() - m.start(), 1, Entity(role, canonical, unit, m.start(), m.end())))
        if self._org_re is not None:
            for m in self._org_re.finditer(normalized):
                if m.end() > m.start():
                    candidates.append((m.end() - m.start(), 0, Entity("org", m.group(0), "", m.start(), m.end())))
        found: list[Entity] = []
        for _, _, e in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2].start)):
            if not any(f.start < e.end and e.start < f.end for f in found):
                found.append(e)
        if not found:
            return normalized, []
        found.sort(key=lambda e: e.start)
        out: list[str] = []
        last = 0
        for e in found:
            out.append(normalized[last : e.start])
            out.append(PLACEHOLDERS[e.role])
            last = e.end
        out.append(normalized[last:])
        return "".join(out), found

    # -- features -----------------------------------------------------------------------------

    def _prepare_question(self, question: str) -> str:
        """Normalise a paraphrase the way a user question will be, placeholders kept."""
        parts = _PLACEHOLDER_RE.split(question)
        out = []
        for i, part in enumerate(parts):
            if i % 2:
                out.append(PLACEHOLDERS[part])
            else:
                text = self.normalize(part)
                text, _ = self.entities(text)
                out.append(text)
        return "".join(out).strip()

    def _word_features(self, text: str) -> list[str]:
        return [w for w in self.segmenter.words(text) if w not in self._stop and w != " "]

    def analyze(self, question: str) -> Analysis:
        """Normalise and delexicalise a user's question."""
        normalized = self.normalize(question)
        delex, found = self.entities(normalized)
        return Analysis(question, normalized, delex, found)

    def search(self, analysis: Analysis) -> list[tuple[str, float]]:
        """Targets (unit:ID or intent:NAME) with their best entry score, best first."""
        text = analysis.delexicalized
        if not text:
            return []
        scores = np.zeros(len(self.texts))
        self.chars.scores(text, scores, CHAR_WEIGHT)
        self.words.scores(text, scores, 1.0 - CHAR_WEIGHT)
        scores *= self.weights
        best = np.zeros(len(self.target_ids))
        np.maximum.at(best, self._entry_target, scores)
        order = np.argsort(-best)[:TOP_K]
        return [(self.target_ids[i], float(best[i])) for i in order if best[i] > 0]

    def reference_search(self, analysis: Analysis) -> list[tuple[str, float]]:
        """The same ranking computed through scikit-learn's transform: the fast path must agree."""
        text = analysis.delexicalized
        scores = CHAR_WEIGHT * self.chars.sklearn_scores(text) + (1 - CHAR_WEIGHT) * self.words.sklearn_scores(text)
        scores *= self.weights
        best: dict[str, float] = defaultdict(float)
        for target, score in zip(self.targets, scores, strict=True):
            best[target] = max(best[target], float(score))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:TOP_K]
        return [(t, s) for t, s in ranked if s > 0]

    def overlap(self, query: str, sentence: str) -> float:
        """How much of a query's idf-weighted character material a sentence contains."""
        grams = set(char_ngrams(query))
        have = set(char_ngrams(self.normalize(sentence)))
        total = 0.0
        hit = 0.0
        for g in grams:
            col = self.chars.vocab.get(g)
            w = self.chars.idf[col] if col is not None else 1.0
            w *= 2.0 if len(g) > 1 else 1.0
            total += w
            if g in have:
                hit += w
        return hit / total if total else 0.0


_SENTENCES = re.compile(r"(?<=[。；！？])")
_CLAUSES = re.compile(r"(?<=[，：、》])|(?=《)")
PIECE_MAX = 24  # longer sentences are also indexed clause by clause, so one word is not drowned


def text_pieces(text: str) -> list[str]:
    """The notice's wording as separately matchable pieces: each sentence, and clauses of long ones."""
    pieces: list[str] = []
    for sentence in (s.strip() for s in _SENTENCES.split(text)):
        if not sentence:
            continue
        pieces.append(sentence)
        if len(sentence) > PIECE_MAX:
            chunk = ""
            for clause in _CLAUSES.split(sentence):
                if chunk and len(chunk) + len(clause) > PIECE_MAX:
                    pieces.append(chunk)
                    chunk = ""
                chunk += clause
            if chunk and chunk != sentence:
                pieces.append(chunk)
    return pieces


def split_cell(cell: str) -> list[str]:
    """A cell may list several values (广州、佛山、肇庆)."""
    return [part for part in re.split(r"[、，,/；;\s]+", cell) if part]


def _title_text(unit: Unit) -> str:
    return f"{unit.title} {unit.label}".strip()


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name
