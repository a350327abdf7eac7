"""lab/cancel.py and lab/pipeline/guard.py: the one token, signals whatever the process
inherited, the pilot's deadline, and the order in which candidates touch the baseline."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from lab.cancel import Token, handle_signals
from lab.errors import DeadlinePassed, Interrupted
from lab.pipeline.guard import BaselineGuard


def test_the_first_reason_wins_and_callbacks_run_once():
    token, aborted = Token(), []
    with token.on_cancel(lambda: aborted.append("stream")):
        token.cancel(Interrupted("interrupted (SIGTERM)"))
        token.cancel(DeadlinePassed("too late"))
    assert aborted == ["stream"] and str(token.reason) == "interrupted (SIGTERM)"
    with pytest.raises(Interrupted, match="SIGTERM"):
        token.check()
    with token.on_cancel(lambda: aborted.append("late")):  # set already: called at once
        pass
    assert aborted == ["stream", "late"]


def test_the_deadline_sets_the_token():
    token = Token()
    token.expire_after(0.1, "(timeouts.pilot)")
    assert token.wait(5)
    with pytest.raises(DeadlinePassed, match=r"did not finish within 0.1 s \(timeouts.pilot\)"):
        token.check()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_set_the_token_even_when_the_process_inherited_them_ignored(sig):
    before = signal.signal(sig, signal.SIG_IGN)  # as a process started from a background job has SIGINT
    try:
        token = Token()
        with handle_signals(token) as caught:
            os.kill(os.getpid(), sig)
            assert token.wait(5)
        assert caught == [sig] and str(token.reason) == f"interrupted ({signal.Signals(sig).name})"
        assert signal.getsignal(sig) == signal.SIG_IGN  # given back afterwards
    finally:
        signal.signal(sig, before)


def test_candidates_read_from_the_baseline_before_any_rollback_writes_and_one_at_a_time():
    token = Token()
    guard = BaselineGuard(["a", "b"], token)
    events: list[str] = []
    inside = threading.Lock()

    def touch(what: str) -> None:
        assert inside.acquire(blocking=False), "two candidates touch the baseline at once"
        events.append(what)
        time.sleep(0.05)
        inside.release()

    def candidate(name: str, delay: float) -> None:
        time.sleep(delay)
        with guard.reading(name):
            touch(f"{name} reads")
        with guard.writing(name):
            touch(f"{name} writes")

    threads = [threading.Thread(target=candidate, args=(n, d)) for n, d in (("a", 0.0), ("b", 0.3))]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    assert events == []  # nobody reads before the baseline is restored
    guard.restored()
    time.sleep(0.1)
    assert events == ["a reads"]  # a may not write before the baseline is checked and b has read
    guard.checked()
    for thread in threads:
        thread.join(5)
    assert events[:2] == ["a reads", "b reads"] and sorted(events[2:]) == ["a writes", "b writes"]


def test_a_waiting_candidate_stops_with_the_token():
    token = Token()
    guard = BaselineGuard(["a"], token)
    threading.Timer(0.2, token.cancel, [Interrupted("interrupted (SIGINT)")]).start()
    start = time.monotonic()
    with pytest.raises(Interrupted), guard.reading("a"):
        pass
    assert time.monotonic() - start < 1.0
