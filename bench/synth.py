"""Synthetic knowledge of any size, recombined from the real notice, to see how the bot scales."""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
INTENTS = ROOT / "intents.yaml"
UNITS_PER_DOC = 100  # one synthetic notice per hundred answer units, like many staff-added notices

_CLAUSE_SPLIT = re.compile(r"[。；：！？\n]")
_PART_SPLIT = re.compile(r"[，、（）《》“”\s]+")
_ASK_TAILS = (
    "是什么",
    "有什么要求",
    "怎么做",
    "点样搞",
    "什么时候开展",
    "几时开始",
    "由谁负责",
    "边个负责",
    "要注意什么",
    "有哪些内容",
    "系唔系要做",
    "在哪里办",
    "怎样落实",
    "具体安排",
    "包括哪些",
)
_ASK_HEADS = ("", "请问", "想问下", "关于", "咨询一下", "我想知道")
_LABELS = ("一是", "二是", "三是", "四是", "五是")
_CN_NUM = "一二三四五六七八九十"


class Source:
    """Clauses, phrases and questions taken from the real notice: the material to recombine."""

    def __init__(self, notice_file: Path) -> None:
        """Read the notice once so every synthetic unit sounds like a real one."""
        data = yaml.safe_load(notice_file.read_text(encoding="utf-8"))
        texts: list[str] = []
        questions: list[str] = []

        def take(entry: dict) -> None:
            texts.append(str(entry.get("text", "")))
            texts.append(str(entry.get("title", "")))
            questions.extend(str(q) for q in entry.get("questions", []) if "{" not in str(q))
            for item in entry.get("items", []) or []:
                take(item)

        for key in ("units", "deadlines", "contacts"):
            for entry in data.get(key, []) or []:
                take(entry)
        self.clauses = sorted(
            {c.strip() for t in texts for c in _CLAUSE_SPLIT.split(t) if len(c.strip()) >= 6}
        )
        self.phrases = sorted(
            {
                p
                for c in self.clauses
                for p in _PART_SPLIT.split(c)
                if 2 <= len(p) <= 12 and not p.isascii()
            }
        )
        self.questions = sorted(set(questions))


def _topic(rng: random.Random, src: Source, used: set[str]) -> str:
    """A short subject phrase no other unit has, so every unit is answerable on its own."""
    for _ in range(50):
        a, b = rng.sample(src.phrases, 2)
        topic = (a[: rng.randint(2, 4)] + b[: rng.randint(2, 4)]).strip()
        if topic not in used and len(topic) >= 4:
            used.add(topic)
            return topic
    topic = f"{rng.choice(src.phrases)[:4]}{len(used)}号"
    used.add(topic)
    return topic


def _text(rng: random.Random, src: Source, topic: str, clauses: int) -> str:
    parts = rng.sample(src.clauses, clauses)
    at = rng.randrange(len(parts))
    parts[at] = f"{topic}方面，{parts[at]}"
    return "；".join(parts) + "。"


def _questions(rng: random.Random, src: Source, topic: str) -> list[str]:
    out: list[str] = []
    for tail in rng.sample(_ASK_TAILS, rng.randint(2, 4)):
        out.append(f"{rng.choice(_ASK_HEADS)}{topic}{tail}")
    for q in rng.sample(src.questions, rng.randint(1, 3)):
        out.append(f"{topic}{q[: rng.randint(2, max(2, len(q)))]}")
    return list(dict.fromkeys(out))


def _document(doc_no: int, rng: random.Random) -> dict:
    year = 2000 + doc_no % 21
    date = dt.date(year, 1 + doc_no % 12, 1 + doc_no % 28)
    return {
        "id": f"synthetic-{doc_no:04d}",
        "title": f"广东省住房和城乡建设厅关于组织开展{year}年第{doc_no}批专项活动的通知",
        "short_title": f"{year}年第{doc_no}批专项活动通知",
        "number": f"粤建质函〔{year}〕{1000 + doc_no}号",
        "issuer": "广东省住房和城乡建设厅",
        "date": date,
        "year": year,
        "campaign": rng.choice(("质量月", "安全月", "专项检查", "观摩活动")),
    }


def _notice(doc_no: int, units: int, rng: random.Random, src: Source, used: set[str]) -> dict:
    """One notice with exactly `units` answer units: sections with items, a deadline and a contact."""
    doc = _document(doc_no, rng)
    prefix = f"d{doc_no:04d}"
    left = units
    notice: dict = {"document": doc}
    if left >= 2:
        topic = _topic(rng, src, used)
        notice["deadlines"] = [
            {
                "id": f"{prefix}-deadline",
                "date": doc["date"] + dt.timedelta(days=30),
                "what": f"{topic}总结材料",
                "who": "各地各有关主管部门",
                "how": "书面及电子邮件形式",
                "to": "我厅工程质量安全监管处",
                "section": "三",
                "text": f"请于截止日前将{topic}总结材料以书面及电子邮件形式报送我厅工程质量安全监管处。",
                "questions": [f"{topic}总结什么时候交", f"{topic}几时截止", f"{topic}材料报送给谁"],
            }
        ]
        name = rng.choice(("潘泽军", "陈小明", "李华", "黄志强", "林晓"))
        phone = f"020-8{rng.randrange(10**6, 10**7)}"
        notice["contacts"] = [
            {
                "id": f"{prefix}-contact",
                "name": name,
                "phone": phone,
                "office": "工程质量安全监管处",
                "section": "文尾",
                "text": f"（{topic}事项联系人：{name}，联系电话：{phone}）",
                "questions": [f"{topic}联系人是谁", f"{topic}打哪个电话", f"{topic}找谁问"],
            }
        ]
        left -= 2
    sections: list[dict] = []
    section_no = 0
    while left > 0:
        section_no += 1
        topic = _topic(rng, src, used)
        label = _CN_NUM[(section_no - 1) % 10]
        section: dict = {
            "id": f"{prefix}-s{section_no}",
            "section": f"二（{label}）",
            "title": f"{topic}：{rng.choice(src.clauses)[:20]}",
            "text": _text(rng, src, topic, rng.randint(1, 3)),
            "questions": _questions(rng, src, topic),
            "keywords": [topic],
        }
        left -= 1
        n_items = min(left, rng.randint(0, 3))
        if n_items:
            section["items"] = []
            for i in range(n_items):
                sub = _topic(rng, src, used)
                section["items"].append(
                    {
                        "id": f"{prefix}-s{section_no}-{i + 1}",
                        "label": _LABELS[i],
                        "text": _LABELS[i] + _text(rng, src, sub, 1),
                        "questions": _questions(rng, src, sub),
                    }
                )
            left -= n_items
        sections.append(section)
    if sections:
        notice["units"] = sections
    return notice


def write_synthetic(folder: Path, units: int, seed: int = 20210930) -> tuple[Path, Path, list[str]]:
    """Write `units` answer units as notices plus copies of lexicon and intents; return dirs and sample questions."""
    rng = random.Random(seed)
    src = Source(KNOWLEDGE / "gd-2021-quality-month.yaml")
    knowledge = folder / "knowledge"
    if knowledge.exists():
        shutil.rmtree(knowledge)
    knowledge.mkdir(parents=True)
    shutil.copy(KNOWLEDGE / "lexicon.yaml", knowledge / "lexicon.yaml")
    intents = folder / "intents.yaml"
    shutil.copy(INTENTS, intents)
    used: set[str] = set()
    samples: list[str] = []
    doc_no = 0
    left = units
    while left > 0:
        doc_no += 1
        size = min(UNITS_PER_DOC, left)
        notice = _notice(doc_no, size, rng, src, used)
        for section in notice.get("units", []):
            samples.append(rng.choice(section["questions"]))
        text = yaml.safe_dump(notice, allow_unicode=True, sort_keys=False, width=200)
        (knowledge / f"synthetic-{doc_no:04d}.yaml").write_text(text, encoding="utf-8")
        left -= size
    rng.shuffle(samples)
    return knowledge, intents, samples
