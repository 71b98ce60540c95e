"""The top frames of a py-spy raw profile (``bench/profile-node.txt``), inclusive, in percent
of the node's busy samples (idle checker threads waiting for work are left out).

    $ .venv/bin/python -m bench.profile_top bench/profile-node.txt
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def top(path: Path, n: int = 40) -> list[tuple[str, float]]:
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] for f in stack.split(";")]
        if frames[-1] == "_worker":  # a checker thread waiting for a batch
            continue
        total += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    return [(f, 100 * c / total) for f, c in inclusive.most_common(n)]


if __name__ == "__main__":
    for frame, share in top(Path(sys.argv[1])):
        print(f"{share:5.1f}%  {frame}")
