"""One test kind's core for the tests that add a kind to the registry (open actions, the kind
protocol, schema fragments, file parts): each subclass sets its identity and overrides the hook
its test is about; the rest of the core answers as a kind that is never planned nor read."""

from __future__ import annotations

from lxdplan.kinds.base import KindSpec, Where


class StubKind(KindSpec):
    """The core every kind implements, over ``/1.0/<collection>``; nothing planned, read or
    exported. A subclass sets ``kind``, ``section``, the ranks and ``collection``."""

    collection = "gadgets"

    def load(self, checker, items, declared):
        return ()

    def plan(self, ctx):
        return []

    def where(self, step):
        return Where(f"/1.0/{self.collection}", f"/1.0/{self.collection}/{step.name}")

    def where_declared(self, obj):
        return Where(f"/1.0/{self.collection}", f"/1.0/{self.collection}/{obj.name}")

    def export(self, live):
        return None

    @property
    def observed_type(self):
        return dict

    def assemble(self, reading, recorded):
        return {}
