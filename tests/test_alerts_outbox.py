"""The outbox journal on real files: replay, per-notifier acks, overflow, compaction, torn tail."""

from __future__ import annotations

from pathlib import Path

from rq_actors.core.alerts.model import Alert
from rq_actors.io.alerts.outbox import Outbox


def alert(n: int) -> Alert:
    return Alert(f"k{n}", "setups", "BTC-USDT-SWAP", n, f"t{n}", f"t{n}\nbody", {"n": n})


def _pending(path: Path, notifiers: list[str], max_pending: int) -> list[str]:
    box = Outbox(path, notifiers, max_pending)
    box.close()
    return list(box.pending)


def test_replay_keeps_what_each_notifier_still_owes(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    box = Outbox(path, ["a", "b"], 10)
    assert box.add(alert(1), 100) and box.add(alert(2), 200)
    assert not box.add(alert(1), 300)  # the same key is journaled once
    box.done("k1", "a", "sent", 200)
    box.done("k2", "a", "sent", 200)
    box.done("k2", "b", "stale", None)
    box.close()
    again = Outbox(path, ["a", "b"], 10)
    assert list(again.pending) == ["k1"] and again.pending["k1"].owed == {"b"}
    assert again.next_for("a") is None and again.next_for("b").alert == alert(1)  # type: ignore[union-attr]
    assert not again.add(alert(2), 400)  # finished, still known: not sent again
    again.close()
    # a notifier removed from the config is owed nothing; a new one gets no backlog
    assert _pending(path, ["c"], 10) == []


def test_overflow_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.jsonl", ["a"], 3)
    box.add(alert(0), 0)
    in_flight = box.next_for("a")
    for n in range(1, 5):
        box.add(alert(n), n)
    assert list(box.pending) == ["k2", "k3", "k4"] and box.overflow == {"a": 2}
    assert in_flight is not None and in_flight.owed == set()  # its delivery lets go of it
    box.close()
    assert _pending(tmp_path / "o.jsonl", ["a"], 3) == ["k2", "k3", "k4"]


def test_compaction_bounds_the_file_and_keeps_pending(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    box = Outbox(path, ["a"], 4)
    for n in range(40):
        box.add(alert(n), n)
        if n % 2 == 0:
            box.done(f"k{n}", "a", "sent", 200)
    assert len(path.read_bytes().splitlines()) < 4 * 4 + 2
    pending = list(box.pending)
    box.close()
    assert _pending(path, ["a"], 4) == pending


def test_a_torn_last_line_is_cut_and_was_never_acted_on(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    box = Outbox(path, ["a"], 10)
    box.add(alert(1), 1)
    box.close()
    with path.open("ab") as f:
        f.write(b'{"op": "done", "key": "k1", "noti')  # killed mid-write
    again = Outbox(path, ["a"], 10)
    assert list(again.pending) == ["k1"]  # the ack never landed: sent again
    again.done("k1", "a", "sent", 200)
    again.close()
    assert _pending(path, ["a"], 10) == []
