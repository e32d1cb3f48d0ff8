"""Renderers of a ``Plan``: text (terminal), JSON (machines) and markdown (pull requests).

They hold no diff logic: everything shown comes from the plan's steps.
"""

from __future__ import annotations

from lxdplan.render.json import plan_document, render_json
from lxdplan.render.markdown import render_markdown
from lxdplan.render.text import render_text

__all__ = ["plan_document", "render_json", "render_markdown", "render_text"]
