"""A trust token for a named client (``lxdplan trust-token NAME``), as ``lxc config trust add
--name NAME`` / ``incus config trust add NAME`` mint it.

``POST /1.0/certificates {"name", "type": "client", "token": true}`` starts a token operation
whose metadata holds the secret, the cluster certificate's fingerprint, the addresses and the
expiry (``core.remote_token_expiry``); the token is the base64 JSON of ``client_name``,
``fingerprint``, ``addresses``, ``secret`` and ``expires_at`` (LXD 5.0.2 and Incus 6.0.4
``shared/api`` ``CertificateAddToken``, ``Operation.ToCertificateAddToken``). It is a secret:
only the written file holds it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from lxdplan.errors import LxdplanError
from lxdplan.providers.client import Client


def mint_trust_token(client: Client, name: str, *, restricted: bool = False,
                     projects: tuple[str, ...] = ()) -> str:
    """A new single-use trust token for client ``name``."""
    body = {"name": name, "type": "client", "token": True, "restricted": restricted,
            "projects": list(projects)}
    op = client.post("/1.0/certificates", body, wait=False)
    md: dict[str, Any] = (op.metadata or {}).get("metadata") or {}
    if not md.get("secret"):
        raise LxdplanError(f"member {client.who} answered the trust token request for {name} "
                           "without a token")
    token = {"client_name": name, "fingerprint": md.get("fingerprint", ""),
             "addresses": md.get("addresses") or [], "secret": md["secret"],
             "expires_at": md.get("expiresAt", "0001-01-01T00:00:00Z")}
    return base64.b64encode(json.dumps(token).encode()).decode()
