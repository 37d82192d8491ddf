"""Reminders as a subscriber sees them: each one arrives once, on time, even across restarts and crashes."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.model import Outcome
from bot.state.delivery import Delivery, ReminderMessage
from bot.state.reminders import (
    STALE_AFTER,
    ReminderLoop,
    due_reminders,
    schedule,
    send_due,
    send_time,
)
from bot.state.store import Store

SH = ZoneInfo("Asia/Shanghai")
DEADLINE_DAY = date(2021, 9, 30)


@dataclass(frozen=True)
class Deadline:
    id: str
    date: date
    what: str
    remind_days: tuple[int, ...] = (7, 3, 1, 0)
    remind_at: time = time(9, 0)


SUBMIT = Deadline("submit-summary", DEADLINE_DAY, "报送质量月活动总结")


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2021, month, day, hour, minute, tzinfo=SH)


def render(deadline: Deadline, days_left: int) -> str:
    return f"{deadline.what}：还有{days_left}天（{deadline.date:%m月%d日}）"


class Crash(BaseException):
    """Stands in for the process being killed: not an Exception, so nothing may swallow it."""


@dataclass
class FakeSender:
    """Records what reached each chat; can answer 'blocked'/'undeliverable', fail, or crash."""

    outcomes: dict[str, str] = field(default_factory=dict)
    fail_chats: set[str] = field(default_factory=set)
    crash_on_call: int | None = None  # 1-based call number that kills the process before sending
    crash_after_delivery: bool = False
    sent: list[tuple[str, str]] = field(default_factory=list)
    calls: int = 0

    async def send(self, chat: str, text: str) -> str:
        self.calls += 1
        if self.crash_on_call == self.calls:
            raise Crash
        if chat in self.fail_chats:
            raise ConnectionError("network down")
        outcome = self.outcomes.get(chat, "sent")
        if outcome == "sent":
            self.sent.append((chat, text))
            if self.crash_after_delivery:
                raise Crash
        return outcome

    def texts(self, chat: str) -> list[str]:
        return [t for c, t in self.sent if c == chat]


@pytest.fixture
def db(tmp_path):
    return tmp_path / "bot.sqlite3"


@pytest.fixture
def store(db):
    s = Store(db)
    yield s
    s.close()


async def run(store, now, sender, deadlines=(SUBMIT,), channel="telegram"):
    return await send_due(list(deadlines), store, now, SH, {channel: sender}, render)


def hours(start: datetime, end: datetime, step: timedelta = timedelta(hours=1)):
    t = start
    while t <= end:
        yield t
        t += step


# -- the normal course ------------------------------------------------------------------------


async def test_each_offset_is_sent_once_at_its_time(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    store.subscribe("telegram", "2", "bob", at(9, 1))
    sender = FakeSender()
    for now in hours(at(9, 20, 0), at(10, 2, 0)):
        await run(store, now, sender)
        await run(store, now, sender)  # a second pass in the same minute sends nothing
    for chat in ("1", "2"):
        assert sender.texts(chat) == [
            "报送质量月活动总结：还有7天（09月30日）",
            "报送质量月活动总结：还有3天（09月30日）",
            "报送质量月活动总结：还有1天（09月30日）",
            "报送质量月活动总结：还有0天（09月30日）",
        ]
    assert {r["status"] for r in store.reminder_rows()} == {"sent"}
    assert len(store.reminder_rows()) == 8


async def test_send_time_is_nine_in_shanghai_not_utc(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    sender = FakeSender()
    await run(store, datetime(2021, 9, 23, 0, 59, tzinfo=UTC), sender)
    assert sender.sent == []
    await run(store, datetime(2021, 9, 23, 1, 0, tzinfo=UTC), sender)  # 09:00 in Shanghai
    assert sender.texts("1") == ["报送质量月活动总结：还有7天（09月30日）"]


async def test_running_twice_sends_once(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    sender = FakeSender()
    first = await run(store, at(9, 27, 9, 5), sender)
    second = await run(store, at(9, 27, 9, 5), sender)
    assert first.sent == 1 and second.sent == 0
    assert len(sender.sent) == 1


async def test_restart_between_offsets(db):
    sender = FakeSender()
    with Store(db) as s:
        s.subscribe("telegram", "1", "alice", at(9, 1))
    for now in [
        at(9, 23, 10),
        at(9, 23, 11),
        at(9, 27, 9),
        at(9, 27, 9),
        at(9, 29, 12),
        at(9, 30, 9),
    ]:
        with Store(db) as s:  # a fresh process each time
            await run(s, now, sender)
    assert [t.split("：")[1] for t in sender.texts("1")] == [
        "还有7天（09月30日）",
        "还有3天（09月30日）",
        "还有1天（09月30日）",
        "还有0天（09月30日）",
    ]


async def test_nothing_is_due_before_the_first_send_time(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    assert due_reminders([SUBMIT], store.subscribers(), store, at(9, 23, 8, 59), SH) == []
    [due] = due_reminders([SUBMIT], store.subscribers(), store, at(9, 23, 9, 0), SH)
    assert (due.offset, due.days_left, due.chat, due.for_date) == (7, 7, "1", DEADLINE_DAY)


# -- crashes ----------------------------------------------------------------------------------


async def test_crash_in_the_middle_of_a_run_delivers_each_reminder_exactly_once(db):
    delivered: Counter[tuple[str, str]] = Counter()
    chats = ["1", "2", "3", "4"]
    with Store(db) as s:
        for c in chats:
            s.subscribe("telegram", c, f"user{c}", at(9, 1))

    # the process dies on the 3rd send of the 7-day round
    crashing = FakeSender(crash_on_call=3)
    s = Store(db)
    with pytest.raises(Crash):
        await run(s, at(9, 23, 9), crashing)
    # the killed process never closes its connection; the next one opens the same file
    delivered.update(crashing.sent)
    assert [c for c, _ in crashing.sent] == ["1", "2"]

    sender = FakeSender()
    times = [
        at(9, 23, 9, 1),  # restart at once: chat 4 gets its reminder, chat 3's row is still fresh
        at(9, 23, 9, 1) + STALE_AFTER,  # chat 3's interrupted reminder is retried once
        at(9, 23, 12),
        at(9, 27, 9),
        at(9, 29, 9),
        at(9, 30, 9),
        at(9, 30, 18),
    ]
    for now in times:
        with Store(db) as s2:
            await run(s2, now, sender)
    delivered.update(sender.sent)
    s.close()

    for c in chats:
        per_chat = sorted(t for (chat, t), n in delivered.items() for _ in range(n) if chat == c)
        assert len(per_chat) == 4, (c, per_chat)
        assert len(set(per_chat)) == 4, (c, per_chat)
    assert max(delivered.values()) == 1
    with Store(db) as s3:
        assert {r["status"] for r in s3.reminder_rows()} == {"sent"}


async def test_fresh_pending_row_is_not_resent_by_a_concurrent_run(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    # another run has claimed the reminder and is still sending it
    assert store.claim_reminder(
        "submit-summary", 7, "telegram", "1", at(9, 23, 9), for_date=DEADLINE_DAY
    )
    sender = FakeSender()
    await run(store, at(9, 23, 9, 1), sender)
    await run(store, at(9, 23, 9, 3), sender)
    assert sender.sent == []


async def test_a_reminder_that_crashes_every_time_is_tried_at_most_twice(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    sender = FakeSender(crash_after_delivery=True)
    now = at(9, 23, 9)
    for _ in range(5):
        with pytest.raises(Crash):
            await run(store, now, sender)
        now += STALE_AFTER + timedelta(minutes=1)
        if len(sender.sent) == 2:
            break
    await run(store, now, sender)  # the row is given up, not sent a third time
    await run(store, now + timedelta(hours=1), sender)
    assert len(sender.sent) == 2
    [row] = store.reminder_rows()
    assert row["status"] == "failed"


async def test_stale_pending_row_overtaken_by_a_later_offset_is_not_sent(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    with pytest.raises(Crash):
        await run(store, at(9, 23, 9), FakeSender(crash_on_call=1))
    sender = FakeSender()
    await run(store, at(9, 27, 10), sender)  # back up four days later
    assert sender.texts("1") == ["报送质量月活动总结：还有3天（09月30日）"]
    statuses = {r["offset"]: r["status"] for r in store.reminder_rows()}
    assert statuses == {7: "skipped", 3: "sent"}


# -- downtime, late subscribers, moved dates --------------------------------------------------


async def test_after_downtime_only_the_latest_missed_offset_is_sent(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    sender = FakeSender()
    report = await run(store, at(9, 29, 15), sender)  # down from Sep 1 until Sep 29 afternoon
    assert sender.texts("1") == ["报送质量月活动总结：还有1天（09月30日）"]
    assert report.sent == 1 and report.skipped == 2
    statuses = {r["offset"]: r["status"] for r in store.reminder_rows()}
    assert statuses == {7: "skipped", 3: "skipped", 1: "sent"}
    await run(store, at(9, 29, 16), sender)
    await run(store, at(9, 30, 9), sender)
    assert len(sender.texts("1")) == 2
    assert sender.texts("1")[-1].startswith("报送质量月活动总结：还有0天")


async def test_nothing_is_sent_once_the_deadline_day_is_over(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    sender = FakeSender()
    await run(store, at(9, 28, 9), sender)
    assert len(sender.sent) == 1  # the 3-day one, late but still useful
    await run(store, at(10, 1, 0, 0), sender)  # down during the whole of Sep 29 and 30
    await run(store, at(10, 5), sender)
    assert len(sender.sent) == 1
    late_on_the_day = await run(store, at(9, 30, 23, 59), FakeSender())
    assert late_on_the_day.sent == 1  # the day-of reminder still goes out before midnight


async def test_late_subscriber_gets_only_reminders_after_joining(store):
    store.subscribe("telegram", "early", "a", at(9, 1))
    store.subscribe("telegram", "late", "b", at(9, 28, 10))  # 2 days before, after the 3-day one
    sender = FakeSender()
    for now in hours(at(9, 20), at(10, 1)):
        await run(store, now, sender)
    assert len(sender.texts("early")) == 4
    assert [t.split("：")[1][:4] for t in sender.texts("late")] == ["还有1天", "还有0天"]
    late_offsets = sorted(r["offset"] for r in store.reminder_rows() if r["chat"] == "late")
    assert late_offsets == [0, 1]  # 7 and 3 were never due for this chat


async def test_late_subscriber_during_downtime_gets_the_latest_one_after_joining(store):
    store.subscribe("telegram", "late", "b", at(9, 28, 10))
    sender = FakeSender()
    await run(store, at(9, 30, 10), sender)  # the 1-day and 0-day times passed while down
    assert sender.texts("late") == ["报送质量月活动总结：还有0天（09月30日）"]


async def test_subscriber_joining_after_send_time_on_the_day_gets_nothing_that_day(store):
    store.subscribe("telegram", "1", "a", at(9, 30, 9, 30))
    sender = FakeSender()
    await run(store, at(9, 30, 10), sender)
    assert sender.sent == []


async def test_moved_deadline_gets_reminders_for_its_new_date(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    sender = FakeSender()
    await run(store, at(9, 23, 9), sender)
    assert len(sender.sent) == 1

    moved = replace(SUBMIT, date=date(2021, 10, 15))  # staff edit the knowledge on Sep 24
    for now in hours(at(9, 24), at(10, 16), timedelta(hours=3)):
        await run(store, now, sender, deadlines=[moved])
    assert sender.texts("1") == [
        "报送质量月活动总结：还有7天（09月30日）",
        "报送质量月活动总结：还有7天（10月15日）",
        "报送质量月活动总结：还有3天（10月15日）",
        "报送质量月活动总结：还有1天（10月15日）",
        "报送质量月活动总结：还有0天（10月15日）",
    ]


async def test_deadline_moved_earlier_sends_the_current_countdown_at_once(store):
    store.subscribe("telegram", "1", "alice", at(9, 1))
    sender = FakeSender()
    await run(store, at(9, 23, 9), sender)
    moved = replace(SUBMIT, date=date(2021, 9, 26))
    await run(store, at(9, 24, 10), sender, deadlines=[moved])
    await run(store, at(9, 24, 11), sender, deadlines=[moved])
    assert sender.texts("1")[1:] == ["报送质量月活动总结：还有2天（09月26日）"]


# -- platform answers -------------------------------------------------------------------------


async def test_blocked_chat_is_unsubscribed_and_not_tried_again(store):
    store.subscribe("telegram", "1", "a", at(9, 1))
    store.subscribe("telegram", "2", "b", at(9, 1))
    sender = FakeSender(outcomes={"1": "blocked"})
    report = await run(store, at(9, 23, 9), sender)
    assert report.blocked == 1 and report.sent == 1
    assert not store.is_subscribed("telegram", "1")
    for now in hours(at(9, 24), at(9, 30, 12), timedelta(hours=6)):
        await run(store, now, sender)
    assert sender.calls == 1 + 4  # chat 1 once, chat 2 four times
    assert sender.texts("1") == []


async def test_failed_send_is_retried_once_and_the_next_offset_still_comes(store):
    store.subscribe("telegram", "1", "a", at(9, 1))
    sender = FakeSender(fail_chats={"1"})
    report = await run(store, at(9, 23, 9), sender)
    assert report.failed == 1
    await run(store, at(9, 23, 9, 1), sender)  # too soon: not retried yet
    assert sender.calls == 1
    await run(store, at(9, 23, 10), sender)  # retried once, fails again
    await run(store, at(9, 23, 11), sender)  # given up
    assert sender.calls == 2
    sender.fail_chats.clear()
    await run(store, at(9, 27, 9), sender)
    assert sender.texts("1") == ["报送质量月活动总结：还有3天（09月30日）"]
    statuses = {r["offset"]: r["status"] for r in store.reminder_rows()}
    assert statuses == {7: "failed", 3: "sent"}


async def test_a_send_that_fails_once_is_delivered_on_the_retry(store):
    store.subscribe("telegram", "1", "a", at(9, 1))
    sender = FakeSender(fail_chats={"1"})
    await run(store, at(9, 23, 9), sender)
    sender.fail_chats.clear()  # the network is back
    await run(store, at(9, 23, 9, 30), sender)
    await run(store, at(9, 23, 10), sender)
    assert sender.texts("1") == ["报送质量月活动总结：还有7天（09月30日）"]
    assert [r["status"] for r in store.reminder_rows()] == ["sent"]


async def test_undeliverable_is_recorded_and_keeps_the_subscription(store):
    store.subscribe("wechat", "oA", "oA", at(9, 1))
    sender = FakeSender(outcomes={"oA": "undeliverable"})  # e.g. outside the 48 h window
    await run(store, at(9, 23, 9), sender, channel="wechat")
    assert store.is_subscribed("wechat", "oA")
    assert store.reminder_rows()[0]["status"] == "undeliverable"


async def test_channel_without_sender_waits_instead_of_losing_the_reminder(store):
    store.subscribe("wechat", "oA", "oA", at(9, 1))
    store.subscribe("telegram", "1", "a", at(9, 1))
    tg = FakeSender()
    report = await send_due([SUBMIT], store, at(9, 23, 9), SH, {"telegram": tg}, render)
    assert report.waiting == 1 and report.sent == 1
    wx = FakeSender()
    await send_due([SUBMIT], store, at(9, 23, 9, 30), SH, {"telegram": tg, "wechat": wx}, render)
    assert wx.texts("oA") == ["报送质量月活动总结：还有7天（09月30日）"]
    assert len(tg.sent) == 1


# -- schedule ---------------------------------------------------------------------------------


async def test_schedule_shows_past_present_and_future(store):
    store.subscribe("telegram", "1", "a", at(9, 1))
    store.subscribe("telegram", "late", "b", at(9, 28, 10))
    await run(store, at(9, 23, 9), FakeSender())
    plan = schedule([SUBMIT], store.subscribers(), store, at(9, 29, 9, 30), SH)
    status = {(p.chat, p.offset): p.status for p in plan}
    assert status == {
        ("1", 7): "sent",
        ("1", 3): "superseded",
        ("1", 1): "due",
        ("1", 0): "planned",
        ("late", 7): "before-subscription",
        ("late", 3): "before-subscription",
        ("late", 1): "due",
        ("late", 0): "planned",
    }
    assert [p.send_at for p in plan] == sorted(p.send_at for p in plan)
    assert send_time(SUBMIT, 0, SH) == at(9, 30, 9)
    after = schedule([SUBMIT], store.subscribers(), store, at(10, 1, 9), SH)
    assert {p.status for p in after if p.chat == "late"} == {"expired"}


# -- the loop ---------------------------------------------------------------------------------


async def wait_until(predicate, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_loop_sends_on_poke_picks_up_reloads_and_survives_errors(store):
    store.subscribe("telegram", "1", "a", at(9, 1))
    clock = {"now": at(9, 23, 9)}
    knowledge: dict[str, list[Deadline] | None] = {"deadlines": [SUBMIT]}

    def current_deadlines() -> list[Deadline]:
        if knowledge["deadlines"] is None:
            raise RuntimeError("knowledge reload failed")
        return knowledge["deadlines"]

    sender = FakeSender()
    loop = ReminderLoop(
        store,
        current_deadlines,
        {"telegram": sender},
        render,
        clock=lambda: clock["now"],
        zone=SH,
        interval=3600,
    )
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: len(sender.sent) == 1)

        knowledge["deadlines"] = None  # a broken pass is logged, the loop lives on
        loop.poke()
        await wait_until(lambda: loop.last_error is not None)
        assert not task.done()

        other = Deadline("self-check", date(2021, 9, 24), "企业自查")
        knowledge["deadlines"] = [SUBMIT, other]
        clock["now"] = at(9, 24, 9)
        loop.poke()
        await wait_until(lambda: len(sender.sent) == 2)
        assert sender.texts("1")[-1] == "企业自查：还有0天（09月24日）"
        assert loop.last_error is None
    finally:
        loop.stop()
        await asyncio.wait_for(task, timeout=2)
    assert task.done() and task.exception() is None


async def test_loop_wakes_by_itself_every_interval(store):
    store.subscribe("telegram", "1", "a", at(9, 1))
    clock = {"now": at(9, 22, 9)}
    sender = FakeSender()
    loop = ReminderLoop(
        store,
        lambda: [SUBMIT],
        {"telegram": sender},
        render,
        clock=lambda: clock["now"],
        interval=0.01,
    )
    task = asyncio.create_task(loop.run())
    try:
        await wait_until(lambda: loop.runs >= 2)
        assert sender.sent == []
        clock["now"] = at(9, 23, 9)
        await wait_until(lambda: len(sender.sent) == 1)
        runs = loop.runs
        await wait_until(lambda: loop.runs >= runs + 3)
        assert len(sender.sent) == 1
    finally:
        loop.stop()
        await asyncio.wait_for(task, timeout=2)


# -- what the platform answered ---------------------------------------------------------------------


@dataclass
class PlatformSender:
    """A sender that reports the path it took and the platform's answer, and takes the reminder's values."""

    answers: list[Delivery] = field(default_factory=list)  # answered in order, then "sent"
    received: list[tuple[str, ReminderMessage]] = field(default_factory=list)

    async def send(self, chat: str, text: str) -> Delivery:
        raise AssertionError("a reminder goes through send_reminder when the sender has it")

    async def send_reminder(self, chat: str, message: ReminderMessage) -> Delivery:
        self.received.append((chat, message))
        if self.answers:
            return self.answers.pop(0)
        return Delivery(Outcome.SENT, "template", "0 ok")


def render_message(deadline: Deadline, days_left: int) -> ReminderMessage:
    return ReminderMessage(render(deadline, days_left), {"what": deadline.what, "countdown": f"还有{days_left}天"})


async def test_the_path_and_the_platforms_answer_are_kept_per_reminder(store):
    store.subscribe("wechat", "o1", "o1", at(9, 1))
    sender = PlatformSender()
    await send_due([SUBMIT], store, at(9, 23, 9, 5), SH, {"wechat": sender}, render_message)
    (chat, message), = sender.received
    assert message.values == {"what": SUBMIT.what, "countdown": "还有7天"}
    (row,) = store.reminder_rows()
    assert (row["status"], row["path"], row["answer"]) == ("sent", "template", "0 ok")


async def test_a_used_up_quota_is_sent_the_next_day_at_the_reminder_time(store):
    store.subscribe("wechat", "o1", "o1", at(9, 1))
    sender = PlatformSender([Delivery(Outcome.DEFERRED, "template", "45009 reach max api daily quota limit")])
    report = await send_due([SUBMIT], store, at(9, 23, 9, 5), SH, {"wechat": sender}, render_message)
    assert report.deferred == 1
    (row,) = store.reminder_rows()
    assert row["status"] == "deferred" and row["answer"].startswith("45009")
    for moment in (at(9, 23, 18), at(9, 24, 8, 59)):  # not before the next day's send time
        await send_due([SUBMIT], store, moment, SH, {"wechat": sender}, render_message)
    assert len(sender.received) == 1
    report = await send_due([SUBMIT], store, at(9, 24, 9, 1), SH, {"wechat": sender}, render_message)
    assert report.sent == 1 and sender.received[-1][1].values["countdown"] == "还有6天"
    (row,) = store.reminder_rows()
    assert (row["status"], row["attempts"]) == ("sent", 1)  # deferring cost no attempt
    await send_due([SUBMIT], store, at(9, 25, 9, 1), SH, {"wechat": sender}, render_message)
    assert len(sender.received) == 2


async def test_a_deferred_reminder_overtaken_by_the_next_offset_is_not_sent(store):
    store.subscribe("wechat", "o1", "o1", at(9, 1))
    quota = Delivery(Outcome.DEFERRED, "template", "45009")
    sender = PlatformSender([quota, quota, quota])
    await send_due([SUBMIT], store, at(9, 29, 9, 5), SH, {"wechat": sender}, render_message)  # 1 day left
    report = await send_due([SUBMIT], store, at(9, 30, 9, 5), SH, {"wechat": sender}, render_message)
    statuses = {r["offset"]: r["status"] for r in store.reminder_rows()}
    assert statuses[1] == "skipped" and statuses[0] == "deferred"
    assert [m.values["countdown"] for _, m in sender.received] == ["还有1天", "还有0天"]
    assert report.skipped == 1
    await send_due([SUBMIT], store, at(10, 1, 9, 5), SH, {"wechat": sender}, render_message)  # deadline over
    assert {r["offset"]: r["status"] for r in store.reminder_rows()}[0] == "skipped"
    assert len(sender.received) == 2
