"""OKX v5 WebSocket protocol, pure (okx-protocol.md §1.3–§1.5, §2, §3.6).

Builds subscribe/unsubscribe requests, classifies every incoming text frame, and keeps the
per-connection subscription table (which request is waiting for which ack, retries after errors,
the per-subscription silence watchdog). No I/O and no trio: the socket actor feeds it frames and
`now` and does what it returns, so all of this is unit-tested without a network.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
import orjson

from rq_actors.core.recent_keys import RecentKeys

PING = "ping"
PONG = "pong"
NOTICE_SERVICE_UPGRADE = "64008"
# Unsubscribe ids remembered; a refused unsubscribe is answered within seconds, so older ids
# need not be.
_UNSUB_IDS_LIMIT = 64

Op = Literal["subscribe", "unsubscribe"]


@attrs.frozen(slots=True)
class SubArg:
    channel: str
    inst_id: str

    def to_json(self) -> dict[str, str]:
        return {"channel": self.channel, "instId": self.inst_id}


def build_request(op: Op, req_id: str, args: Sequence[SubArg]) -> str:
    return orjson.dumps({"id": req_id, "op": op, "args": [a.to_json() for a in args]}).decode()


class RequestIds:
    """Request ids unique within one connection; OKX allows up to 32 alphanumeric characters."""

    def __init__(self) -> None:
        self._n = 0

    def next(self, op: Op) -> str:
        self._n += 1
        return f"{'s' if op == 'subscribe' else 'u'}{self._n}"


# ---- incoming frames -------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Pong:
    pass


@attrs.frozen(slots=True)
class Ack:
    op: str  # "subscribe" | "unsubscribe"
    arg: SubArg
    req_id: str | None


@attrs.frozen(slots=True)
class ErrorEvent:
    """An `event: error`. It has no `arg` (§1.4): only `req_id` says which request failed."""

    code: str
    msg: str
    req_id: str | None


@attrs.frozen(slots=True)
class Notice:
    code: str
    msg: str


@attrs.frozen(slots=True)
class OtherEvent:
    """An event this client does not act on (e.g. `channel-conn-count`)."""

    event: str


@attrs.frozen(slots=True)
class Push:
    """A data push: `arg` names the subscription, `rows` is the `data` list."""

    arg: SubArg
    action: str | None
    rows: tuple[Any, ...]


@attrs.frozen(slots=True)
class Invalid:
    reason: str


Frame = Pong | Ack | ErrorEvent | Notice | OtherEvent | Push | Invalid


def classify(text: str) -> Frame:
    """What one text frame is. Never raises: anything unusable is `Invalid` with a reason."""
    if text == PONG:
        return Pong()
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Invalid(f"malformed JSON: {exc}")
    if not isinstance(msg, dict):
        return Invalid(f"not a JSON object: {type(msg).__name__}")
    req_id = _opt_str(msg.get("id"))
    event = msg.get("event")
    if event is not None:
        if event in ("subscribe", "unsubscribe"):
            arg = _arg(msg.get("arg"))
            if arg is None:
                return Invalid(f"{event} ack without a usable arg")
            return Ack(event, arg, req_id)
        if event == "error":
            return ErrorEvent(str(msg.get("code", "")), str(msg.get("msg", "")), req_id)
        if event == "notice":
            return Notice(str(msg.get("code", "")), str(msg.get("msg", "")))
        return OtherEvent(str(event))
    if "data" in msg:
        arg = _arg(msg.get("arg"))
        if arg is None:
            return Invalid("data push without arg.channel/arg.instId")
        data = msg["data"]
        if not isinstance(data, list):
            return Invalid(f"data is not a list: {type(data).__name__}")
        action = msg.get("action")
        return Push(arg, action if isinstance(action, str) else None, tuple(data))
    return Invalid("neither an event nor a data push")


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _arg(value: Any) -> SubArg | None:
    if not isinstance(value, dict):
        return None
    channel, inst_id = value.get("channel"), value.get("instId")
    if not isinstance(channel, str) or not isinstance(inst_id, str):
        return None
    return SubArg(channel, inst_id)


def newest_ts_ms(rows: Iterable[Any]) -> int | None:
    """The newest usable `ts` (ms string) of the rows, for health lag; None if there is none."""
    newest: int | None = None
    for row in rows:
        ts = row.get("ts") if isinstance(row, dict) else None
        # isdigit() alone also accepts "²" and 5000-digit strings, which int() refuses
        if isinstance(ts, str) and ts.isascii() and ts.isdigit() and len(ts) <= 15:
            value = int(ts)
            if newest is None or value > newest:
                newest = value
    return newest


# ---- subscription table ----------------------------------------------------------------------


class SubState(enum.Enum):
    PENDING = "pending"  # subscribe sent, waiting for its ack
    ACTIVE = "active"  # acked
    RETRY_WAIT = "retry_wait"  # the exchange refused it; subscribe again at `due`


@attrs.define
class _Sub:
    arg: SubArg
    silence_s: float  # 0: no silence watchdog
    state: SubState = SubState.PENDING
    req_id: str | None = None
    due: float = 0.0  # PENDING: ack deadline; RETRY_WAIT: retry time
    last_data: float = 0.0
    failures: int = 0


@attrs.frozen
class Poll:
    """What the connection must do now (`SubscriptionTable.poll`)."""

    requests: tuple[str, ...] = ()  # send these, in order
    timed_out: tuple[str, ...] = ()  # channels whose ack is overdue: reconnect
    silent: tuple[str, ...] = ()  # channels resubscribed by the silence watchdog
    retried: tuple[str, ...] = ()  # channels subscribed again after an error


class SubscriptionTable:
    """The subscriptions of one connection and where each stands.

    Every channel gets its own subscribe request, so an error event (which has no `arg`) names
    exactly one subscription through its `id`. An error puts that one subscription into a
    capped exponential retry; the others, and the connection, carry on.
    """

    def __init__(
        self,
        inst_id: str,
        silence_s: Mapping[str, float],
        *,
        ack_timeout_s: float,
        retry_initial_s: float,
        retry_max_s: float,
    ) -> None:
        self._subs = {ch: _Sub(SubArg(ch, inst_id), limit) for ch, limit in silence_s.items()}
        self._ack_timeout_s = ack_timeout_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._ids = RequestIds()
        self._unsub_ids: RecentKeys[str] = RecentKeys(_UNSUB_IDS_LIMIT)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self._subs)

    def state(self, channel: str) -> SubState:
        return self._subs[channel].state

    def all_active(self) -> bool:
        return all(s.state is SubState.ACTIVE for s in self._subs.values())

    def start(self, now: float) -> list[str]:
        """The first subscribe requests of a fresh connection."""
        return [self._subscribe(sub, now) for sub in self._subs.values()]

    def resubscribe(self, channel: str, now: float) -> list[str]:
        """Unsubscribe + subscribe one active channel (its new subscription starts with a fresh
        snapshot). Empty if it is not active: a subscribe is already on its way."""
        sub = self._subs[channel]
        if sub.state is not SubState.ACTIVE:
            return []
        unsub_id = self._ids.next("unsubscribe")
        self._unsub_ids.add(unsub_id)
        return [build_request("unsubscribe", unsub_id, [sub.arg]), self._subscribe(sub, now)]

    def on_ack(self, ack: Ack, now: float) -> str | None:
        """The channel this ack made active, if any."""
        if ack.op != "subscribe":
            return None
        sub = self._subs.get(ack.arg.channel)
        if sub is None or sub.state is not SubState.PENDING:
            return None
        if ack.req_id is not None and ack.req_id != sub.req_id:
            return None  # a late ack of an earlier request for the same channel
        sub.state = SubState.ACTIVE
        sub.req_id = None
        sub.failures = 0
        sub.last_data = now  # the silence watchdog counts from the ack
        return sub.arg.channel

    def on_error(self, err: ErrorEvent, now: float) -> list[str]:
        """The channels this error failed; each is retried later with backoff."""
        failed = self._match_error(err)
        for sub in failed:
            sub.failures += 1
            sub.state = SubState.RETRY_WAIT
            sub.req_id = None
            delay = self._retry_initial_s * 2.0 ** min(sub.failures - 1, 30)
            sub.due = now + min(self._retry_max_s, delay)
        return [s.arg.channel for s in failed]

    def on_data(self, channel: str, now: float) -> None:
        sub = self._subs.get(channel)
        if sub is not None:
            sub.last_data = now

    def poll(self, now: float) -> Poll:
        requests: list[str] = []
        timed_out: list[str] = []
        silent: list[str] = []
        retried: list[str] = []
        for sub in self._subs.values():
            ch = sub.arg.channel
            if sub.state is SubState.PENDING and now >= sub.due:
                timed_out.append(ch)
            elif sub.state is SubState.RETRY_WAIT and now >= sub.due:
                retried.append(ch)
                requests.append(self._subscribe(sub, now))
            elif self._is_silent(sub, now):
                silent.append(ch)
                requests.extend(self.resubscribe(ch, now))
        return Poll(tuple(requests), tuple(timed_out), tuple(silent), tuple(retried))

    def next_deadline(self) -> float:
        """When `poll` may next have something to do (inf: only after new input)."""
        times = [sub.due for sub in self._subs.values() if sub.state is not SubState.ACTIVE]
        times += [
            sub.last_data + sub.silence_s
            for sub in self._subs.values()
            if sub.state is SubState.ACTIVE and sub.silence_s > 0
        ]
        return min(times, default=float("inf"))

    def _subscribe(self, sub: _Sub, now: float) -> str:
        sub.req_id = self._ids.next("subscribe")
        sub.state = SubState.PENDING
        sub.due = now + self._ack_timeout_s
        return build_request("subscribe", sub.req_id, [sub.arg])

    def _is_silent(self, sub: _Sub, now: float) -> bool:
        return (
            sub.state is SubState.ACTIVE
            and sub.silence_s > 0
            and now >= sub.last_data + sub.silence_s  # same test as next_deadline: no spin
        )

    def _match_error(self, err: ErrorEvent) -> list[_Sub]:
        pending = [s for s in self._subs.values() if s.state is SubState.PENDING]
        if err.req_id is not None:
            if err.req_id in self._unsub_ids:
                return []  # a refused unsubscribe changes nothing: the subscribe follows
            return [s for s in pending if s.req_id == err.req_id]
        # No id (live 60018 frames where the client sent none): the message text names the
        # channel ("…channel:books,instId:…"); failing that, every waiting subscription failed.
        named = [s for s in pending if f"channel:{s.arg.channel}," in err.msg]
        return named or pending
