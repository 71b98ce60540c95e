"""Where the shared data folders (``schemas/``, ``playbooks/``) are, checked out or installed.

    >>> resource_dir("schemas").joinpath("incident.v1.json").is_file()
    True

A checkout keeps them beside ``node/``; ``pip install .`` copies them to
``<prefix>/share/beacon/`` (``[tool.setuptools.data-files]`` in pyproject.toml), because the
design card fixes them at the top of the project rather than inside a package. An environment
variable (``BEACON_SCHEMAS``, ``BEACON_PLAYBOOKS``) overrides both.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
_ENV = {"schemas": "BEACON_SCHEMAS", "playbooks": "BEACON_PLAYBOOKS"}


def _installed(name: str) -> list[Path]:
    prefixes = {sysconfig.get_path("data"), sys.prefix, sys.base_prefix}
    return [Path(p) / "share" / "beacon" / name for p in sorted(prefixes) if p]


def resource_dir(name: str) -> Path:
    """The folder holding ``name`` (``schemas`` or ``playbooks``).

    Raises:
        FileNotFoundError: neither a checkout nor an installation holds it; the message lists
            where it looked and the variable that overrides it.
    """
    override = os.environ.get(_ENV[name])
    if override:
        return Path(override)
    candidates = [_CHECKOUT / name, *_installed(name)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"no {name}/ folder found (looked in {looked}); reinstall beacon "
                            f"or set {_ENV[name]} to the folder")
