"""How the engine's outputs are cut into socket writes, the same in both shells. Pure: outputs
in, texts and the directive that ends the conversation out.

A turn is about twenty events: a write each would make the fake, rather than the relay, what a
benchmark of hundreds of sessions measures. So a shell frames a batch of up to
EVENTS_PER_WRITE texts and writes it at once; between two batches it takes every client message
already received, so that a cancel or a barge-in lands between two writes, as on the real
service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .protocol import Close, Drop, Garbage, Output, Stall

EVENTS_PER_WRITE = 8  # events framed into one socket write (a client frame can land between)
MAX_BACKLOG = 256  # the engine takes no more messages while this many outputs wait

# How a conversation ended: a directive to carry out, or None (the peer has gone or is closing).
Ending = Close | Drop | Stall | None


def next_batch(
    outputs: Iterator[Output], sent: list[dict[str, Any]] | None = None
) -> tuple[list[str], Ending]:
    """Up to EVENTS_PER_WRITE texts to send (events as compact JSON, garbage as it is), and
    the directive that ends the conversation after them, if one came. Events are appended to
    ``sent`` when given (a test's record of the connection)."""
    batch: list[str] = []
    for output in outputs:
        if isinstance(output, dict):
            if sent is not None:
                sent.append(output)
            batch.append(json.dumps(output, separators=(",", ":")))
        elif isinstance(output, Garbage):
            batch.append(output.text)
        else:
            return batch, output
        if len(batch) == EVENTS_PER_WRITE:
            break
    return batch, None
