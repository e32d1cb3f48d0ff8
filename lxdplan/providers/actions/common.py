"""Helpers shared by the per-kind actions: secrets, 404s, ETag failures, config comparison."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from lxdplan import keys
from lxdplan.compare import comparable as comparable  # the actions' comparisons
from lxdplan.compare import same_config as same_config
from lxdplan.desired import Secret, map_values
from lxdplan.errors import ApiError, PreconditionFailed
from lxdplan.plan import Kind, Step
from lxdplan.providers.client import Client, Response


def reveal(value: Any) -> Any:
    """A payload value as sent: ``Secret``s resolved now, maps and lists walked."""
    return map_values(value, lambda v: v.resolve() if isinstance(v, Secret) else v)


def get_or_none(client: Client, path: str, params: dict[str, Any] | None = None) -> Response | None:
    """GET, or None when the object does not exist (404)."""
    try:
        return client.get(path, params)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def gone(call: Callable[[], Any]) -> bool:
    """Run a delete; True when it deleted, False when the object was already gone (404)."""
    try:
        call()
    except ApiError as exc:
        if exc.status == 404 and not isinstance(exc, PreconditionFailed):
            return False
        raise
    return True


@contextmanager
def precondition(step: Step) -> Iterator[None]:
    """Turn a 412 into the sentence the user acts on."""
    try:
        yield
    except PreconditionFailed as exc:
        what = "server config" if step.kind == Kind.SERVER else f"{step.kind.noun} {step.name}"
        if step.kind == Kind.SERVER and step.member:
            what = f"server config of {step.member}"
        raise PreconditionFailed(
            f"{what} changed outside lxdplan since the plan; run plan again",
            member=exc.member, status=412,
        ) from None


def owned(config: dict[str, Any] | None) -> dict[str, Any]:
    """The config of an object lxdplan creates: with its ownership mark (once)."""
    return {**(config or {}), keys.OWNER_KEY: keys.OWNER_VALUE}
