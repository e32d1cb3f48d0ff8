"""What every part of the file is checked with: the ``Checker`` (diagnostics at the file's
lines, config maps, the "declared twice" rule) and the names of what loaded before.

``lxdplan.validation`` loads membership and server config with it and hands it to each kind's
``load`` and ``check`` (``lxdplan.kinds.base``); nothing here knows a kind.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator, Mapping

from lxdplan import keys
from lxdplan.desired import Secret
from lxdplan.errors import Diagnostic, fmt_path
from lxdplan.sensitive import sensitive_key

if TYPE_CHECKING:
    from lxdplan.yamlsource import Source

_DEVICE_NAME = re.compile(r"[-/.:_a-zA-Z0-9]{1,63}")
LXDPLAN_PREFIX = "user.lxdplan."  # ownership marks and the lock: lxdplan's own, never declared
MEMBERS = "members"  # the key of ``declared`` holding the members (membership is not a kind)


def normalise(value: object) -> str:
    """A YAML scalar in LXD's string form: true -> "true", 15 -> "15", 1.5 -> "1.5"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def dicts(items: object) -> Iterator[tuple[int, dict]]:
    """(index, item) for the mappings in a list; other items were rejected by the schema."""
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            yield i, item


def names(declared: Mapping[str, tuple], section: str, *builtin: str) -> set[str]:
    """The names of the objects loaded for ``section`` (``members`` too), and ``builtin`` ones
    that exist without being declared (the ``default`` project)."""
    return {obj.name for obj in declared.get(section, ())} | set(builtin)


class Checker:
    """Collects the diagnostics of one file (``src``), each at the line of a path in it."""

    def __init__(self, src: "Source"):
        self.src = src
        self.diags: list[Diagnostic] = []

    def error(self, path, message: str, *, key: bool = False) -> None:
        line = self.src.key_line(path) if key else self.src.line(path)
        self.diags.append(Diagnostic(self.src.path, line, message))

    def warning(self, path, message: str) -> None:
        self.diags.append(Diagnostic(self.src.path, self.src.key_line(path), message, "warning"))

    def unique(self, items: list[tuple[object, tuple]], what: str) -> None:
        """Report every repeat of an identity; items are (identity, path of the object)."""
        first: dict[object, tuple] = {}
        for ident, path in items:
            if ident is None or (isinstance(ident, tuple) and None in ident[-1:]):
                continue
            if ident in first:
                self.error(path, f"{what} is declared twice ({fmt_path(path)} repeats "
                                 f"{fmt_path(first[ident])}, line {self.src.line(first[ident])})")
            else:
                first[ident] = path

    # -- config maps -------------------------------------------------------------------------
    def plain_config(self, cfg: dict | None, path: tuple) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in (cfg or {}).items():
            self.no_volatile(k, path)
            out[k] = normalise(v)
        return out

    def object_config(self, cfg: dict | None, path: tuple) -> dict:
        """An object's config map: strings, or ``Secret`` for ``{env:}``/``{file:}`` values."""
        return self.server_config(cfg, path)

    def server_config(self, cfg: dict | None, path: tuple) -> dict:
        out: dict = {}
        for k, v in (cfg or {}).items():
            self.no_volatile(k, path)
            out[k] = self.secret_or_value(v)
            if isinstance(v, (str, int, float)) and not isinstance(v, bool) and sensitive_key(k):
                self.warning(path + (k,), f"{fmt_path(path + (k,))} holds a secret written in "
                                          "plain text; prefer {env: NAME} or {file: PATH}")
        return out

    def device_name(self, path: tuple) -> None:
        """The device named by the last part of ``path``: LXD's rule (``IsDeviceName``)."""
        name = path[-1]
        if not _DEVICE_NAME.fullmatch(name) or name.startswith("."):
            self.error(path, f'device "{name}" in {fmt_path(path[:-1])}: a device name is 1 to 63 '
                             f'ASCII letters, digits and / . - : _, not starting with "."', key=True)

    def no_volatile(self, k: str, path: tuple) -> None:
        if not k.isprintable():  # a newline or terminal escape would reach the plan's output
            self.error(path + (k,), f'"{k}" in {fmt_path(path)} holds a character that is not '
                                    f"printable (a newline, tab or control character); remove it",
                       key=True)
        elif keys.is_lxd_own(k):
            self.error(path + (k,), f'"{k}" in {fmt_path(path)} is a key LXD sets itself '
                                    f'(volatile.*); remove it', key=True)
        elif k.startswith(LXDPLAN_PREFIX):
            self.error(path + (k,), f'"{k}" in {fmt_path(path)} is a key lxdplan keeps for itself '
                                    f"({LXDPLAN_PREFIX}*); remove it", key=True)

    @staticmethod
    def secret_or_value(v: object):
        if isinstance(v, dict):
            (source, ref), = v.items()
            return Secret(source, ref)
        if v is None:
            return None
        return normalise(v)
