"""The write-behind of recent recommendation lists: flush semantics, failures, the bound."""

from __future__ import annotations

import threading

from service.errors import StoreUnavailable
from service.recent import Recent, RecentWriter

DEADLINE_S = 30  # liveness only: a held write or a flush that never comes back fails the test


def test_flush_waits_for_everything_submitted_before_it() -> None:
    written: list[Recent] = []
    gate = threading.Event()

    def slow_write(batch: list[Recent]) -> None:
        gate.wait(DEADLINE_S)
        written.extend(batch)

    writer = RecentWriter(slow_write)
    writer.start()
    try:
        for n in range(5):
            writer.submit(Recent(f"u{n}", ["i0"], float(n)))
        assert not writer.flush(timeout=0.05)  # the write is held: flush times out
        gate.set()
        assert writer.flush(timeout=DEADLINE_S)
        assert [r.user for r in written] == [f"u{n}" for n in range(5)]  # in order
    finally:
        writer.stop()


def test_a_failed_write_is_dropped_and_the_writer_goes_on() -> None:
    calls: list[int] = []

    def flaky(batch: list[Recent]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise StoreUnavailable("Redis is unavailable (test)")

    writer = RecentWriter(flaky)
    writer.start()
    try:
        writer.submit(Recent("u", ["a"], 1.0))
        assert writer.flush(timeout=DEADLINE_S)
        writer.submit(Recent("u", ["b"], 2.0))
        assert writer.flush(timeout=DEADLINE_S)
        assert len(calls) == 2
    finally:
        writer.stop()


def test_unstarted_writes_at_once_and_stop_writes_what_is_queued() -> None:
    written: list[Recent] = []
    writer = RecentWriter(written.extend, max_queued=3)
    writer.submit(Recent("u", ["a"], 1.0))
    assert len(written) == 1
    taken, gate = threading.Event(), threading.Event()

    def held(batch: list[Recent]) -> None:
        taken.set()
        gate.wait(DEADLINE_S)
        written.extend(batch)

    blocked = RecentWriter(held, max_queued=3)
    blocked.start()
    blocked.submit(Recent("first", ["a"], 1.0))
    assert taken.wait(DEADLINE_S)  # "first" is out of the queue, held at the gate
    for n in range(5):  # 5 more, at most 3 wait: the 2 oldest are dropped
        blocked.submit(Recent(f"q{n}", ["a"], 1.0))
    gate.set()
    blocked.stop(timeout=DEADLINE_S)
    assert [r.user for r in written[1:]] == ["first", "q2", "q3", "q4"]
