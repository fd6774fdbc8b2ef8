"""Test-only: ``wamc serve`` with tracemalloc on, so a test can measure the daemon's own memory.

``SIGUSR2`` writes ``{"current", "peak"}`` (bytes traced now, and at most since the last
signal) as JSON to ``$WAMC_TEST_TRACE_FILE`` and resets the peak. Nothing of this is in the
product: the test starts the daemon through this module instead of ``wamc.cli``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tracemalloc


def main() -> None:
    tracemalloc.start()
    path = os.environ["WAMC_TEST_TRACE_FILE"]

    def report(signum: int, frame: object) -> None:
        current, peak = tracemalloc.get_traced_memory()
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"current": current, "peak": peak}, fh)
        os.replace(tmp, path)
        tracemalloc.reset_peak()

    signal.signal(signal.SIGUSR2, report)
    from wamc.cli import main as cli

    sys.argv = ["wamc", "serve"]
    cli()


if __name__ == "__main__":
    main()
