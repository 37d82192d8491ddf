"""The fitted index cache: used on a warm start without scikit-learn, rebuilt when stale or damaged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import bot.core.space as space_module
import bot.state.index_cache as cache_module
from bot.core.engine import Engine
from bot.core.index import Index
from bot.core.model import Incoming
from bot.knowledge.load import load_knowledge
from bot.state.index_cache import CACHE_FILE, INDEX_FORMAT, IndexCache
from tests.conftest import CAMPAIGN_NOW, INTENTS, KNOWLEDGE, ROOT

HOLDOUT = ROOT / "tests" / "data" / "holdout_questions.yaml"
OUT_OF_SCOPE = ROOT / "tests" / "data" / "out_of_scope.yaml"

# Loads the engine with a cache folder, answers one question and reports what got imported.
CHILD = """
import json, sys
from pathlib import Path
from bot.service import load_engine
from bot.core.model import Incoming
from tests.conftest import CAMPAIGN_NOW, INTENTS, KNOWLEDGE
engine = load_engine(KNOWLEDGE, INTENTS, cache_dir=Path(sys.argv[1]))
reply = engine.answer(Incoming("总结材料什么时候截止", "cli"), CAMPAIGN_NOW)
print(json.dumps({"answer": reply.text, "modules": sorted(m for m in ("sklearn", "scipy") if m in sys.modules)}))
"""


def cache_is_current(folder: Path, version: str) -> bool:
    return IndexCache(folder).is_current(version)


def run_child(cache: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def questions() -> list[str]:
    found: list[str] = []
    for path in (HOLDOUT, OUT_OF_SCOPE):
        found += [str(c["q"]) for c in yaml.safe_load(path.read_text(encoding="utf-8")) if str(c.get("q", "")).strip()]
    return found


def count_fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = space_module.Space.fit.__func__

    def counting(cls, analyzer, analysed):
        calls.append(len(analysed))
        return real(cls, analyzer, analysed)

    monkeypatch.setattr(space_module.Space, "fit", classmethod(counting))
    return calls


def test_second_load_uses_the_cache_without_scikit_learn(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_child(cache)
    assert (cache / CACHE_FILE).exists()
    assert first["modules"] == ["scipy", "sklearn"]  # the first load fits
    second = run_child(cache)
    assert second["modules"] == []  # the second only reads arrays
    assert second["answer"] == first["answer"]


def test_answers_are_identical_with_and_without_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    knowledge = load_knowledge(KNOWLEDGE, INTENTS)
    fitted = Engine(knowledge, cache=IndexCache(tmp_path))  # fits and writes the cache
    fits = count_fits(monkeypatch)
    cached = Engine(load_knowledge(KNOWLEDGE, INTENTS), cache=IndexCache(tmp_path))
    assert fits == []  # loaded, not fitted
    plain = Engine(load_knowledge(KNOWLEDGE, INTENTS))
    assert len(fits) == 2  # no cache folder: both feature spaces fitted
    for question in questions():
        a = fitted.answer(Incoming(question, "cli"), CAMPAIGN_NOW)
        b = cached.answer(Incoming(question, "cli"), CAMPAIGN_NOW)
        c = plain.answer(Incoming(question, "cli"), CAMPAIGN_NOW)
        assert a.to_dict(question) == b.to_dict(question) == c.to_dict(question), question
        analysis = cached.index.analyze(question)
        assert cached.index.search(analysis) == fitted.index.search(fitted.index.analyze(question))


def test_reference_search_works_on_an_index_read_from_the_cache(tmp_path: Path) -> None:
    Index(load_knowledge(KNOWLEDGE, INTENTS), IndexCache(tmp_path))
    index = Index(load_knowledge(KNOWLEDGE, INTENTS), IndexCache(tmp_path))
    for question in ("总结材料什么时候截止", "广州有哪些观摩项目", "联系电话"):
        analysis = index.analyze(question)
        fast = index.search(analysis)
        reference = dict(index.reference_search(analysis))
        assert [t for t, _ in fast][:3] == list(reference)[:3]
        for target, score in fast:
            assert score == pytest.approx(reference[target], abs=1e-9)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong arrays"])
def test_a_damaged_cache_is_rebuilt_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    knowledge = load_knowledge(KNOWLEDGE, INTENTS)
    Index(knowledge, IndexCache(tmp_path))
    path = tmp_path / CACHE_FILE
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:  # a readable file whose arrays do not fit together
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        arrays["chars_indices"] = arrays["chars_indices"][:-3]
        with path.open("wb") as f:
            np.savez(f, **arrays)
    fits = count_fits(monkeypatch)
    index = Index(load_knowledge(KNOWLEDGE, INTENTS), IndexCache(tmp_path))
    assert len(fits) == 2
    assert cache_is_current(tmp_path, knowledge.version)
    assert str(index.search(index.analyze("总结材料什么时候截止"))[0][0]) in ("unit:summary-report", "intent:deadline")
    assert not list(tmp_path.glob(".index-*"))  # no temp file left behind


def test_a_knowledge_change_invalidates_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    k_dir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, k_dir)
    intents = tmp_path / "intents.yaml"
    shutil.copy(INTENTS, intents)
    cache = tmp_path / "cache"
    before = load_knowledge(k_dir, intents)
    Index(before, IndexCache(cache))
    assert cache_is_current(cache, before.version)
    intents.write_text(intents.read_text(encoding="utf-8") + "\n# edited by staff\n", encoding="utf-8")
    after = load_knowledge(k_dir, intents)
    assert after.version != before.version
    assert not cache_is_current(cache, after.version)
    fits = count_fits(monkeypatch)
    Index(after, IndexCache(cache))
    assert len(fits) == 2
    assert cache_is_current(cache, after.version)


def test_a_cache_of_another_format_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    knowledge = load_knowledge(KNOWLEDGE, INTENTS)
    Index(knowledge, IndexCache(tmp_path))
    monkeypatch.setattr(cache_module, "INDEX_FORMAT", INDEX_FORMAT + "-changed")
    assert not cache_is_current(tmp_path, knowledge.version)
    fits = count_fits(monkeypatch)
    Index(knowledge, IndexCache(tmp_path))
    assert len(fits) == 2


def test_ask_does_not_import_the_server_stack() -> None:
    code = (
        "import sys; from bot.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('aiohttp', 'sklearn', 'telegram') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_server_fits_in_a_child_and_only_loads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.app import load_lean_engine
    from bot.config import load_settings

    settings = load_settings({}, db=tmp_path / "data" / "bot.sqlite3")
    fits = count_fits(monkeypatch)
    engine = load_lean_engine(settings)
    assert fits == []  # `run_bot.py check` fitted it in its own process
    assert cache_is_current(settings.cache_dir, engine.version)
    reply = engine.answer(Incoming("总结材料什么时候截止", "cli"), CAMPAIGN_NOW)
    assert "9月30日" in reply.text
