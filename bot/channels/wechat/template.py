"""The Official Account's sender: template messages for reminders, customer service inside 48 hours.

A customer-service message reaches a follower only within 48 hours of their last message, which
most reminders fall outside (someone subscribes on the 10th and is reminded on the 23rd). A 服务号
sends those by template message (``/cgi-bin/message/template/send``): staff pick a template, set its
id in BOT_WECHAT_TEMPLATE_ID and map its fields to the reminder's values in intents.yaml
(``wechat_template``). Without a template, or once WeChat refuses it (40037), reminders go by customer
service inside the window and are undeliverable outside it, without asking WeChat. Broadcasts and
admin notices are free text, which templates may not carry: always customer service.

WeChat's answers, as its documentation gives them: 43004 the user unfollowed (unsubscribe them),
40037 the template id is invalid (stop using it, tell the admins once, across restarts), 45009 the
daily quota is used up (the reminder waits for the next day), 45015 outside the 48 hours.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.channels.wechat.push import (
    CHANNEL,
    CUSTOMER_SERVICE,
    INVALID_OPENID,
    QUOTA,
    UNSUBSCRIBED,
    AccessTokenCache,
    WeChatApiError,
    WeChatCustomerServiceSender,
    answer_text,
)
from bot.core.compose import fill
from bot.core.model import Outcome
from bot.state.delivery import Delivery, ReminderMessage

if TYPE_CHECKING:
    from bot.service import Service

log = logging.getLogger(__name__)

TEMPLATE = "template"  # the path name kept with each reminder
WINDOW = timedelta(hours=48)
INVALID_TEMPLATE = 40037
# What WeChat accepts in a field of the newer templates, in characters (by the field's name);
# the classic first/keywordN/remark fields take ordinary text.
FIELD_LIMITS = {
    "thing": 20,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phone_number": 17,
    "car_number": 8,
}
DEFAULT_LIMIT = 200


def field_values(fields: Mapping[str, str], values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The template's `data`: each field's text filled with the reminder's values, cut to what WeChat takes."""
    data: dict[str, dict[str, str]] = {}
    for name, text in fields.items():
        value = " ".join(fill(text, **values).split())  # one line: template fields do not wrap
        limit = FIELD_LIMITS.get(name.rstrip("0123456789"), DEFAULT_LIMIT)
        if len(value) > limit:
            value = value[: limit - 1] + "…"
        data[name] = {"value": value}
    return data


class WeChatSender:
    """The "wechat" channel's sender: reminders by template when configured, else customer service inside 48 h."""

    channel = CHANNEL

    def __init__(
        self, tokens: AccessTokenCache, services: Service, template_id: str = "", template_url: str = ""
    ) -> None:
        """One token cache for both APIs; the field map is read from the knowledge at each send (reloads apply)."""
        self.tokens = tokens
        self.customer_service = WeChatCustomerServiceSender(tokens)
        self.services = services
        self.template_id = template_id
        self.template_url = template_url

    async def close(self) -> None:
        """Release the HTTP session at shutdown."""
        await self.tokens.close()

    async def send(self, chat: str, text: str) -> Delivery:
        """Free text (a broadcast, an admin notice): customer service, and only inside the 48 hours."""
        return await self._customer_service(chat, text)

    async def send_reminder(self, chat: str, message: ReminderMessage) -> Delivery:
        """A reminder: by template message when one is set up and valid, else as customer-service text."""
        fields = self._template_fields()
        refused = ""
        if fields:
            delivery = await self._template(chat, message, fields)
            if delivery.outcome != Outcome.FAILED:
                return delivery
            refused = delivery.answer + "; "  # the template was invalid: fall back, and say why
        delivery = await self._customer_service(chat, message.text)
        return Delivery(delivery.outcome, delivery.path, refused + delivery.answer)

    # -- the two paths ----------------------------------------------------------------------

    def _notice_key(self) -> str:
        return f"wechat-template-invalid:{self.template_id}"

    def _template_fields(self) -> Mapping[str, str]:
        """The field map to use, or nothing: no template id, no map, or WeChat refused this id before."""
        if not self.template_id:
            return {}
        fields = self.services.engine.knowledge.wechat_template
        if not fields or self.services.store.noted(self._notice_key()):
            return {}
        return fields

    async def _template(self, chat: str, message: ReminderMessage, fields: Mapping[str, str]) -> Delivery:
        """One template message; FAILED (with WeChat's answer) means the template itself was refused."""
        payload: dict[str, object] = {
            "touser": chat,
            "template_id": self.template_id,
            "data": field_values(fields, message.values),
        }
        if self.template_url:
            payload["url"] = self.template_url
        code, data = await self.tokens.call("/cgi-bin/message/template/send", payload)
        said = answer_text(code, data)
        if code == 0:
            return Delivery(Outcome.SENT, TEMPLATE, said)
        if code == UNSUBSCRIBED:
            log.info("wechat user %s no longer follows the account", chat)
            return Delivery(Outcome.BLOCKED, TEMPLATE, said)
        if code == INVALID_OPENID:
            return Delivery(Outcome.UNDELIVERABLE, TEMPLATE, said)
        if code == QUOTA:
            log.warning("wechat daily API quota used up: %s", said)
            return Delivery(Outcome.DEFERRED, TEMPLATE, said)
        if code == INVALID_TEMPLATE:
            await self._template_refused(said)
            return Delivery(Outcome.FAILED, TEMPLATE, said)
        raise WeChatApiError(code, str(data.get("errmsg", "")))

    async def _template_refused(self, said: str) -> None:
        """Stop using this template id, in this process and after a restart, and tell the admins once."""
        if self.services.store.note_once(self._notice_key(), self.services.real_clock()):
            log.error("wechat template %s refused (%s): reminders fall back to customer service", self.template_id, said)
            await self.services.notify_admins(
                f"微信模板消息 {self.template_id} 无效（{said}）：截止提醒已改用客服消息，"
                "只能送达48小时内与公众号互动过的用户。请检查 BOT_WECHAT_TEMPLATE_ID 和 intents.yaml 中的 wechat_template，"
                "更换模板编号后重启即可恢复。"
            )

    async def _customer_service(self, chat: str, text: str) -> Delivery:
        """Customer service if the user wrote within 48 hours (by our record), else undeliverable at once."""
        last = self.services.store.last_message(CHANNEL, chat)
        now = self.services.real_clock()
        if last is None or now - last > WINDOW:
            seen = "no message from the user" if last is None else f"last message {last:%Y-%m-%d %H:%M} UTC"
            return Delivery(Outcome.UNDELIVERABLE, CUSTOMER_SERVICE, f"outside the 48 h window ({seen})")
        return await self.customer_service.send(chat, text)
