"""Which WeChat-family senders the settings switch on: the Official Account's and the WeCom app's."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.channels.wechat.push import AccessTokenCache
from bot.channels.wechat.template import WeChatSender
from bot.channels.wechat.wecom import WeComSender, WeComTokenCache

if TYPE_CHECKING:
    from bot.service import Service
    from bot.state.reminders import Sender

log = logging.getLogger(__name__)


def wechat_senders(services: Service) -> dict[str, Sender]:
    """A "wechat" sender with the account's appid and secret, a "wecom" one with the app's AgentId and secret.

    Only channels with a sender accept subscriptions, so no one is promised a reminder that cannot arrive.
    """
    s = services.settings
    senders: dict[str, Sender] = {}
    if s.wechat_appid and s.wechat_secret:
        tokens = AccessTokenCache(s.wechat_appid, s.wechat_secret, s.wechat_api_url)
        senders["wechat"] = WeChatSender(tokens, services, s.wechat_template_id, s.wechat_template_url)
        if s.wechat_template_id and not services.engine.knowledge.wechat_template:
            log.warning("BOT_WECHAT_TEMPLATE_ID is set but intents.yaml has no wechat_template: not used")
    wecom = {"BOT_WECOM_CORPID": s.wecom_corpid, "BOT_WECOM_AGENTID": s.wecom_agentid, "BOT_WECOM_SECRET": s.wecom_secret}
    if all(wecom.values()):
        try:
            agentid = int(s.wecom_agentid)
        except ValueError:
            raise ValueError(f"BOT_WECOM_AGENTID 必须是整数（应用的 AgentId），现在是 {s.wecom_agentid!r}") from None
        tokens = WeComTokenCache(s.wecom_corpid, s.wecom_secret, s.wecom_api_url)
        senders["wecom"] = WeComSender(tokens, agentid)
    elif s.wecom_agentid or s.wecom_secret:
        missing = ", ".join(k for k, v in wecom.items() if not v)
        log.warning("WeCom push disabled: %s not set", missing)
    return senders
