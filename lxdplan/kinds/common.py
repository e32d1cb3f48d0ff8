"""Planner pieces every kind uses: display names, file positions, the update and delete steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from lxdplan import keys
from lxdplan.compare import config_views, desc, shown

# Re-exported: the planner pieces every kind uses live in ``base`` (which needs them itself).
from lxdplan.kinds.base import Adoptable, Request, SingleRequests
from lxdplan.kinds.base import and_list as and_list
from lxdplan.kinds.base import leave_after as leave_after
from lxdplan.kinds.base import plan_deletes as plan_deletes
from lxdplan.kinds.base import removal_pins as removal_pins
from lxdplan.kinds.base import used_by_note as used_by_note
from lxdplan.plan import Action, Kind, Payload, Step

if TYPE_CHECKING:
    from lxdplan.kinds.context import PlanContext

DEFAULT = "default"


def scoped(project: str, name: str) -> str:
    """Display name of a project-scoped object: the project is shown when not ``default``."""
    return name if project == DEFAULT else f"{project}/{name}"


def owned(config: dict) -> dict:
    """A created object's config: with lxdplan's ownership mark."""
    return {**config, keys.OWNER_KEY: keys.OWNER_VALUE}


def at(ctx: "PlanContext", obj) -> str:
    """``file:line: `` of a declared object, for errors."""
    line = getattr(obj, "line", 0)
    return f"{ctx.desired.path}:{line}: " if line else f"{ctx.desired.path}: "


def builtin_description(name: str, declared: str, live) -> str:
    """The description to compare and keep. A built-in object (the ``default`` profile of each
    project, the ``default`` project and cluster group) comes with a description LXD wrote:
    it is compared only when the file gives one. Any other object's description is the file's:
    left out, it is empty (a live one is cleared)."""
    return declared or live.description if name == DEFAULT else declared


def plan_update(ctx: "PlanContext", kind: Kind, name: str, live, description: str, changes: dict,
                payload: Payload, *, devices: tuple[dict, dict] = ({}, {}),
                depends_on: Sequence[str] = (), **step: Any) -> str | None:
    """An ``update`` step when config, description or devices differ; None when nothing does."""
    before, after = config_views(changes, live.description, description)
    if devices[0]:
        before["devices"] = devices[0]
    if devices[1]:
        after["devices"] = devices[1]
    if not (before or after):
        return None
    return ctx.steps.add(
        Action.UPDATE, kind, name, depends_on=list(depends_on), before=before, after=after,
        reason=step.pop("reason", f"{kind.noun} {name} differs from the file"), etag=live.etag,
        payload=payload, **step,
    )


# -- export: the live object as a file entry, exactly what the planner compares --------------

SECRET_KEYS = frozenset({"core.trust_password"})  # read back only as "true": never exported


def export_config(config: dict[str, str]) -> dict[str, str]:
    """A config map as exported: lxdplan's own keys, LXD's own keys and secrets left out."""
    return {
        k: v for k, v in sorted(config.items())
        if not k.startswith("user.lxdplan.") and k not in SECRET_KEYS and not keys.is_lxd_own(k)
    }


def put_if(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is empty (the file leaves defaults out)."""
    if value not in (None, "", {}, []):
        target[key] = value


class ItemsSpec(SingleRequests, Adoptable):
    """A kind whose objects carry, beside their config, one ordered list that LXD stores as
    given (a forward's ``ports``, a zone record's ``entries``): sent whole with every create and
    PUT (a PUT without it would drop it), compared item by item in LXD's form
    (``normalise_item``), kept as read when adopting."""

    items: str = ""  # the list's field, in the payloads and in LXD's JSON

    def normalise_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def delete_before(self, live: Any) -> dict[str, Any]:
        before: dict[str, Any] = {**desc(live.description), "config": shown(live.config)}
        items = getattr(live, self.items)
        if items:
            before[self.items] = {str(i): dict(item) for i, item in enumerate(items)}
        return before

    def item_list(self, step: Step) -> list[Any]:
        return list(getattr(step.payload, self.items))

    def put_body(self, step: Step, live: dict[str, Any]) -> dict[str, Any]:
        return {**super().put_body(step, live), self.items: self.item_list(step)}

    def holds(self, live: dict[str, Any], body: dict[str, Any]) -> bool:
        return super().holds(live, body) and (
            [self.normalise_item(i) for i in live.get(self.items) or ()]
            == [self.normalise_item(i) for i in body[self.items]])

    def adopt_request(self, obj: Any, md: dict[str, Any]) -> Request:
        request = super().adopt_request(obj, md)
        return Request(request.method, request.path, request.params,
                       {**request.body, self.items: md.get(self.items) or []})
