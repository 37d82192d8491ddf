"""Retrieval over paraphrases and texts: fitted with scikit-learn, scored without its per-call overhead.

The fitted index can be kept by an ``IndexCacheLike`` (``bot.state.index_cache``) as plain arrays
plus JSON, so a warm start loads it with numpy alone and never imports scikit-learn or scipy.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.core.entities import Entity, EntityFinder
from bot.core.facts import Facts
from bot.core.model import Document, Knowledge, Target, Unit
from bot.core.question import QuestionReader
from bot.core.space import Scorer, Space
from bot.core.spelling import Speller
from bot.core.structure import Outline
from bot.core.text import (
    PLACEHOLDERS,
    Normalizer,
    Segmenter,
    char_ngrams,
    folded_for_index,
)

log = logging.getLogger(__name__)

_PLACEHOLDER_RE = re.compile(r"\{(city|project|org)\}")

CHAR_WEIGHT = 0.65  # character n-grams carry short queries; words add precision
TEXT_WEIGHT = 0.8  # a match on the notice's own wording counts a little less than a paraphrase
TOP_K = 24  # candidates kept per question: enough for several notices answering the same kind of thing
_FIXED_INTENTS = ("deadline", "contact", "projects")  # intents answered by one unit per document


class IndexCacheLike(Protocol):
    """Where a fitted index is kept between runs (see bot.state.index_cache.IndexCache)."""

    folder: Path  # also where jieba keeps its dictionary cache

    def load(self, version: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """(metadata, arrays) saved for this knowledge version and index code, or None."""
        ...

    def save(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Keep the fitted index; failures only cost the next start its speed."""
        ...



@dataclass
class Analysis:
    """A question as the engine sees it."""

    raw: str
    normalized: str
    delexicalized: str
    entities: list[Entity] = field(default_factory=list)


class Index:
    """Everything needed to answer, derived from one Knowledge snapshot and swapped with it."""

    def __init__(self, knowledge: Knowledge, cache: IndexCacheLike | None = None) -> None:
        """Take the fitted index from `cache` when it matches this knowledge, else fit (and keep) it."""
        self.knowledge = knowledge
        self.normalize = Normalizer(knowledge.lexicon)
        self.entity_finder = EntityFinder(knowledge, self.normalize)
        self._stop = knowledge.lexicon.stopwords
        folder = cache.folder if cache is not None else None
        cached = cache.load(knowledge.version) if cache is not None else None
        if cached is None or not self._from_cache(*cached, folder):
            self._fit(folder)
            if cache is not None:
                cache.save(*self._cache_payload())
        names = sorted(set(self.targets))
        self.target_ids = [Target.parse(t) for t in names]
        pos = {t: i for i, t in enumerate(names)}
        self._entry_target = np.array([pos[t] for t in self.targets], dtype=np.intp)
        self.scorer = Scorer(((self.chars, CHAR_WEIGHT), (self.words, 1.0 - CHAR_WEIGHT)), self.weights, self._entry_target)
        self._precompute_lookups()
        self._known = {t for t in self.chars.vocab if len(t) <= 2}
        for name in self.entity_finder.names:
            self._known.update(name)
            self._known.update(name[i : i + 2] for i in range(len(name) - 1))
        self._names = set(self.entity_finder.names)
        self.reader = QuestionReader(knowledge.lexicon, self.normalize, self.spelled, self.segmenter.words)
        self.unit_words = self._unit_words()
        self.unit_word_parts = {unit: _with_halves(words) for unit, words in self.unit_words.items()}
        self.known_words = frozenset().union(*self.unit_words.values()) | self._names
        self.facts = Facts(knowledge, self.normalize)
        self.outline = Outline(knowledge)
        self.topics = {doc.id: self._topics(doc.id) for doc in knowledge.documents.values()}
        self.suggestion_units: dict[str, str] | None = None  # filled on first use by bot.core.rank
        self.suggested: list[str] | None = None  # settled by the Engine that builds this snapshot
        self._sentence_grams: dict[str, frozenset[str]] = {}  # knowledge sentences only: bounded by the knowledge
        self.titles = {u.id: self.normalize(u.title).replace(" ", "") for u in knowledge.units.values()}
        self.titles.update({f"title:{d.id}": self.normalize(d.title).replace(" ", "") for d in knowledge.documents.values()})
        # What a question may name of each unit, for ranking: (document, its deadline as 9月30, its
        # title when long enough to mean it, a table's section); worked out once, read on every answer.
        self.unit_cues: dict[str, tuple[str, str, str, str]] = {
            u.id: (
                u.document,
                f"{u.deadline.date.month}月{u.deadline.date.day}" if u.deadline is not None else "",
                title if len(title := self.titles[u.id]) >= 3 else "",
                u.section if u.table is not None else "",
            )
            for u in knowledge.units.values()
        }

    def _fit(self, folder: Path | None) -> None:
        """Build entries from the knowledge and fit both feature spaces with scikit-learn."""
        knowledge = self.knowledge
        self.segmenter = Segmenter(self._dictionary_words(), folder)
        entries: list[tuple[str, str, float]] = []  # (text, target as text, weight)

        def normalize(text: str) -> str:
            return self.normalize(text, folded_for_index)

        for unit in knowledge.units.values():
            target = str(Target.unit(unit.id))
            for q in unit.questions:
                entries.append((self._prepare_question(q), target, 1.0))
            entries.append((normalize(_title_text(unit)), target, TEXT_WEIGHT))
            for keyword in unit.keywords:  # a bare keyword should find its unit, not a diluted sentence
                entries.append((normalize(keyword), target, TEXT_WEIGHT))
            if unit.table is not None:  # "施工单位有哪些": a column's name points at its table
                for column in unit.table.columns:
                    if column not in unit.table.roles.get("number", ""):
                        entries.append((normalize(column), target, TEXT_WEIGHT))
            elif unit.text != unit.title:
                for piece in text_pieces(unit.text):
                    entries.append((normalize(piece), target, TEXT_WEIGHT))
        for intent in knowledge.intents.values():
            target = str(Target.intent(intent.name))
            for example in intent.examples:
                entries.append((self._prepare_question(example), target, 1.0))
        entries = [e for e in entries if e[0]]
        self.texts = [e[0] for e in entries]
        self.targets = [e[1] for e in entries]
        self.weights = np.array([e[2] for e in entries], dtype=np.float64)
        self.chars = Space.fit(char_ngrams, [char_ngrams(t) for t in self.texts])
        self.words = Space.fit(self._word_features, [self._indexed_word_features(t) for t in self.texts])
        Segmenter.finish_build()
        self.speller = Speller.build(self._spelling_words(), self._spelling_terms())

    def _from_cache(self, meta: dict[str, Any], arrays: dict[str, np.ndarray], folder: Path | None) -> bool:
        """Take entries, weights and fitted arrays kept for this knowledge; False if they do not fit together."""
        try:
            texts, targets = list(meta["texts"]), list(meta["targets"])
            n = len(texts)
            weights = np.asarray(arrays["weights"], dtype=np.float64)
            if len(targets) != n or weights.shape != (n,):
                raise ValueError("entries and weights disagree")
            spaces = []
            for prefix, analyzer in (("chars", char_ngrams), ("words", self._word_features)):
                space = Space(
                    analyzer,
                    meta[f"{prefix}_vocab"],
                    arrays[f"{prefix}_idf"],
                    arrays[f"{prefix}_indptr"],
                    arrays[f"{prefix}_indices"],
                    arrays[f"{prefix}_data"],
                    n,
                )
                space.check()
                spaces.append(space)
            frequencies = [(str(w), int(f)) for w, f in meta["segmenter"]]
            speller = Speller.from_tables(meta["speller"])
        except Exception as exc:  # any damage means: fit again, never fail to start
            log.debug("cached index unusable (%s: %s): fitting", type(exc).__name__, exc)
            return False
        self.segmenter = Segmenter((), folder, frequencies)
        self.speller = speller
        self.texts, self.targets, self.weights = texts, targets, weights
        self.chars, self.words = spaces
        return True

    def _cache_payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything _from_cache needs: JSON metadata and named arrays."""
        meta = {
            "version": self.knowledge.version,
            "texts": self.texts,
            "targets": self.targets,
            "segmenter": self.segmenter.added,
            "chars_vocab": self.chars.terms,
            "words_vocab": self.words.terms,
            "speller": self.speller.tables(),
        }
        arrays = {"weights": self.weights, **self.chars.arrays("chars"), **self.words.arrays("words")}
        return meta, arrays

    def _precompute_lookups(self) -> None:
        """Per-document facts the engine needs on every answer, so answering does not scan all units."""
        k = self.knowledge
        self.documents_newest_first = sorted(k.documents.values(), key=Document.recency, reverse=True)
        self.unit_for_intent: dict[tuple[str, str], Unit] = {}
        self.contact_unit: dict[str, Unit] = {}
        self.tables_by_document: dict[str, list[Unit]] = {}
        self.units_by_document: dict[str, list[Unit]] = {}
        for unit in k.units.values():
            self.units_by_document.setdefault(unit.document, []).append(unit)
            if unit.intent in _FIXED_INTENTS and unit.kind in ("deadline", "contact", "table"):
                self.unit_for_intent.setdefault((unit.document, unit.intent), unit)
            if unit.contact:
                self.contact_unit.setdefault(unit.document, unit)
            if unit.table:
                self.tables_by_document.setdefault(unit.document, []).append(unit)
        # (document, number as folded, the same without spaces, its serial 〔…〕N号 as a pattern)
        self.document_numbers: list[tuple[Document, str, str, re.Pattern[str] | None]] = []
        for doc in self.documents_newest_first:
            if not doc.number:  # a notice without a 文号 cannot be named by one
                continue
            spaced = fold_number(doc.number).lower()
            serial = re.search(r"(\d+)号", spaced)
            pattern = re.compile(rf"(?<!\d){serial.group(1)}号") if serial else None
            self.document_numbers.append((doc, spaced, re.sub(r"\s", "", spaced), pattern))

    # -- entities -----------------------------------------------------------------------------

    def _dictionary_words(self) -> list[str]:
        words = set(self.entity_finder.names)
        for unit in self.knowledge.units.values():
            words.update(self.normalize(k).replace(" ", "") for k in unit.keywords)
        for full in self.knowledge.lexicon.aliases.values():
            words.add(self.normalize(full).replace(" ", ""))
        return sorted(words)

    def entities(self, normalized: str) -> tuple[str, list[Entity]]:
        """Recognise entities in a normalised question, replacing them by placeholders."""
        return self.entity_finder.find(normalized)

    # -- features -----------------------------------------------------------------------------

    def _prepare_question(self, question: str) -> str:
        """Normalise a paraphrase the way a user question will be, placeholders kept."""
        parts = _PLACEHOLDER_RE.split(question)
        out = []
        for i, part in enumerate(parts):
            if i % 2:
                out.append(PLACEHOLDERS[part])
            else:
                text = self.normalize(part, folded_for_index)
                text, _ = self.entities(text)
                out.append(text)
        return "".join(out).strip()

    def _word_features(self, text: str) -> list[str]:
        return [w for w in self.segmenter.words(text) if w not in self._stop and w != " "]

    def _indexed_word_features(self, text: str) -> list[str]:
        return [w for w in self.segmenter.indexed_words(text) if w not in self._stop and w != " "]

    def spelled(self, text: str, folded: str | None = None) -> str:
        """Normalise a user's text, then repair pinyin and mistyped terms (never the knowledge's own texts).

        `folded`: fold(text), when the caller already has it.
        """
        normalized = self.normalize(text) if folded is None else self.normalize.after_fold(folded)
        if not normalized:
            return normalized
        repaired = self.speller.correct(self.speller.from_pinyin(normalized), self._known, self._names)
        return repaired if repaired == normalized else self.normalize(repaired)

    def analyze_normalized(self, normalized: str, raw: str = "") -> Analysis:
        """Entities and placeholders of an already normalised (and spelled) question."""
        delex, found = self.entities(normalized)
        return Analysis(raw or normalized, normalized, delex, found)

    def _unit_words(self) -> dict[str, frozenset[str]]:
        """The words each unit's entries use (its texts and paraphrases), read off the fitted word space."""
        unit_rows = np.array([t.startswith("unit:") for t in self.targets], dtype=bool)
        words: dict[str, set[str]] = {}
        space = self.words
        for col, term in enumerate(space.terms):
            rows = space.indices[space.indptr[col] : space.indptr[col + 1]]
            for row in rows[unit_rows[rows]]:
                words.setdefault(self.targets[row][5:], set()).add(term)
        return {unit: frozenset(ws) for unit, ws in words.items()}

    def _spelling_words(self) -> list[tuple[str, int]]:
        """Words and characters of the knowledge, commoner ones heavier, for reading pinyin."""
        words = [(w, int(1000 / self.words.idf[i])) for w, i in self.words.vocab.items()]
        words += [(c, int(1000 / self.chars.idf[i])) for c, i in self.chars.vocab.items() if len(c) == 1]
        words += [(name, 5000) for name in self.entity_finder.names]
        return words

    def _spelling_terms(self) -> list[str]:
        """The terms a mistyped word may be repaired into: names, keywords, campaigns, the knowledge's words."""
        k = self.knowledge
        terms = list(self.entity_finder.names)
        terms += [self.normalize(kw).replace(" ", "") for u in k.units.values() for kw in u.keywords]
        terms += [self.normalize(d.campaign).replace(" ", "") for d in k.documents.values() if d.campaign]
        for unit in k.units.values():  # the notice's own wording, not the questions' 哪个/什么
            terms += [w for w in self.segmenter.words(self.normalize(f"{unit.title} {unit.text}")) if len(w) >= 2]
        return terms

    def _topics(self, document: str) -> str:
        """What a document can be asked about, for the help and fallback texts: built from what it holds."""
        k = self.knowledge
        topics: list[str] = []
        for unit in k.units.values():
            if unit.document != document:
                continue
            if unit.deadline is not None:
                topics.append(f"{unit.deadline.what}的截止时间和报送方式")
        if document in self.contact_unit:
            topics.append("联系人和联系方式")
        topics += [unit.title for unit in self.tables_by_document.get(document, [])]
        for number in sorted(self.outline.roots.get(document, {})):
            node = self.outline.roots[document][number]
            if node.unit:
                topics.append(k.units[node.unit].title)
        if not topics:  # a notice in plain paragraphs, without numbered parts: name its parts by their titles
            topics = [u.title for u in k.units.values() if u.document == document and u.kind == "section" and u.intent != "document"][:5]
        return "、".join(dict.fromkeys(_unwrapped(t) for t in topics if t))

    def analyze(self, question: str) -> Analysis:
        """Normalise and delexicalise a user's question."""
        normalized = self.spelled(question)
        delex, found = self.entities(normalized)
        return Analysis(question, normalized, delex, found)

    def search(self, analysis: Analysis) -> list[tuple[Target, float]]:
        """Targets (units and intents) with their best entry score, best first."""
        text = analysis.delexicalized
        best = self.scorer.best(text) if text else None
        if best is None:
            return []
        found = np.flatnonzero(best > 0)
        if len(found) > TOP_K:  # only the K best need sorting; ties at the cut keep the lower index
            kth = np.partition(best[found], len(found) - TOP_K)[len(found) - TOP_K]
            found = found[best[found] >= kth]
        order = found[np.lexsort((found, -best[found]))][:TOP_K]
        return [(self.target_ids[i], float(best[i])) for i in order.tolist()]

    def reference_search(self, analysis: Analysis) -> list[tuple[Target, float]]:
        """The same ranking computed through scikit-learn's transform: the fast path must agree."""
        text = analysis.delexicalized
        scores = CHAR_WEIGHT * self.chars.sklearn_scores(text, self.texts) + (
            1 - CHAR_WEIGHT
        ) * self.words.sklearn_scores(text, self.texts)
        scores *= self.weights
        best: dict[str, float] = defaultdict(float)
        for target, score in zip(self.targets, scores, strict=True):
            best[target] = max(best[target], float(score))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:TOP_K]
        return [(Target.parse(t), s) for t, s in ranked if s > 0]

    def overlap(self, query: str, sentence: str) -> float:
        """How much of a query's idf-weighted character material a sentence contains.

        `sentence` is the knowledge's own text, so its n-grams are worked out once per snapshot.
        """
        grams = set(char_ngrams(query))
        have = self._sentence_grams.get(sentence)
        if have is None:
            have = frozenset(char_ngrams(self.normalize(sentence)))
            if len(self._sentence_grams) < 100_000:
                self._sentence_grams[sentence] = have
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


SENTENCE_END = re.compile(r"(?<=[。；！？])")
_CLAUSES = re.compile(r"(?<=[，：、》])|(?=《)")
PIECE_MAX = 24  # longer sentences are also indexed clause by clause, so one word is not drowned


def text_pieces(text: str) -> list[str]:
    """The notice's wording as separately matchable pieces: each sentence, and clauses of long ones."""
    pieces: list[str] = []
    for sentence in (s.strip() for s in SENTENCE_END.split(text)):
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


def fold_number(number: str) -> str:
    """A document number as the normaliser leaves it (brackets become spaces)."""
    return re.sub(r"[^\w\u4e00-\u9fff]+", " ", number).strip()


def _title_text(unit: Unit) -> str:
    return f"{unit.title} {unit.label}".strip()


def _unwrapped(title: str) -> str:
    """A title without the quotation marks around all of it; quotes inside (“质量月”活动) stay paired."""
    if title.startswith("“") and title.endswith("”") and title.count("“") == 1 and title.count("”") == 1:
        return title[1:-1]
    return title


def _with_halves(words: frozenset[str]) -> frozenset[str]:
    """A unit's words and the two-character-or-longer halves of its compounds: 参会回执 is 参会 + 回执, so a
    question about 回执 is about it; 质量月 has no such halves, so 质量 alone is not 质量月."""
    parts = {w[:i] for w in words if len(w) >= 4 for i in range(2, len(w) - 1)}
    parts |= {w[i:] for w in words if len(w) >= 4 for i in range(2, len(w) - 1)}
    return words | parts
