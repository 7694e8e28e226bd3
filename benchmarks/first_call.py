"""Time the first call of one variant's train step in this fresh process; print JSON.

``python -m benchmarks.first_call LABEL DEPTH`` builds the model (not timed), then times
the first call of the step, which traces, lowers, compiles and runs it, until its results
are ready. It prints ``{"seconds": s}``, or ``{"skipped": reason}`` if the variant cannot
run. The parent (``benchmarks.run``) starts one such process per measurement, so no
in-memory cache of JAX or of the library survives from an earlier measurement, and it
turns off JAX's persistent compilation cache.
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks.variants import TRAIN, build, reason


def main(label: str, depth: int) -> dict[str, float | str]:
    try:
        case = build(TRAIN[label], depth)
        start = time.perf_counter()
        case.run(1)
        return {"seconds": time.perf_counter() - start}
    except Exception as error:  # reported to the parent as a skip
        return {"skipped": reason(error)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
