"""Locust's own request statistics for the lean client's users, added in batches.

Why: Locust keeps its statistics (the console summary, locust_stats.csv, what a Locust worker
reports to its master) with a `request` event listener that logs every response twice (its
name's entry and the total), each log a dozen Python steps. On a 2-core machine the
generator's CPU is taken from the server it measures, and that listener was a quarter of the
harness's Locust instructions per request (docs/harness-cost.md). Here a response costs one
append; the batch goes into Locust's statistics through Locust's own merge
(`StatsEntry.extend`, the path a master takes for its workers' reports), with response times
rounded by Locust's own `bucket_response_time`: the same figures, at most FLUSH_S later.
A failure is logged at once with Locust's `log_error` (rare; its text is kept as it came).

The lean users' responses then do not pass through Locust's `request` event: in the
harness's Locust process nothing else listens (a user's locustfile runs its own users, whose
client fires Locust's event as ever).

Imported in Locust's process only (it imports Locust).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from locust import stats as locust_stats

FLUSH_S = 0.25  # at most this old when Locust's CSV writer (every second) reads the statistics
METHOD = "GET"


class LocustStatsBatch:
    """Responses waiting to be added to a Locust RequestStats, in the order they came."""

    def __init__(self, stats: Any = None) -> None:
        self.stats = stats  # Locust's RequestStats, once a runner exists (bind())
        self._pending: list[tuple[str, float, int, float]] = []
        self._flushed_ts = 0.0

    def bind(self, stats: Any) -> None:
        """Add to `stats` from now on (what was pending goes into it at the next flush)."""
        self.stats = stats

    def add(self, name: str, response_time_ms: float, length: int, done_ts: float, error: BaseException | None) -> None:
        """One response, as Locust's `request` listener would log it at done_ts."""
        self._pending.append((name, response_time_ms, length, done_ts))
        if error is not None and self.stats is not None:
            self.stats.log_error(METHOD, name, error)
        if done_ts - self._flushed_ts >= FLUSH_S:
            self.flush(done_ts)

    def flush(self, now_ts: float | None = None) -> None:
        """Add every pending response to Locust's statistics: per name, one StatsEntry built
        as Locust's log() would have built it, merged into the name's entry and the total."""
        self._flushed_ts = time.time() if now_ts is None else now_ts
        if not self._pending or self.stats is None:
            return
        batch, self._pending = self._pending, []
        bucket = locust_stats.bucket_response_time  # looked up now: Locust lets it be replaced
        parts: dict[str, Any] = {}
        for name, response_time, length, done in batch:
            part = parts.get(name)
            if part is None:
                part = parts[name] = locust_stats.StatsEntry(self.stats, name, METHOD)
                part.start_time = done  # an entry starts at its first response, as log() has it
            part.num_requests += 1
            part.num_reqs_per_sec[int(done)] += 1
            part.last_request_timestamp = done
            part.total_response_time += response_time
            if part.min_response_time is None or response_time < part.min_response_time:
                part.min_response_time = response_time
            if response_time > part.max_response_time:
                part.max_response_time = response_time
            part.response_times[bucket(response_time)] += 1
            part.total_content_length += length
        for name, part in parts.items():
            self.stats.get(name, METHOD).extend(part)
            self.stats.total.extend(part)


# what a lean user's response goes to besides Locust's statistics:
# record(done_ts, name, response_time_ms, response, exception, context, url)
Record = Callable[[float, str, float, Any, "BaseException | None", "dict | None", "str | None"], None]


class BatchedRequestEvent:
    """The request event a LeanSession fires (lean_http calls `fire` with Locust's request
    event's arguments): `record` first, if any (the harness's hooks), then the batch."""

    def __init__(self, batch: LocustStatsBatch, record: Record | None = None) -> None:
        self.batch = batch
        self.record = record

    def fire(
        self,
        *,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: object,
        exception: BaseException | None,
        context: dict,
        start_time: float,
        url: str,
    ) -> None:
        done = time.time()
        if self.record is not None:
            self.record(done, name, response_time, response, exception, context, url)
        self.batch.add(name, response_time, response_length, done, exception)


def install(events: Any) -> LocustStatsBatch:
    """A batch for this Locust process: bound to the runner's statistics at init, and flushed
    into them before a Locust worker reports to its master (this listener is added at import,
    before the runner adds its own), when the users have stopped, and at quitting (before
    Locust prints its summary)."""
    batch = LocustStatsBatch()

    def bind(environment: Any, **_: object) -> None:
        if environment.runner is not None:
            batch.bind(environment.runner.stats)

    def flush(**_: object) -> None:
        batch.flush()

    events.init.add_listener(bind)
    events.report_to_master.add_listener(flush)
    events.test_stop.add_listener(flush)
    events.quitting.add_listener(flush)
    return batch
