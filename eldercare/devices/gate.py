"""Which events of a batch may be stored: device tokens and per-device rate limits, checked for the batch.

The HTTP path used to authenticate each request with a query of its own (for every token not yet cached)
and to rate-limit it with a Redis round trip of its own; both ran on the request threads and competed for
the GIL with the commit thread. The batch reads every device's row anyway, so checking the token hash there
costs no query, and the limits of the whole batch are one Redis pipeline. Both happen before anything is
written, so a refused event changes nothing.

The counters live in Flask-Limiter's storage (Redis in production, memory in embedded mode and tests), so
`limiter.reset()` clears them too. If that storage is unreachable the events are let through and the failure
logged: an alarm must never be dropped because the rate limiter is down.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Protocol

from limits.storage import RedisStorage

from eldercare.devices import tokens
from eldercare.devices.intake import Inbound, RateLimit

log = logging.getLogger(__name__)

UNAUTHENTICATED, RATE_LIMITED = "unauthenticated", "rate_limited"


class Credentials(Protocol):
    status: str
    protocol: str
    token_hash: str | None


def refusals(items: Sequence[Inbound], devices: Mapping[int, Credentials]) -> dict[int, str]:
    """{index in `items`: why it is refused} for the events that must not be stored."""
    refused: dict[int, str] = {}
    for index, item in enumerate(items):
        if item.token_secret is not None and not _token_ok(item, devices.get(item.device_id)):
            refused[index] = UNAUTHENTICATED
    limited = [(index, item) for index, item in enumerate(items)
               if item.rate_limit is not None and index not in refused]
    if not limited:
        return refused
    wanted = Counter((item.device_id, item.rate_limit) for _, item in limited)
    totals = _hit(wanted)
    seen: Counter = Counter()
    for index, item in limited:  # in arrival order: the first ones within the limit pass
        key = (item.device_id, item.rate_limit)
        seen[key] += 1
        if totals[key] - wanted[key] + seen[key] > item.rate_limit.events:
            refused[index] = RATE_LIMITED
    return refused


def _token_ok(item: Inbound, device: Credentials | None) -> bool:
    return (device is not None and device.status == "active" and device.protocol == "http"
            and tokens.matches(item.token_secret, device.token_hash))


def _key(device_id: int, limit: RateLimit) -> str:
    return f"eldercare/device-events/{limit.events}/{limit.seconds}/d{device_id}"


def _hit(wanted: Counter) -> dict[tuple[int, RateLimit], int]:
    """Count the batch's events into each device's window; returns each counter after counting."""
    from eldercare.extensions import limiter

    try:
        storage = limiter.storage
        if isinstance(storage, RedisStorage):
            pipe = storage.storage.pipeline(transaction=False)
            for (device_id, limit), count in wanted.items():
                name = storage.prefixed_key(_key(device_id, limit))
                pipe.incrby(name, count)
                pipe.expire(name, limit.seconds, nx=True)  # the window opens with its first event
            replies = pipe.execute()
            return {key: int(replies[2 * i]) for i, key in enumerate(wanted)}
        return {(device_id, limit): storage.incr(_key(device_id, limit), limit.seconds, amount=count)
                for (device_id, limit), count in wanted.items()}
    except Exception:
        log.exception("rate-limit storage unavailable; this batch's events are not rate-limited")
        return dict(wanted)
