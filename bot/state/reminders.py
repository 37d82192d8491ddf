"""Deadline reminders: which (deadline, days-before) pairs are due for which subscriber, and sending them.

Platform-free: channels plug in a ``Sender``; the text comes from a ``render`` callable; the state
lives in ``bot.state.store.Store``, so a restart neither repeats nor forgets a reminder.

Rules, all counted in the bot's zone (Asia/Shanghai by default):

* A deadline on day D with offsets ``remind_days`` (default 7, 3, 1, 0) has one send time per
  offset: day D minus that many days, at ``remind_at`` (default 09:00).
* An offset is *eligible* for a chat when its send time has come, is not earlier than the moment
  the chat subscribed, and the deadline day has not ended.
* Only the latest eligible offset per deadline per chat is sent. After downtime that means one
  message with the true number of days left, not a burst of stale ones; the older eligible
  offsets are recorded as ``skipped``. A chat that subscribes 2 days before gets the 1- and 0-day
  reminders, never the 7- and 3-day ones whose time had passed before it joined.
* Reminder rows are keyed by deadline id, deadline DATE, offset, channel and chat. When staff
  move a deadline, the rows of the old date no longer match, so the offsets of the new date are
  computed and sent afresh (the latest one due right away, if any is due); rows of the old date
  stay as history.

Exactly-once across crashes: each reminder is claimed (a durable ``pending`` row) before the
platform is called, then finished with the outcome. A second run, or a concurrent one, cannot
claim it again. A row still ``pending`` means the process died (or was cancelled) between the
claim and the finish. Policy: once the row has been pending for ``stale_after`` (5 minutes by
default, far longer than any send takes, so a run still in progress is never raced), it is retried
ONCE, because to our knowledge the send never completed; if it is found pending again, it is
marked ``failed`` and never sent again. A send that raised (network down, a platform error) is
treated the same way: its row stays ``pending`` and gets the one retry. A stale row that has been overtaken by a later offset, a
moved date, an ended deadline or an unsubscribe is marked ``skipped`` instead. The only way to
deliver twice is a crash after the platform accepted the message but before the finish was
committed (a window of milliseconds); then the user gets it at most twice, never more. A platform
with idempotent sends would be needed to close that window.

A platform that refuses a reminder for its daily quota (WeChat's 45009) answers ``deferred``: the
row waits, without using an attempt, until the next day's send time, and is then sent unless a
later offset, a moved date or the end of the deadline has overtaken it. Each row keeps the path the
sender took and the platform's answer (``bot.state.delivery``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.core.model import DEFAULT_REMIND_AT, DEFAULT_REMIND_DAYS, DEFAULT_TZ, Outcome
from bot.state.delivery import Delivery, ReminderMessage, ReminderSender, as_delivery, as_message
from bot.state.store import Store, Subscription

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo(DEFAULT_TZ)
STALE_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 2  # the first try plus one retry after a crash


class DeadlineLike(Protocol):
    """What reminders need from a knowledge deadline (remind_days / remind_at are optional)."""

    @property
    def id(self) -> str:
        """Stable key of the deadline across knowledge reloads."""
        ...

    @property
    def date(self) -> date:
        """The day the deadline falls on, in the bot's zone."""
        ...

    @property
    def what(self) -> str:
        """What has to be done by then, for the message text."""
        ...


class Sender(Protocol):
    """One channel's way to push a message: SENT, UNDELIVERABLE, BLOCKED or DEFERRED; raising = failed (retried).

    It may answer a Delivery (outcome, path, platform answer) instead of a bare Outcome, and may
    take whole reminders with ``send_reminder`` (see ``bot.state.delivery.ReminderSender``).
    """

    async def send(self, chat: str, text: str) -> Outcome | Delivery:
        """Deliver text to a chat and say how it went."""
        ...


Render = Callable[[Any, int], "str | ReminderMessage"]


@dataclass(frozen=True)
class Due:
    """One reminder to send now, plus the older offsets it supersedes."""

    deadline: DeadlineLike
    deadline_id: str
    for_date: date
    offset: int
    channel: str
    chat: str
    send_at: datetime
    days_left: int
    skipped: tuple[int, ...] = ()


@dataclass(frozen=True)
class Planned:
    """One (deadline, offset, chat) with its send time and state, for the admin's schedule view."""

    deadline_id: str
    for_date: date
    offset: int
    channel: str
    chat: str
    send_at: datetime
    status: str  # a stored outcome, or due | planned | superseded | before-subscription | expired


@dataclass
class SendReport:
    """What one send_due run did, for logs and the admin."""

    sent: int = 0
    failed: int = 0
    undeliverable: int = 0
    blocked: int = 0
    skipped: int = 0
    retried: int = 0
    deferred: int = 0  # the platform's quota is used up: tried again the next day
    waiting: int = 0  # due, but no sender for the channel yet: left unclaimed
    deliveries: list[tuple[str, int, str, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """Counters only, for logging."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "undeliverable": self.undeliverable,
            "blocked": self.blocked,
            "skipped": self.skipped,
            "retried": self.retried,
            "deferred": self.deferred,
            "waiting": self.waiting,
        }


# -- time arithmetic --------------------------------------------------------------------------


def remind_days(deadline: DeadlineLike) -> tuple[int, ...]:
    """Offsets of a deadline, largest first, without duplicates or negative days."""
    raw = getattr(deadline, "remind_days", None)
    days = DEFAULT_REMIND_DAYS if raw is None else raw
    return tuple(sorted({int(d) for d in days if int(d) >= 0}, reverse=True))


def remind_at(deadline: DeadlineLike) -> time:
    """Time of day reminders go out (wall clock in the zone)."""
    value = getattr(deadline, "remind_at", None)
    return DEFAULT_REMIND_AT if value is None else value


def send_time(deadline: DeadlineLike, offset: int, zone: tzinfo = SHANGHAI) -> datetime:
    """When the `offset`-days-before reminder of a deadline is due."""
    at = remind_at(deadline)
    day = deadline.date - timedelta(days=offset)
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone)


def next_day_send_time(deadline: DeadlineLike, now: datetime, zone: tzinfo = SHANGHAI) -> datetime:
    """When a reminder refused for today's quota goes again: tomorrow, at the deadline's time of day."""
    tomorrow = _aware(now).astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, remind_at(deadline).replace(tzinfo=None), tzinfo=zone)


def deadline_end(deadline: DeadlineLike, zone: tzinfo = SHANGHAI) -> datetime:
    """First instant after the deadline day: from then on no reminder makes sense."""
    return datetime.combine(deadline.date + timedelta(days=1), time(0, 0), tzinfo=zone)


def days_left(deadline: DeadlineLike, now: datetime, zone: tzinfo = SHANGHAI) -> int:
    """Whole days from today (in the zone) to the deadline day; 0 on the day itself."""
    return (deadline.date - _aware(now).astimezone(zone).date()).days


def _aware(now: datetime) -> datetime:
    """Refuse naive datetimes: their zone would be a guess, and reminders would move by hours."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"aware datetime required, got naive {now!r}")
    return now


def _claimed_keys(store: Store) -> set[tuple[str, date | None, int, str, str]]:
    """Every reminder that has a row, whatever its state."""
    return {
        (r["deadline_id"], r["for_date"], r["offset"], r["channel"], r["chat"])
        for r in store.reminder_rows()
    }


# -- planning ---------------------------------------------------------------------------------


def _eligible(
    deadline: DeadlineLike, sub: Subscription, now: datetime, zone: tzinfo
) -> list[tuple[int, datetime]]:
    """Offsets whose time has come after the chat subscribed, latest send time last."""
    if now >= deadline_end(deadline, zone):
        return []
    out = []
    for offset in remind_days(deadline):
        at = send_time(deadline, offset, zone)
        if sub.created <= at <= now:
            out.append((offset, at))
    return out


def due_reminders(
    deadlines: Iterable[DeadlineLike],
    subscribers: Iterable[Subscription],
    store: Store,
    now: datetime,
    zone: tzinfo = SHANGHAI,
) -> list[Due]:
    """Reminders to send right now: the latest unclaimed eligible offset per deadline per chat."""
    now = _aware(now)
    claimed = _claimed_keys(store)
    subs = list(subscribers)
    due: list[Due] = []
    for deadline in deadlines:
        for sub in subs:
            eligible = _eligible(deadline, sub, now, zone)
            if not eligible:
                continue
            offset, at = eligible[-1]
            key = (deadline.id, deadline.date, offset, sub.channel, sub.chat)
            if key in claimed:
                continue
            older = tuple(
                o
                for o, _ in eligible[:-1]
                if (deadline.id, deadline.date, o, sub.channel, sub.chat) not in claimed
            )
            due.append(
                Due(
                    deadline=deadline,
                    deadline_id=deadline.id,
                    for_date=deadline.date,
                    offset=offset,
                    channel=sub.channel,
                    chat=sub.chat,
                    send_at=at,
                    days_left=days_left(deadline, now, zone),
                    skipped=older,
                )
            )
    due.sort(key=lambda d: (d.send_at, d.deadline_id, d.channel, d.chat))
    return due


def schedule(
    deadlines: Iterable[DeadlineLike],
    subscribers: Iterable[Subscription],
    store: Store,
    now: datetime,
    zone: tzinfo = SHANGHAI,
) -> list[Planned]:
    """Every reminder of every subscriber with its time and state, past and future, for printing."""
    now = _aware(now)
    rows = {
        (r["deadline_id"], r["for_date"], r["offset"], r["channel"], r["chat"]): r["status"]
        for r in store.reminder_rows()
    }
    subs = list(subscribers)
    plan: list[Planned] = []
    for deadline in deadlines:
        end = deadline_end(deadline, zone)
        for sub in subs:
            eligible = [o for o, _ in _eligible(deadline, sub, now, zone)]
            latest = eligible[-1] if eligible else None
            for offset in remind_days(deadline):
                at = send_time(deadline, offset, zone)
                key = (deadline.id, deadline.date, offset, sub.channel, sub.chat)
                if key in rows:
                    status = rows[key]
                elif now >= end:
                    status = "expired"
                elif at < sub.created:
                    status = "before-subscription"
                elif at > now:
                    status = "planned"
                elif offset == latest:
                    status = "due"
                else:
                    status = "superseded"
                plan.append(
                    Planned(deadline.id, deadline.date, offset, sub.channel, sub.chat, at, status)
                )
    plan.sort(key=lambda p: (p.send_at, p.deadline_id, p.channel, p.chat))
    return plan


# -- sending ----------------------------------------------------------------------------------

RETRY = "retry"  # the send raised: keep the row pending for the stale-row retry


def unsubscribe_blocked(store: Store, channel: str, chat: str) -> None:
    """A chat that blocked the bot (or a user who left) gets no more pushes: the one place that rule lives."""
    log.info("%s chat %s blocked the bot: unsubscribing", channel, chat)
    store.deactivate(channel, chat, Outcome.BLOCKED.value)


async def _deliver(
    store: Store,
    sender: Sender,
    channel: str,
    chat: str,
    message: ReminderMessage,
) -> tuple[str, Delivery]:
    """Call the platform and turn its answer into a stored outcome ('blocked' also unsubscribes)."""
    try:
        if isinstance(sender, ReminderSender):
            result: object = await sender.send_reminder(chat, message)
        else:
            result = await sender.send(chat, message.text)
    except Exception as exc:  # network down, server error: worth another try later
        log.exception("reminder to %s:%s failed; it stays pending and is retried", channel, chat)
        return RETRY, Delivery(Outcome.FAILED, answer=f"{type(exc).__name__}: {exc}")
    delivery = as_delivery(result)
    if delivery.outcome == Outcome.BLOCKED:
        unsubscribe_blocked(store, channel, chat)
    elif delivery.outcome not in (Outcome.SENT, Outcome.UNDELIVERABLE, Outcome.DEFERRED):
        log.warning("sender for %s returned %r; recording the reminder as failed", channel, result)
        return Outcome.FAILED, delivery
    return delivery.outcome, delivery


def _count(report: SendReport, outcome: str) -> None:
    """Add one outcome to the report (a send left for retry counts as failed this run)."""
    name = Outcome.FAILED.value if outcome == RETRY else str(outcome)
    setattr(report, name, getattr(report, name) + 1)


def _finish(
    store: Store,
    ident: tuple[str, int, str, str],
    outcome: str,
    delivery: Delivery,
    now: datetime,
    retry_at: datetime,
    **kw: Any,
) -> None:
    """Record the outcome, path and answer; a send that raised stays pending for the stale-row retry."""
    if outcome == RETRY:
        store.note_reminder(*ident, delivery.answer, **kw)
        return
    stored = Outcome.UNDELIVERABLE if outcome == Outcome.BLOCKED else Outcome(outcome)
    store.finish_reminder(
        *ident, stored.value, now, path=delivery.path, answer=delivery.answer, retry_at=retry_at, **kw
    )


async def send_due(
    deadlines: Sequence[DeadlineLike],
    store: Store,
    now: datetime,
    zone: tzinfo,
    senders: Mapping[str, Sender],
    render: Render,
    *,
    stale_after: timedelta = STALE_AFTER,
) -> SendReport:
    """Send what is due now, each reminder at most once per run and once overall; safe to repeat."""
    now = _aware(now)
    report = SendReport()
    deadlines = list(deadlines)
    subs = store.subscribers()
    due = due_reminders(deadlines, subs, store, now, zone)
    await _retry_stale(deadlines, subs, due, store, now, zone, senders, render, stale_after, report)

    for item in due:
        sender = senders.get(item.channel)
        if sender is None:
            report.waiting += 1
            continue
        try:
            message = as_message(render(item.deadline, item.days_left))
        except Exception:
            log.exception("cannot render reminder %s/%s", item.deadline_id, item.offset)
            report.failed += 1
            continue
        if not store.claim_reminder(
            item.deadline_id, item.offset, item.channel, item.chat, now, for_date=item.for_date
        ):
            continue  # another run owns it
        outcome, delivery = await _deliver(store, sender, item.channel, item.chat, message)
        ident = (item.deadline_id, item.offset, item.channel, item.chat)
        again = next_day_send_time(item.deadline, now, zone)
        _finish(store, ident, outcome, delivery, now, again, for_date=item.for_date)
        _count(report, outcome)
        report.deliveries.append((item.deadline_id, item.offset, item.channel, item.chat, outcome))
        for older in item.skipped:
            store.finish_reminder(
                item.deadline_id,
                older,
                item.channel,
                item.chat,
                Outcome.SKIPPED.value,
                now,
                for_date=item.for_date,
            )
            report.skipped += 1
    if report.deliveries or report.skipped:
        log.info("reminders: %s", report.as_dict())
    return report


async def _retry_stale(
    deadlines: Sequence[DeadlineLike],
    subs: Sequence[Subscription],
    due: Sequence[Due],
    store: Store,
    now: datetime,
    zone: tzinfo,
    senders: Mapping[str, Sender],
    render: Render,
    stale_after: timedelta,
    report: SendReport,
) -> None:
    """Resolve rows a dead run left pending (retry once) and deferred rows whose day has come; close the rest."""
    stale_before = now - stale_after
    by_id = {d.id: d for d in deadlines}
    active = {(s.channel, s.chat) for s in subs}
    newer_due = {(d.deadline_id, d.for_date, d.channel, d.chat) for d in due}
    rows = store.reminder_rows()
    waiting = [(r, False) for r in store.stale_pending(stale_before)]
    waiting += [(r, True) for r in store.deferred_due(now)]
    for row, deferred in waiting:
        ident = (row["deadline_id"], row["offset"], row["channel"], row["chat"])
        kw = {"for_date": row["for_date"]}
        deadline = by_id.get(row["deadline_id"])
        overtaken = any(
            r["deadline_id"] == row["deadline_id"]
            and r["for_date"] == row["for_date"]
            and r["channel"] == row["channel"]
            and r["chat"] == row["chat"]
            and r["offset"] < row["offset"]
            for r in rows
        )
        current = (
            deadline is not None
            and deadline.date == row["for_date"]
            and now < deadline_end(deadline, zone)
            and (row["channel"], row["chat"]) in active
            and (row["deadline_id"], row["for_date"], row["channel"], row["chat"]) not in newer_due
            and not overtaken
        )
        if not current or deadline is None:
            store.finish_reminder(*ident, Outcome.SKIPPED.value, now, **kw)
            report.skipped += 1
            continue
        if not deferred and row["attempts"] >= MAX_ATTEMPTS:
            log.warning("reminder %s still pending after a retry: giving up", ident)
            store.finish_reminder(*ident, Outcome.FAILED.value, now, **kw)
            report.failed += 1
            continue
        sender = senders.get(row["channel"])
        if sender is None:
            report.waiting += 1
            continue
        try:
            message = as_message(render(deadline, days_left(deadline, now, zone)))
        except Exception:
            log.exception("cannot render reminder %s", ident)
            report.failed += 1
            continue
        if deferred:
            if not store.reclaim_deferred(*ident, now, **kw):
                continue
        elif store.reclaim_reminder(*ident, now, stale_before=stale_before, max_attempts=MAX_ATTEMPTS, **kw):
            report.retried += 1
        else:
            continue
        outcome, delivery = await _deliver(store, sender, row["channel"], row["chat"], message)
        _finish(store, ident, outcome, delivery, now, next_day_send_time(deadline, now, zone), **kw)
        _count(report, outcome)
        report.deliveries.append((*ident, outcome))


# -- the loop ---------------------------------------------------------------------------------


class ReminderLoop:
    """Background task that sends due reminders every `interval` seconds or when poked."""

    def __init__(
        self,
        store: Store,
        deadlines: Callable[[], Iterable[DeadlineLike]],
        senders: Mapping[str, Sender],
        render: Render,
        *,
        clock: Callable[[], datetime] | None = None,
        zone: tzinfo = SHANGHAI,
        interval: float = 30.0,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        """Take the deadlines as a callable so a knowledge reload is seen on the next wake-up."""
        self.store = store
        self.deadlines = deadlines
        self.senders = senders
        self.render = render
        self.zone = zone
        self.clock = clock or (lambda: datetime.now(zone))
        self.interval = interval
        self.stale_after = stale_after
        self.runs = 0
        self.last_report: SendReport | None = None
        self.last_error: BaseException | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def poke(self) -> None:
        """Wake the loop now (new subscriber, knowledge reload); call from the loop's thread."""
        self._wake.set()

    def stop(self) -> None:
        """Ask run() to return after the current pass."""
        self._stopping = True
        self._wake.set()

    async def run_once(self) -> SendReport:
        """One pass: current deadlines, current time, send what is due."""
        report = await send_due(
            list(self.deadlines()),
            self.store,
            self.clock(),
            self.zone,
            self.senders,
            self.render,
            stale_after=self.stale_after,
        )
        self.last_report = report
        return report

    async def run(self) -> None:
        """Loop until stop(); an error in one pass is logged and the next pass runs as usual."""
        self._stopping = False
        while not self._stopping:
            try:
                await self.run_once()
                self.last_error = None
            except Exception as exc:
                self.last_error = exc
                log.exception("reminder pass failed; trying again in %ss", self.interval)
            self.runs += 1
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
