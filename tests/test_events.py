"""Events during the load (the resilience scenario), on hand-made tables: validation of
Event and ServerSpec(events=...), the analysis of what each event did to the clients, and
the sentences the report writes from it. Every expected number is worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from helpers import hand_run

from harness import analysis
from harness.errors import UsageError
from harness.record import Run
from harness.report import story
from harness.scenario import ClosedLoad, Event, Scenario, ServerSpec, Workload


# --- validation ---------------------------------------------------------------------------
def test_unknown_action_is_one_clear_line():
    with pytest.raises(UsageError, match="unknown event action 'explode'") as exc:
        Event("explode", 1)
    assert "kill-worker, reload, restart, sigterm" in exc.value.one_line()


def test_an_action_the_mode_cannot_do_names_the_modes_that_can():
    with pytest.raises(UsageError, match="event reload is not supported by mode cluster") as exc:
        ServerSpec("cluster", workers=2, events=[Event("reload", 1)])
    assert "modes that support it: pm2" in exc.value.one_line()
    with pytest.raises(UsageError, match="kill-worker is not supported by mode single"):
        ServerSpec("single", events=[Event("kill-worker", 1)])


@pytest.mark.parametrize(
    "events, words",
    [
        ([Event("sigterm", 1), Event("kill-worker", 2)], "sigterm stops the server: make it the last event"),
        ([Event("kill-worker", 1), Event("kill-worker", 1)], "at the same time"),
        ("kill-worker@1s", "must be a list of Event"),
    ],
)
def test_bad_event_lists_are_refused(events, words):
    with pytest.raises(UsageError, match=words):
        ServerSpec("cluster", workers=2, events=events)


def test_bad_times_are_refused():
    with pytest.raises(UsageError, match="at_s is -1 s, outside"):
        Event("kill-worker", -1)
    spec = ServerSpec("cluster", workers=2, events=[Event("kill-worker", 6)])
    with pytest.raises(UsageError, match="kill-worker@6s of cluster is not inside the 5 s measurement window"):
        Scenario("x", "d", [spec], [Workload("/io")], [ClosedLoad(4)], duration_s=5)


def test_events_and_the_shutdown_timeout_keep_conditions_apart():
    specs = [
        ServerSpec("cluster", workers=2),
        ServerSpec("cluster", workers=2, events=[Event("kill-worker", 2)]),
        ServerSpec("cluster", workers=2, events=[Event("sigterm", 2)]),
        ServerSpec("cluster", workers=2, shutdown_timeout_s=0.1, events=[Event("sigterm", 2)]),
    ]
    cases = Scenario("x", "d", specs, [Workload("/io", 200)], [ClosedLoad(4)], duration_s=5, repetitions=1).cases()
    assert [c.condition for c in cases] == [
        "cluster-rr-2w /io?ms=200 u4",
        "cluster-rr-2w /io?ms=200 u4 kill-worker@2s",
        "cluster-rr-2w /io?ms=200 u4 sigterm@2s",
        "cluster-rr-2w-st0.1s /io?ms=200 u4 sigterm@2s",
    ]
    assert len({c.case_id for c in cases}) == 4
    assert cases[1].to_dict()["events"] == "kill-worker@2s" and cases[0].to_dict()["events"] == ""
    assert cases[3].shutdown_timeout_s == 0.1


def test_the_resilience_scenario_and_its_quick_variant_load():
    from harness.scenario import load

    scenario = load("resilience")
    quick = scenario.quick_variant()
    # the full scenario has every event; the quick variant (the demo) repeats the kill and reload vs
    # restart 3 times, and leaves the SIGTERM pair to the full run
    assert {c.to_dict()["events"].split("@")[0] for c in scenario.cases()} == {
        "kill-worker",
        "reload",
        "restart",
        "sigterm",
    }
    assert {c.to_dict()["events"].split("@")[0] for c in quick.cases()} == {"kill-worker", "reload", "restart"}
    assert quick.duration_s <= 10 and quick.repetitions == 3


# --- analysis on hand-made tables ---------------------------------------------------------
def event_run() -> Run:
    """Two cases, window 100..110 s each.

    kill: pids 11 and 12; 11 is killed at 104.0 (it had 3 in flight by its own count).
    Responses (start, done, ok, pid): (103.8, 104.2, ok, 12) and (103.9, 104.3, ok, 12) were in
    flight at the kill; (104.5, 104.6, failed); 12 keeps serving; the replacement 13 first
    answers at 106.5, 2.5 s after the kill. The server said it was ready at 104.4 (done_s 0.4).
    sigterm: SIGTERM at 105.0 with a 5 s timeout, exit code 1 at 110.2 (forced after 5.2 s:
    honoured, within 1.5 s of the timeout). In flight at the signal: (104.9, 105.1, ok) and
    (104.95, 109.95, failed). The one failure after the exit (110.3) lies after the window,
    so refused_after_exit is 0.
    """
    cases = [
        {
            "case_id": cid,
            "condition": cond,
            "repetition": 1,
            "mode": "cluster",
            "status": "complete",
            "measure_start_ts": 100.0,
            "measure_end_ts": 110.0,
            "measured_s": 10.0,
            "events": ev,
        }
        for cid, cond, ev in [
            ("k", "cluster-rr-2w /io u4 kill-worker@4s", "kill-worker@4s"),
            ("s", "cluster-rr-2w /io u4 sigterm@5s", "sigterm@5s"),
        ]
    ]
    events = [
        {
            "case_id": "k",
            "action": "kill-worker",
            "at_s": 4.0,
            "ts": 104.0,
            "pid": 11,
            "server_in_flight": 3,
            "pids_before": "11 12",
            "pids_after": "12 13",
            "done_ts": 104.4,
            "done_s": 0.4,
            "exit_code": None,
            "shutdown_timeout_s": 5.0,
            "outcome": "done",
        },
        {
            "case_id": "s",
            "action": "sigterm",
            "at_s": 5.0,
            "ts": 105.0,
            "pid": 10,
            "server_in_flight": 2,
            "pids_before": "11 12",
            "pids_after": "",
            "done_ts": 110.2,
            "done_s": 5.2,
            "exit_code": 1,
            "shutdown_timeout_s": 5.0,
            "outcome": "done",
        },
    ]

    def req(cid, start, done, ok, pid):
        return {
            "case_id": cid,
            "phase": "measure" if 100 <= done < 110 else "after",
            "start_ts": start,
            "done_ts": done,
            "latency_ms": (done - start) * 1000,
            "ok": ok,
            "worker_id": "1",
            "pid": pid,
            "error": "" if ok else "ConnectionRefusedError",
        }

    requests = [
        req("k", 101.0, 101.2, True, "11"),
        req("k", 103.8, 104.2, True, "12"),
        req("k", 103.9, 104.3, True, "12"),
        req("k", 104.5, 104.6, False, "?"),
        req("k", 104.6, 107.0, True, "12"),
        req("k", 107.0, 109.9, True, "13"),
        req("s", 101.0, 101.5, True, "11"),
        req("s", 104.9, 105.1, True, "12"),
        req("s", 104.95, 109.95, False, "?"),
        req("s", 110.0, 110.3, False, "?"),
    ]
    workers = [
        {
            "case_id": "k",
            "phase": "measure",
            "worker_id": w,
            "pid": pid,
            "thread_id": "",
            "requests": n,
            "first_response_ts": first,
            "last_response_ts": last,
        }
        for w, pid, n, first, last in [
            ("1", "11", 1, 101.2, 101.2),
            ("2", "12", 3, 104.2, 107.0),
            ("3", "13", 1, 106.5, 109.9),
            ("?", "?", 1, 104.6, 104.6),
        ]
    ]
    endpoints = [
        {"case_id": "k", "phase": "measure", "name": "/io", "requests": 6, "failures": 1},
        {"case_id": "s", "phase": "measure", "name": "/io", "requests": 3, "failures": 1},
    ]
    return hand_run(
        cases,
        events=events,
        requests=requests,
        workers=workers,
        endpoints=endpoints,
        path="hand-made",
        meta={"run_id": "hand-made"},
    )


def test_event_outcomes_by_hand():
    out = analysis.event_outcomes(event_run()).set_index("case_id")
    k = out.loc["k"]
    assert k["failures_window"] == 1 and k["failures_before"] == 0
    assert k["failures_during"] == 1  # 104.6 lies in [104.0, 104.0 + 0.4 + 1.0]
    assert k["failures_after"] == 1
    assert k["server_in_flight"] == 3
    assert k["in_flight"] == 2 and k["in_flight_ok"] == 2 and k["in_flight_failed"] == 0
    assert k["in_flight_max_latency_ms"] == pytest.approx(400.0)
    assert k["new_pids_serving"] == 1 and k["first_new_pid_s"] == pytest.approx(2.5)
    # successes done at 101.2 | 104.2 104.3 107.0 109.9: before the kill the longest gap is 101.2..104.0
    assert k["longest_gap_before_s"] == pytest.approx(2.8)
    assert k["longest_gap_after_s"] == pytest.approx(2.9)  # 107.0 .. 109.9 (104.3 .. 107.0 is 2.7)
    assert math.isnan(k["exit_s"])
    s = out.loc["s"]
    assert s["in_flight"] == 2 and s["in_flight_ok"] == 1 and s["in_flight_failed"] == 1
    assert s["exit_s"] == pytest.approx(5.2) and s["forced"] and s["timeout_honoured"]
    assert s["refused_after_exit"] == 0  # the only failure after the exit lies outside the window
    assert s["new_pids_serving"] == 0 and math.isnan(s["first_new_pid_s"])


def test_longest_gap_by_hand():
    done = pd.Series([1.0, 1.5, 4.0])
    assert analysis.longest_gap_s(done, 0.0, 5.0) == pytest.approx(2.5)
    assert analysis.longest_gap_s(pd.Series([], dtype=float), 2.0, 3.0) == pytest.approx(1.0)


def test_a_run_without_events_has_no_event_rows():
    run = event_run()
    run.tables["events"] = run.tables["events"].iloc[0:0]
    assert analysis.event_outcomes(run).empty
    assert story.event_lines(analysis.event_outcomes(run)) == []


# --- the sentences ------------------------------------------------------------------------
def test_event_sentences_say_what_happened_and_check_the_claims():
    out = analysis.event_outcomes(event_run())
    kill, sigterm = story.event_lines(out)
    assert "had 3 requests in flight by its own count; the client saw 1 failed requests" in kill
    assert "first answered a client 2.50 s after the kill" in kill
    assert "does not hold for the requests it had in flight" in kill
    assert (
        "with 2 requests in flight by the workers' own count and 2 by the client's: 1 completed and 1 failed" in sigterm
    )
    assert "exited 5.20 s after the signal with code 1 (forced" in sigterm
    assert "The force-exit timeout was honoured." in sigterm


def test_a_replacement_that_never_serves_and_a_retried_kill_are_called_out():
    out = analysis.event_outcomes(event_run())
    out.loc[0, ["failures_during", "first_new_pid_s"]] = [0, math.nan]
    kill = story.event_lines(out.iloc[[0]])[0]
    assert "re-sent those GETs" in kill
    # the sentence names the client the case sent with: a record without one is Locust's
    assert out.loc[0, "http_client"] == "locust" and "geventhttpclient, under Locust's FastHttpUser" in kill
    for client, named in [("lean", "(lean_http, which retries"), ("user", "The locustfile's HTTP client re-sent")]:
        out.loc[0, "http_client"] = client
        said = story.event_lines(out.iloc[[0]])[0]
        assert named in said and "FastHttpUser" not in said, said
    assert "answered no request before the window ended" in kill and "contradicts the usual claim" in kill


def test_reload_against_restart_and_a_reload_that_lost_requests():
    base = analysis.event_outcomes(event_run()).iloc[[0]]
    reload = base.assign(action="reload", condition="pm2-2w /io u4 reload@4s", failures_during=3)
    restart = base.assign(action="restart", condition="pm2-2w /io u4 restart@4s", failures_during=2)
    text = story.event_lines(pd.concat([reload, restart], ignore_index=True))
    assert "contradicts the claim that PM2's reload is zero-downtime" in text[0]
    assert "As a hard restart can, it dropped requests" in text[1]
    assert text[2].startswith("Reload against restart: 3 failed requests over 1 reload(s) against 2 over 1")
    assert "The reload lost more than the restart" in text[2]
    assert "Requests failed in 1 of 1 restart(s) and 1 of 1 reload(s)." in text[2]


@pytest.mark.parametrize(
    "restart_failures, said, not_said",
    [
        ([0, 0, 0], "No restart lost a request here", "contradicts"),
        ([0, 113, 41], "it lost some of the time", "contradicts"),
        ([5, 113, 41], "A restart stops every instance at once", "race"),
    ],
)
def test_a_restart_that_lost_nothing_is_a_race_not_a_contradiction(restart_failures, said, not_said):
    """A restart drops requests only when a request arrives between the last old instance
    stopping and the first new one listening: the quiet recording lost none in 3 restarts,
    a busy run lost some in 2 of 3. Neither contradicts anything; each is counted."""
    base = analysis.event_outcomes(event_run()).iloc[[0]]
    reloads = [base.assign(action="reload", repetition=i + 1, failures_during=0) for i in range(3)]
    restarts = [
        base.assign(action="restart", repetition=i + 1, failures_during=n) for i, n in enumerate(restart_failures)
    ]
    text = story.event_lines(pd.concat(reloads + restarts, ignore_index=True))
    lost = sum(n > 0 for n in restart_failures)
    assert f"Requests failed in {lost} of 3 restart(s) and 0 of 3 reload(s)." in text[-1]
    assert said in text[-1] and not_said not in text[-1]
    assert not any("contradicts" in line for line in text)


def test_the_handover_is_a_gap_in_a_restart_and_an_overlap_in_a_reload():
    """handover_s: the first response of a new instance minus the last of an old one. The
    kill-worker case of event_run keeps pid 12, so it has none; a replacement of both pids
    (11, 12 -> 13) answered 106.5 while 12 last answered 107.0: 0.5 s side by side."""
    out = analysis.event_outcomes(event_run())
    assert out["handover_s"].isna().all()  # kill-worker and sigterm replace nothing wholesale
    run = event_run()
    run.tables["events"].loc[0, "action"] = "reload"
    reload = analysis.event_outcomes(run).iloc[0]
    assert reload["handover_s"] == pytest.approx(106.5 - 107.0)
    base = analysis.event_outcomes(run).iloc[[0]]
    lines = story.event_lines(
        pd.concat(
            [
                base.assign(action="reload", handover_s=-0.3),
                base.assign(action="restart", handover_s=0.18),
                base.assign(action="restart", repetition=2, handover_s=0.05),
            ],
            ignore_index=True,
        )
    )
    assert (
        "restarts: a gap of 50 to 180 ms without any instance answering in 2 of 2; reloads: old and new "
        "answering side by side for 300 ms in 1 of 1"
    ) in lines[-1]
