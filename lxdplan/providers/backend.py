"""What differs between LXD and Incus (and between their versions), decided by API extensions.

Read from one ``GET /1.0`` answer. Facts (checked in canonical/lxd and lxc/incus sources and live):
- The join token goes in ``ClusterPut.cluster_token`` on Incus (its ``clustering_join`` field) and
  on LXD servers with the ``explicit_trust_token`` extension (LXD >= 6.1); older LXD (5.0.2) takes
  it in ``cluster_password``.
- A client trust token is redeemed with ``CertificatesPost.trust_token`` on Incus and on LXD with
  ``explicit_trust_token``; older LXD takes a token (``certificate_token``) or the trust password
  in ``password``.
- The trust password (``core.trust_password``) exists only on LXD without ``explicit_trust_token``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxdplan.keys import builtin_descriptions

LXD = "lxd"
INCUS = "incus"
EXPLICIT_TRUST_TOKEN = "explicit_trust_token"


@dataclass(frozen=True)
class Backend:
    """The server kind and the API extensions it announced."""

    name: str  # "lxd" | "incus"; "" when the server did not say (an untrusted client)
    version: str
    api_extensions: frozenset[str]

    @classmethod
    def from_server(cls, metadata: dict[str, Any]) -> "Backend":
        """From the ``metadata`` of ``GET /1.0``."""
        env = metadata.get("environment") or {}
        return cls(
            name=backend_name(metadata),
            version=str(env.get("server_version", "")),
            api_extensions=frozenset(metadata.get("api_extensions") or ()),
        )

    def has(self, extension: str) -> bool:
        return extension in self.api_extensions

    @property
    def label(self) -> str:
        return "Incus" if self.name == INCUS else "LXD"

    @property
    def explicit_tokens(self) -> bool:
        return self.name == INCUS or self.has(EXPLICIT_TRUST_TOKEN)

    @property
    def join_token_field(self) -> str:
        """The ``PUT /1.0/cluster`` field that carries a join token."""
        return "cluster_token" if self.explicit_tokens else "cluster_password"

    @property
    def builtin_descriptions(self) -> dict[str, str]:
        """What the server calls its built-in objects (by kind), which exist from the start."""
        return builtin_descriptions(self.name)

    @property
    def supports_trust_password(self) -> bool:
        return not self.explicit_tokens

    @property
    def supports_trust_token(self) -> bool:
        return self.explicit_tokens or self.has("certificate_token")

    @property
    def all_projects_profiles(self) -> bool:
        """``GET /1.0/profiles?all-projects=true`` is understood."""
        return self.has("profiles_all_projects")

    @property
    def all_projects_volumes(self) -> bool:
        return self.has("storage_volumes_all_projects")

    def trust_request(self, *, password: str | None = None, token: str | None = None,
                      name: str | None = None) -> dict[str, Any]:
        """The ``POST /1.0/certificates`` body that gets the presented client certificate trusted."""
        body: dict[str, Any] = {"type": "client"}
        if name:
            body["name"] = name
        if token is not None:
            if self.explicit_tokens:
                body["trust_token"] = token
            elif self.name == LXD:
                body["password"] = token
            else:  # untrusted clients are not told the server kind: each ignores the other field
                body["password"] = body["trust_token"] = token
        elif password is not None:
            body["password"] = password
        return body

    def join_request(self, *, server_name: str, server_address: str, cluster_address: str,
                     cluster_certificate: str, token: str,
                     member_config: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """The ``PUT /1.0/cluster`` body that makes the receiving server join a cluster."""
        return {
            "server_name": server_name,
            "enabled": True,
            "server_address": server_address,
            "cluster_address": cluster_address,
            "cluster_certificate": cluster_certificate,
            "member_config": member_config or [],
            self.join_token_field: token,
        }


def backend_name(metadata: dict[str, Any]) -> str:
    """``lxd`` or ``incus`` from ``environment.server``; "" when it is absent (untrusted client)."""
    env = metadata.get("environment") or {}
    if "server" not in env:
        return ""
    return INCUS if str(env["server"]).lower() == INCUS else LXD
