"""The watchdog's heartbeat ticks (wamc/daemon/checks.py): each client keeps its slice of the
interval, and a late loop catches up on the slices it missed instead of stretching the round."""

from __future__ import annotations

from wamc.daemon.checks import HEARTBEAT_SLICES, due_slices, heartbeat_slice

TICK = 0.1


def test_on_time_one_slice_at_a_time_and_a_round_covers_every_slice() -> None:
    slice_no, due, seen = 0, 1.0, []
    for _ in range(HEARTBEAT_SLICES):
        slices, slice_no, next_due = due_slices(slice_no, due, due + 0.001, TICK)
        assert len(slices) == 1 and abs(next_due - (due + TICK)) < 1e-9
        seen += slices
        due = next_due
    assert sorted(seen) == list(range(HEARTBEAT_SLICES))


def test_a_late_wake_up_sends_every_slice_it_missed() -> None:
    slices, slice_no, due = due_slices(3, 1.0, 1.25, TICK)
    assert slices == {3, 4, 5} and slice_no == 6
    assert abs(due - 1.3) < 1e-9  # back on the original schedule


def test_a_stall_longer_than_a_round_sends_one_round_then_resumes_a_tick_later() -> None:
    slices, slice_no, due = due_slices(7, 1.0, 31.0, TICK)
    assert slices == set(range(HEARTBEAT_SLICES)) and slice_no == 7
    assert abs(due - 31.1) < 1e-9


def test_early_wake_up_sends_nothing() -> None:
    assert due_slices(2, 1.0, 0.95, TICK) == (set(), 2, 1.0)


def test_a_clients_slice_depends_on_its_id_only() -> None:
    ids = [f"c{i:03d}" for i in range(200)]
    slices = [heartbeat_slice(i) for i in ids]
    assert slices == [heartbeat_slice(i) for i in ids]  # stable, whatever else exists
    assert all(0 <= s < HEARTBEAT_SLICES for s in slices)
    assert len(set(slices)) == HEARTBEAT_SLICES  # spread over the interval
