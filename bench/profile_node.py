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


def main(n: int = 3000) -> None:
    spy = Path(sys.executable).parent / "py-spy"
    with tempfile.TemporaryDirectory() as tmp:
        fed = Federation(Path(tmp), ["gb", "fr", "jp"])
        try:
            fed.start()
            msgs = _messages(Path(fed.node("gb")["signing_key_file"]), n)
            pid = str(fed.node("fr")["pid"])
            procs = [subprocess.Popen([str(spy), "record", "--pid", pid, "--format", fmt,  # noqa: S603
                                       "-o", f"bench/profile-node.{ext}", "--rate", "200"])
                     for fmt, ext in (("flamegraph", "svg"), ("raw", "txt"))]
            result = asyncio.run(end_to_end(fed, msgs, "fr"))
            for p in procs:
                p.send_signal(2)  # SIGINT: py-spy writes its output and exits
                p.wait(timeout=60)
            print(f"fr drained {n} reports at {result['rate']:.0f}/s, "
                  f"{result['cpu_us']:.0f} µs CPU each")
        finally:
            fed.stop()


if __name__ == "__main__":
    main()
