"""How fast the wire contract is: build+sign+encode and decode+verify, per event, on one core.

The hub must ingest ≥ 8,000 events/s with rules and storage on top, so decode+verify has to be
a small part of that budget. Baselines in the same run: plain ``json.loads`` of the same payload, and the
reference RFC 8785 encoder (``rfc8785``) against our exact fast path.
Prints a line per figure, then JSON as the last line. Usage: ``python bench/protocol_codec.py [N]``
"""

from __future__ import annotations

import json
import platform
import sys
import time

import rfc8785

from protocol.canonical import canonical_bytes
from protocol.clock import ManualClock
from protocol.codec import Decoder, encode
from protocol.envelope import new_event
from protocol.kinds import KINDS
from protocol.signing import Keyring
from protocol.topics import TopicLayout

KEY = b"k" * 32
NOW = 1_767_250_000_000


def main(n: int) -> dict[str, object]:
    spec = KINDS["condition.start"]  # the largest common event
    layout = TopicLayout()

    t0 = time.perf_counter()
    events = [
        new_event(key=KEY, seq=i + 1, ts=NOW, center="c1", agent="box-01", source="cam-1",
                  kind="condition.start", subject=spec.example_subject, data=spec.example_data)
        for i in range(n)
    ]  # fmt: skip
    payloads = [encode(e) for e in events]
    build_s = time.perf_counter() - t0

    decoder = Decoder(Keyring({"box-01": KEY}), ManualClock(NOW).now_ms, layout=layout)
    topic = layout.events("c1", "box-01", "condition.start")
    t0 = time.perf_counter()
    for raw in payloads:
        decoder.decode(raw, topic)
    decode_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for raw in payloads:
        json.loads(raw)
    json_s = time.perf_counter() - t0

    docs = [json.loads(raw) for raw in payloads[: n // 4]]
    t0 = time.perf_counter()
    for doc in docs:
        canonical_bytes(doc)
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for doc in docs:
        rfc8785.dumps(doc)
    reference_s = time.perf_counter() - t0

    result = {
        "events": n,
        "payload_bytes": len(payloads[0]),
        "build_sign_encode_eps": round(n / build_s),
        "decode_verify_eps": round(n / decode_s),
        "json_loads_eps": round(n / json_s),
        "decode_verify_us": round(decode_s / n * 1e6, 1),
        "canonical_eps": round(len(docs) / fast_s),
        "canonical_rfc8785_reference_eps": round(len(docs) / reference_s),
        "python": platform.python_version(),
    }
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    return result


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(main(count)))
