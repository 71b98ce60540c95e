"""A flame graph of a real node draining pre-signed reports: py-spy attached to fr's process.

    $ make profile-node     # writes bench/profile-node.svg and bench/profile-node.txt

The in-process profile (``make profile``) shows the pipeline; this one shows everything the
node process does per report, NATS client and event loop included.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.consumer import _messages, end_to_end
from tests.integration.conftest import Federation


def main(n: int = 2000) -> None:
    spy = Path(sys.executable).parent / "py-spy"
    with tempfile.TemporaryDirectory() as tmp:
        fed = Federation(Path(tmp), ["gb", "fr", "jp"])
        try:
            fed.start()
            key_file, pid = Path(fed.node("gb")["signing_key_file"]), str(fed.node("fr")["pid"])
            # One drain per format: two py-spy processes attached at once lose one's output.
            for fmt, ext in (("flamegraph", "svg"), ("raw", "txt")):
                spying = subprocess.Popen([str(spy), "record", "--pid", pid,  # noqa: S603
                                           "--format", fmt, "-o", f"bench/profile-node.{ext}"])
                result = asyncio.run(end_to_end(fed, _messages(key_file, n), "fr"))
                spying.send_signal(2)  # SIGINT: py-spy writes its output and exits
                spying.wait(timeout=60)
                print(f"fr drained {n} reports at {result['rate']:.0f}/s, "
                      f"{result['cpu_us']:.0f} µs CPU each")
        finally:
            fed.stop()


if __name__ == "__main__":
    main()
