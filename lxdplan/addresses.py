"""Server addresses (``host:port``) as LXD compares them: one rule for the planner and the loader.

A member's ``address`` is its cluster address (``cluster.https_address``, the ``url`` LXD lists
for it); ``core.https_address`` is where it serves the REST API and may be a wildcard
(``[::]:8443``, ``:8443``, ``0.0.0.0:8443``). LXD fills in port 8443 when none is given.
"""

from __future__ import annotations

import ipaddress

DEFAULT_PORT = "8443"


def canonical(address: str) -> tuple[str, str]:
    """``(host, port)`` of ``host:port``, ``[v6]:port``, ``host`` or ``https://host:port``:
    host lower-cased, IPv6 written in its compressed form, port 8443 when absent."""
    text = address.strip().removeprefix("https://").rstrip("/")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif text.count(":") > 1:  # a bare IPv6 address, no port
        host, port = text, ""
    else:
        host, port = text, ""
    try:
        host = str(ipaddress.ip_address(host.split("%")[0])) if host else ""
    except ValueError:
        host = host.lower()
    return host, port or DEFAULT_PORT


def same(a: str, b: str) -> bool:
    """Whether two addresses name the same listener (``10.0.0.1`` is ``10.0.0.1:8443``)."""
    return canonical(a) == canonical(b)


def is_wildcard(address: str) -> bool:
    """A listen-on-every-address form, which LXD refuses as a cluster address."""
    host, _port = canonical(address)
    return host in ("", "0.0.0.0", "::")


def of_url(url: str) -> str:
    """``host:port`` of a member's ``url`` (``https://10.0.0.1:8443`` → ``10.0.0.1:8443``)."""
    return url.removeprefix("https://").rstrip("/")
