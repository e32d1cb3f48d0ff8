"""The request log behind ``--debug``: one line per HTTP request on the ``lxdplan.http`` logger.

A line holds the member, the method, the path (secret-looking query values ``(sensitive)``), the
status (or how it failed) and the time. Bodies are never logged: they carry trust passwords,
trust and join tokens and the file's secrets. The CLI decides where the lines go.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("lxdplan.http")
SECRET_PARAMS = ("secret", "password", "token")
T = TypeVar("T")


def loggable(path: str, params: dict[str, Any] | None = None) -> str:
    """``path?query`` for a log line, each secret-looking query value ``(sensitive)``."""
    parts = urlsplit(path)
    query = parse_qsl(parts.query) + [(k, str(v)) for k, v in (params or {}).items()]
    shown = [f"{k}={'(sensitive)' if any(w in k.lower() for w in SECRET_PARAMS) else v}"
             for k, v in query]
    return parts.path + (f"?{'&'.join(shown)}" if shown else "")


def logged(who: str, method: str, path: str, params: dict[str, Any] | None,
           send: Callable[[], T]) -> T:
    """``send()`` the request; with debug logging on, log it when it ends, however it ends."""
    if not log.isEnabledFor(logging.DEBUG):
        return send()
    started, status = time.monotonic(), "no answer"
    try:
        answer = send()
        status = str(getattr(answer, "status_code", "?"))
        return answer
    except Exception as exc:
        status = f"failed ({type(exc).__name__})"
        raise
    finally:
        log.debug("%s %s %s -> %s (%.0f ms)", who, method, loggable(path, params), status,
                  (time.monotonic() - started) * 1000)
