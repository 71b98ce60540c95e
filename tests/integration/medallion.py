"""medallion, the OASIS TAXII 2.1 reference server, as a real process on 127.0.0.1 with its
memory backend and one writable collection — the TAXII peer the STIX round-trip test talks to
and the peer ``bench/peer.py`` measures Beacon against.

    with running_medallion(tmp_path, page_size=5) as (root, cid, pid):
        ...   # root: the API root URL; cid: the collection id; pid: medallion's process
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from federation.taxii import TAXII_MEDIA
from tests.integration.conftest import free_base_port

USER = ("beacon", "s3cret")


@contextmanager
def running_medallion(workdir: Path, *, page_size: int,
                      within_s: float = 30) -> Iterator[tuple[str, str, int]]:
    """Start medallion with its files in ``workdir`` and wait until its API root answers.

    Raises:
        AssertionError: it did not answer within ``within_s``; the message is its log.
    """
    port = free_base_port(1)
    root, cid = f"http://127.0.0.1:{port}/api1/", str(uuid.uuid4())
    data = {"/discovery": {"title": "beacon", "default": root, "api_roots": [root]},
            "api1": {"information": {"title": "api1", "versions": [TAXII_MEDIA],
                                     "max_content_length": 10_000_000},
                     "status": [], "collections": [{
                         "id": cid, "title": "from beacon", "can_read": True,
                         "can_write": True, "media_types": [], "objects": [],
                         "manifest": []}]}}
    (workdir / "data.json").write_text(json.dumps(data))
    (workdir / "config.json").write_text(json.dumps({
        "backend": {"module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend", "filename": str(workdir / "data.json")},
        "users": {USER[0]: USER[1]}, "taxii": {"max_page_size": page_size}}))
    exe = Path(sys.executable).parent / "medallion"
    log_path = workdir / "medallion.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(exe), "--host", "127.0.0.1", "--port", str(port),  # noqa: S603
                                 str(workdir / "config.json")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                if requests.get(root, auth=USER, timeout=2,
                                headers={"Accept": TAXII_MEDIA}).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"medallion did not answer at {root} within {within_s} s:\n"
                                 + log_path.read_text())
        yield root, cid, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
