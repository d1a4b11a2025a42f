"""harness.load.locust_batch against Locust itself: the same responses logged one by one by
Locust's RequestStats (its request listener's calls) and added in batches give the same
statistics. Run in a subprocess: importing Locust monkey-patches the process. The clock is a
fake (a unit test): Locust's statistics read time.time(), and the batch must file every
response under the second it came in, not the second it was added."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_SAME_AS_LOCUST = r"""
import json, random, sys
from locust import stats as ls
from harness.load import locust_batch
from harness.load.locust_batch import LocustStatsBatch

class FakeTime:
    # stands in for the time module in locust.stats and locust_batch: a scripted clock
    now = 1_800_000_000.0
    @classmethod
    def time(cls):
        return cls.now

ls.time = FakeTime
locust_batch.time = FakeTime
if sys.argv[1] == "rebucket":  # Locust lets a user replace the rounding: the batch follows it
    ls.bucket_response_time = lambda rt: int(rt) // 7 * 7

rng = random.Random(18)
# edges of Locust's rounding (halves round to even, 100, 1000, 10000) and the usual spread
times = [0.5, 1.5, 2.5, 99.5, 99.49, 100.0, 104.9, 995.0, 999.9, 1000.0, 9950.0, 10000.0, 15432.1]
oracle, batched = ls.RequestStats(), ls.RequestStats()
batch = LocustStatsBatch()
batch.bind(batched)
for i in range(4000):
    FakeTime.now += rng.expovariate(800.0)  # ~800 responses a second, over ~5 seconds
    name = "probe /hello" if i % 9 == 0 else "/cpu"
    rt = times[i % len(times)] if i % 5 == 0 else rng.lognormvariate(2.3, 0.8)
    length = rng.randrange(0, 200)
    error = ConnectionResetError(104, "Connection reset by peer") if i % 97 == 0 else None
    oracle.log_request("GET", name, rt, length)  # what Locust's own request listener does
    if error is not None:
        oracle.log_error("GET", name, error)
    batch.add(name, rt, length, FakeTime.now, error)
FakeTime.now += 2.0
batch.flush()

def entries(stats):
    out = {"Aggregated": stats.total.serialize()}
    out.update({f"{e.method} {e.name}": e.serialize() for e in stats.entries.values()})
    for e in out.values():
        e["response_times"] = {str(k): v for k, v in sorted(e["response_times"].items())}
        e["num_reqs_per_sec"] = {str(k): v for k, v in sorted(e["num_reqs_per_sec"].items())}
        e["num_fail_per_sec"] = {str(k): v for k, v in sorted(e["num_fail_per_sec"].items())}
    return out

print(json.dumps({
    "oracle": entries(oracle),
    "batched": entries(batched),
    "oracle_errors": sorted(map(str, (e.serialize() for e in oracle.errors.values()))),
    "batched_errors": sorted(map(str, (e.serialize() for e in batched.errors.values()))),
}))
"""


@pytest.mark.parametrize("bucketing", ["locust", "rebucket"])
def test_batches_give_locusts_own_statistics(bucketing: str):
    out = subprocess.run(
        [sys.executable, "-c", _SAME_AS_LOCUST, bucketing], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    oracle, batched = got["oracle"], got["batched"]
    assert set(oracle) == set(batched) == {"Aggregated", "GET /cpu", "GET probe /hello"}
    for key, want in oracle.items():
        have = batched[key]
        # a float sum added in another order: equal to the last bits
        assert have.pop("total_response_time") == pytest.approx(want.pop("total_response_time"), rel=1e-12)
        assert have == want, key
    assert oracle["Aggregated"]["num_requests"] == 4000 and oracle["Aggregated"]["num_failures"] == 42
    assert len(oracle["GET /cpu"]["num_reqs_per_sec"]) >= 4  # the responses span several seconds
    assert got["batched_errors"] == got["oracle_errors"] != []
