"""Coverage-guided fuzzing of the trade row parser with atheris (libFuzzer). Optional, not CI.

Not collected by pytest (the name does not start with `test_`). Run it for as long as you like:

    pip install atheris
    python tests/fuzz_atheris_trades.py -max_total_time=300          # 5 minutes
    python tests/fuzz_atheris_trades.py -runs=200000 corpus_dir/     # keeps a corpus

Each input is fed three ways: as JSON text through the WebSocket frame classifier, as a row
through `parse_trade_row` (trades-all and aggregated), and, when accepted, through the vault
line round trip. A crash is any exception other than the documented rejections, or an accepted
trade whose numbers are not exact plain decimals.
"""

from __future__ import annotations

import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    import orjson

    from rq_actors.core.meta import InstrumentMeta
    from rq_actors.core.okx.trades import (
        MAX_DECIMAL_CHARS,
        Reject,
        is_positive_decimal,
        parse_trade_row,
    )
    from rq_actors.core.okx.ws_protocol import Push, classify
    from rq_actors.core.trades.record import decode_trade, encode_trade

INST = "BTC-USDT-SWAP"
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")
TEMPLATE = {"instId": INST, "tradeId": "1", "px": "1", "sz": "1", "side": "buy",
            "ts": "1765748096123", "count": "1"}  # fmt: skip


def check_row(row: Any) -> None:
    for aggregated in (False, True):
        result = parse_trade_row(row, INST, aggregated=aggregated)
        if isinstance(result, Reject):
            assert isinstance(result.reason, str) and len(result.reason) < 1000
            continue
        for text in (result.px, result.sz):
            assert is_positive_decimal(text) and len(text) <= MAX_DECIMAL_CHARS, text
        assert decode_trade(encode_trade(result, META)) == result


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:  # a whole frame as text
        frame = classify(fdp.ConsumeUnicodeNoSurrogates(4096))
        if isinstance(frame, Push):
            for row in frame.rows:
                check_row(row)
    elif mode == 1:  # one field of a valid row replaced by fuzzed text
        key = fdp.PickValueInList(sorted(TEMPLATE))
        check_row({**TEMPLATE, key: fdp.ConsumeUnicodeNoSurrogates(256)})
    else:  # any JSON document as a row
        try:
            row = orjson.loads(fdp.ConsumeBytes(4096))
        except orjson.JSONDecodeError:
            return
        check_row(row)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
