"""Form a cluster by hand over the members' unix sockets (test code: the executor does this for real).

``form_cluster([(name, socket_path, "10.x.0.i:8443"), ...])`` bootstraps the first member and joins
the others one at a time with join tokens, choosing the token field by API extensions.
"""

from __future__ import annotations

import base64
import json

from lxdplan.providers.backend import Backend
from lxdplan.providers.client import Client


def unix(socket_path: str, name: str) -> Client:
    return Client(f"unix://{socket_path}", member=name)


def join_token(leader: Client, name: str) -> str:
    op = leader.post("/1.0/cluster/members", {"server_name": name}, wait=False)
    md = op.metadata["metadata"]
    token = {
        "server_name": md["serverName"],
        "fingerprint": md["fingerprint"],
        "addresses": md["addresses"],
        "secret": md["secret"],
        "expires_at": md.get("expiresAt", "0001-01-01T00:00:00Z"),
    }
    return base64.b64encode(json.dumps(token).encode()).decode()


def trust_token(member: Client, client_name: str) -> str:
    """Mint a client trust token over the unix socket (Incus; LXD 5.0 also redeems it)."""
    op = member.post("/1.0/certificates", {"name": client_name, "type": "client", "token": True},
                     wait=False)
    md = op.metadata["metadata"]
    token = {"client_name": client_name, "fingerprint": md["fingerprint"],
             "addresses": md["addresses"], "secret": md["secret"],
             "expires_at": md.get("expiresAt", "0001-01-01T00:00:00Z")}
    return base64.b64encode(json.dumps(token).encode()).decode()


def form_cluster(members: list[tuple[str, str, str]]) -> None:
    """Each entry: (member name, unix socket path, cluster address host:port)."""
    (first, first_sock, first_addr), rest = members[0], members[1:]
    leader = unix(first_sock, first)
    leader.patch("/1.0", {"config": {"core.https_address": first_addr}})
    leader.put("/1.0/cluster", {"server_name": first, "enabled": True})
    cluster_cert = leader.get("/1.0").metadata["environment"]["certificate"]
    for name, sock, addr in rest:
        joiner = unix(sock, name)
        joiner.patch("/1.0", {"config": {"core.https_address": addr}})
        backend = Backend.from_server(joiner.get("/1.0").metadata)
        wanted = leader.get("/1.0/cluster").metadata.get("member_config") or []
        member_config = []
        for item in wanted:
            value = leader.get(f"/1.0/{'storage-pools' if item['entity'] == 'storage-pool' else 'networks'}/{item['name']}",
                               params={"target": first}).metadata["config"].get(item["key"], "")
            member_config.append({**item, "value": value})
        body = backend.join_request(server_name=name, server_address=addr, cluster_address=first_addr,
                                    cluster_certificate=cluster_cert, token=join_token(leader, name),
                                    member_config=member_config)
        joiner.put("/1.0/cluster", body)
        joiner.close()
    leader.close()
