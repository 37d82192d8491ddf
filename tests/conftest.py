"""Shared fixtures: the real knowledge, loaded once, and a fixed clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.engine import Engine
from bot.service import load_engine

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
INTENTS = ROOT / "intents.yaml"
DEV_SET = ROOT / "tests" / "data" / "dev_questions.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# During the campaign: five days before the 9月30日 deadline.
CAMPAIGN_NOW = datetime(2021, 9, 25, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The real engine on the real knowledge files (built once: jieba's dictionary is slow to load)."""
    return load_engine(KNOWLEDGE, INTENTS)


@pytest.fixture
def now() -> datetime:
    """A fixed time inside the campaign month."""
    return CAMPAIGN_NOW
