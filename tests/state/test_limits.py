"""Per-client limits: a flood from one key is held back, other keys and patient clients are not."""

from __future__ import annotations

from bot.state.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_the_client_waits() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("a")
    assert 0.9 < wait <= 1.0  # one token a second at 60 a minute
    assert limiter.check("b") == 0.0  # another client is not affected
    clock.now += 1.0
    assert limiter.check("a") == 0.0


def test_fresh_keys_cannot_grow_memory() -> None:
    limiter = RateLimiter(per_minute=60, burst=1, clock=Clock(), max_keys=100)
    for i in range(1000):
        limiter.check(f"client-{i}")
    assert len(limiter._buckets) == 100
