"""What ``Desired`` and ``Observed`` share as containers of kind sections (``objects``)."""

from __future__ import annotations

import dataclasses
from typing import Any


def same_sections(a: Any, b: Any) -> bool:
    """Equal fields, and equal objects where a section absent and an empty one are alike (a
    container holds the sections its caller gave)."""
    return all(getattr(a, f.name) == getattr(b, f.name)
               for f in dataclasses.fields(a) if f.name != "objects") and (
        {s: v for s, v in a.objects.items() if v} == {s: v for s, v in b.objects.items() if v})
