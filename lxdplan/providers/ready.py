"""Is a freshly started daemon ready? One quick request to its unix socket (used by `lxdplan lab`)."""

from __future__ import annotations

import httpx


def unix_ready(socket_path: str, timeout: float = 2.0) -> bool:
    """True once the daemon answers ``GET /internal/ready`` with 200 (LXD and Incus alike)."""
    # No TLS on a unix socket: verify=False only stops httpx loading a CA bundle for nothing.
    transport = httpx.HTTPTransport(uds=socket_path, verify=False)
    try:
        with httpx.Client(transport=transport, base_url="http://lxd", timeout=timeout) as client:
            return client.get("/internal/ready").status_code == 200
    except (httpx.HTTPError, OSError):
        return False
