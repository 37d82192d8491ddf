"""Settings from environment variables, read in a function so tests can pass their own."""

from __future__ import annotations

import ipaddress
import os
import re
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
    wechat_mode: str = ""  # plain | compat | safe; empty: plain without an AES key, safe with one
    wechat_template_id: str = ""  # template message for reminders beyond the 48-hour window
    wechat_template_url: str = ""  # page a template message opens when tapped
    wecom_corpid: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_agentid: str = ""  # the app that pushes reminders, with its secret
    wecom_secret: str = ""
    wecom_api_url: str = "https://qyapi.weixin.qq.com"
    admins: frozenset[str] = field(default_factory=frozenset)
    rate_limit: str = "on"  # "off" lifts per-client limits (benchmarks)
    rate_per_minute: int = 30  # questions per client per minute, on average
    rate_burst: int = 10  # questions a client may send in a quick burst
    log_days: int = 180  # days the question log is kept
    rate_per_address: int = 300  # questions per minute from one address, all its clients together (an office NAT)
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)  # addresses/networks whose X-Forwarded-For counts
    widget_origins: frozenset[str] = field(default_factory=frozenset)  # sites that may embed the chat (/widget.js)
    header_timeout: float = 10.0  # seconds a new connection has to send its request head
    body_timeout: float = 10.0  # seconds a request has to send its whole body
    keepalive_timeout: float = 15.0  # seconds an idle keep-alive connection stays open
    max_connections: int = 1000  # open connections at once; more are answered 503 and closed
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
_CHOICES = {"wechat_mode": ("plain", "compat", "safe")}
_POSITIVE = {"rate_per_address", "header_timeout", "body_timeout", "keepalive_timeout", "max_connections"}
_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _env_name(name: str) -> str:
    return _ENV_NAMES.get(name, f"BOT_{name.upper()}")


def _parse_list(name: str, raw: str) -> frozenset[str]:
    """A comma-separated setting; origins and proxy networks are checked, since they end up in headers."""
    items = frozenset(a.strip().rstrip("/") if name == "widget_origins" else a.strip() for a in raw.split(",") if a.strip())
    for item in items:
        if name == "widget_origins" and not _ORIGIN_RE.fullmatch(item):
            raise ValueError(f"{_env_name(name)}：{item!r} 不是网站地址（例如 https://www.example.gov.cn）")
        if name == "trusted_proxies":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{_env_name(name)}：{item!r} 不是 IP 地址或网段") from None
    return items


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from BOT_* variables (an empty one means the default); keyword overrides (CLI flags) win."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(_env_name(f.name), "").strip()
        if not raw:
            continue
        if f.type == "frozenset[str]":
            values[f.name] = _parse_list(f.name, raw)
        elif f.type in ("int", int, "float", float):
            kind, word = (int, "整数") if f.type in ("int", int) else (float, "数字")
            try:
                number = kind(raw)
            except ValueError:
                raise ValueError(f"{_env_name(f.name)} 必须是{word}，现在是 {raw!r}") from None
            if number <= 0 and f.name in _POSITIVE:
                raise ValueError(f"{_env_name(f.name)} 必须大于 0，现在是 {raw!r}")
            values[f.name] = number
        elif f.type in ("Path", Path):
            values[f.name] = Path(raw)
        elif f.name in _CHOICES and raw.lower() not in _CHOICES[f.name]:
            name = f"BOT_{f.name.upper()}"
            raise ValueError(f"{name} 必须是 {' / '.join(_CHOICES[f.name])} 之一，现在是 {raw!r}")
        elif f.name in _CHOICES:
            values[f.name] = raw.lower()
        else:
            values[f.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
