"""Settings from environment variables, read in a function so tests can pass their own."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.model import DEFAULT_TZ

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Everything configurable; each channel switches on when its settings are present."""

    host: str = "127.0.0.1"
    port: int = 8080
    db: Path = ROOT / "data" / "bot.sqlite3"
    tz: str = DEFAULT_TZ
    knowledge_dir: Path = ROOT / "knowledge"
    intents_file: Path = ROOT / "intents.yaml"
    telegram_token: str = ""
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""
    wechat_token: str = ""
    wechat_appid: str = ""
    wechat_aes_key: str = ""
    wechat_api_url: str = "https://api.weixin.qq.com"
    wechat_secret: str = ""
    wecom_corpid: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    admins: frozenset[str] = field(default_factory=frozenset)
    rate_limit: str = "on"  # "off" lifts per-client limits (benchmarks)
    rate_per_minute: int = 30  # questions per client per minute, on average
    rate_burst: int = 10  # questions a client may send in a quick burst
    console: str = "on"  # "off" removes the staff console (/admin) from the server
    console_secret: str = ""  # signs console sessions; default: a random key kept in the data folder
    console_session_minutes: int = 480  # a console login lasts this long

    @property
    def cache_dir(self) -> Path:
        """Where the fitted index (and jieba's dictionary cache) is kept between runs."""
        return self.db.parent / "cache"

    @property
    def console_on(self) -> bool:
        """Whether the staff console is served (BOT_CONSOLE=off switches it off)."""
        return self.console.strip().lower() not in ("off", "0", "false", "no")

    @property
    def zone(self) -> ZoneInfo:
        """The time zone deadlines and reminders are counted in."""
        return ZoneInfo(self.tz)


MIN_YEAR, MAX_YEAR = 2000, 2100  # keeps the engine's date arithmetic in range


def parse_moment(value: str, zone: ZoneInfo) -> datetime:
    """An ISO-8601 time in the bot's zone (a naive one is taken as that zone); ValueError says why."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("now 不是有效的 ISO-8601 时间") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        moment = moment.astimezone(zone)
    except OverflowError:
        raise ValueError("now 超出支持的时间范围") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f"now 必须在 {MIN_YEAR} 到 {MAX_YEAR} 年之间")
    return moment


_ENV_NAMES = {"db": "BOT_DB", "knowledge_dir": "BOT_KNOWLEDGE", "intents_file": "BOT_INTENTS"}  # others: BOT_<NAME>


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from BOT_* variables (an empty one means the default); keyword overrides (CLI flags) win."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(_ENV_NAMES.get(f.name, f"BOT_{f.name.upper()}"), "").strip()
        if not raw:
            continue
        if f.name == "admins":
            values[f.name] = frozenset(a.strip() for a in raw.split(",") if a.strip())
        elif f.type in ("int", int):
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise ValueError(f"{_ENV_NAMES.get(f.name, f'BOT_{f.name.upper()}')} 必须是整数，现在是 {raw!r}") from None
        elif f.type in ("Path", Path):
            values[f.name] = Path(raw)
        else:
            values[f.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
