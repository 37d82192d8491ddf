"""Normalisation: scripts, Cantonese and synonyms folded without breaking real words."""

from __future__ import annotations

from bot.core.engine import Engine
from bot.core.text import char_ngrams, fold


def test_fold_makes_traditional_simplified_and_half_width() -> None:
    assert fold("總結ＡＢＣ１２３") == "总结abc123"


def test_fold_drops_invisible_characters() -> None:
    assert fold("总\u200b结\x00") == "总结"


def test_cantonese_phrases_map_but_lianxi_survives(engine: Engine) -> None:
    norm = engine.index.normalize
    assert "联系" in norm("联系人系边个")
    assert "谁" in norm("联系人系边个")
    assert "什么时候" in norm("几时交")


def test_synonym_rewrites_commercial_concrete(engine: Engine) -> None:
    assert "预拌混凝土" in engine.index.normalize("商品混凝土")


def test_char_ngrams_keep_english_words_whole() -> None:
    grams = char_ngrams("email 地址")
    assert "email" in grams and "地址" in grams and "e" not in grams


def test_user_typed_placeholder_characters_are_removed(engine: Engine) -> None:
    assert "\ue001" not in engine.index.normalize("\ue001广州")


def test_chinese_numeral_dates_read_as_dates() -> None:
    from datetime import date

    from bot.core.text import arabic_dates, parse_cn_date

    assert arabic_dates("二○二○年五月八日") == "2020年5月8日"
    assert parse_cn_date("二〇一二年三月五日") == date(2012, 3, 5)
    assert parse_cn_date("二0一二年十二月三十一日") == date(2012, 12, 31)
    assert parse_cn_date("十九大以来") is None
    assert arabic_dates("一是要加强") == "一是要加强"


def test_segmentation_is_jiebas_own_on_every_text_and_question_kept(engine: Engine) -> None:
    """The faster cut must give jieba's words exactly: the index is fitted and queried with it."""
    from pathlib import Path

    import yaml

    from bot.core.segment import dag_cut
    from tests.conftest import ROOT

    tok = engine.index.segmenter._tok  # the shared tokenizer, with the knowledge's own words added
    texts = [t for u in engine.knowledge.units.values() for t in (u.title, u.text, *u.questions)]
    for path in [*(ROOT / "knowledge" / "sources").glob("*.txt"), *(ROOT / "tests" / "notices" / "fixtures").glob("*.txt")]:
        if ".gbk." not in path.name:
            texts += path.read_text(encoding="utf-8").splitlines()
    for path in (ROOT / "tests" / "data").glob("*.yaml"):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        texts += [str(c["q"]) for c in data if isinstance(c, dict) and "q" in c] if isinstance(data, list) else []
    texts += ["", "  ", "abc 123 ｘｙ", "020-83133733，jt-zac@gd.gov.cn", "第3个项目\r\n谁施工", "a1b2 c#d 5%"]
    assert len(texts) > 1500
    different = [t for t in texts if dag_cut(tok, t) != tok.lcut(t, HMM=False)]
    assert different == []
