"""A join preseed for a member lxdplan cannot reach (``lxdplan join-preseed``).

Where a joining machine is set up by cloud-init, lxdplan mints its join token on the cluster and
writes the ``lxd init --preseed`` / ``incus admin init --preseed`` document that machine runs: its
REST address (``config``), and a ``cluster`` section that is exactly the ``PUT /1.0/cluster`` body
lxdplan's own join sends (address, member_config from the file, the cluster certificate, the
token in the field the cluster's server version reads). The token is a secret: it goes only into
the written file.
"""

from __future__ import annotations

from typing import Any

from lxdplan.errors import TrustError
from lxdplan.kinds.base import payload_of
from lxdplan.payloads import Join
from lxdplan.plan import Step
from lxdplan.providers.actions.common import reveal
from lxdplan.providers.actions.members import _cluster_address, encode_join_token, revoke_join_tokens
from lxdplan.providers.backend import Backend
from lxdplan.providers.certs import fingerprint
from lxdplan.providers.client import short
from lxdplan.providers.session import Session


def join_preseed(s: Session, step: Step) -> dict[str, Any]:
    """The preseed that joins ``step``'s member (a planned ``join`` step) to the cluster."""
    name = step.member or step.name
    p = payload_of(step, Join)
    cluster = s.cluster()
    revoke_join_tokens(cluster, name)
    meta = s.server(cluster.member or "", fresh=True)
    cert = (meta.get("environment") or {}).get("certificate") or ""
    op = cluster.post("/1.0/cluster/members", {"server_name": name}, wait=False)
    md = (op.metadata or {}).get("metadata") or {}
    if not cert or md.get("fingerprint") != fingerprint(cert):
        raise TrustError(
            f"the join token for {name} names certificate {short(md.get('fingerprint', ''))}, but "
            f"member {cluster.who} serves another; refusing to write a preseed"
        )
    body = Backend.from_server(meta).join_request(
        server_name=name,
        server_address=p.address,
        cluster_address=_cluster_address(s, cluster, md.get("addresses") or []),
        cluster_certificate=cert,
        token=encode_join_token(md),
        member_config=reveal(list(p.member_config)),
    )
    preseed: dict[str, Any] = {}
    config = {k: v for k, v in reveal(dict(p.config)).items() if v is not None}
    if config:
        preseed["config"] = config
    preseed["cluster"] = body
    return preseed
