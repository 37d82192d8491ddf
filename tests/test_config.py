"""Settings a deployer types: a typo is named at startup instead of silently meaning something else."""

from __future__ import annotations

import pytest

from bot.config import load_settings


def test_choices_are_checked_and_case_does_not_matter() -> None:
    settings = load_settings({"BOT_WECHAT_MODE": "SAFE", "BOT_LOG_DAYS": "30"})
    assert (settings.wechat_mode, settings.log_days) == ("safe", 30)
    assert load_settings({}).log_days == 180 and load_settings({}).wechat_mode == ""
    with pytest.raises(ValueError, match="BOT_WECHAT_MODE"):
        load_settings({"BOT_WECHAT_MODE": "secure"})
