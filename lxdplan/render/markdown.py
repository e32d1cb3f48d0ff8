"""Markdown for a pull-request comment: summary, a table of steps, the text plan folded."""

from __future__ import annotations

from lxdplan.plan import Plan
from lxdplan.render.common import blocked_line, sign, summary_line
from lxdplan.render.text import render_text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan) -> str:
    out = ["### lxdplan plan", "", f"**{summary_line(plan)}**"]
    line = blocked_line(plan)
    if line:
        out += ["", f":warning: {line}"]
    if plan.steps:
        out += ["", "| # | action | object | member | reason |", "|---|---|---|---|---|"]
        for number, step in enumerate(plan.steps, 1):
            reason = step.reason + (f" **Blocked:** {step.blocked}" if step.blocked else "")
            out.append(
                f"| {number} | `{sign(step)} {step.action.value}` | "
                f"{step.kind.noun} `{_cell(step.name)}` | {_cell(step.member or '')} | "
                f"{_cell(reason)} |"
            )
    if plan.diagnostics:
        out += ["", "**Warnings**", ""] + [f"- {_cell(d)}" for d in plan.diagnostics]
    if plan.unmanaged:
        out += ["", "**Not managed by lxdplan** (left alone)", ""]
        out += [f"- {u.kind.noun} `{u.name}`" + (f" ({u.note})" if u.note else "")
                for u in plan.unmanaged]
    if plan.steps:
        out += ["", "<details><summary>Details</summary>", "", "```diff",
                render_text(plan, colour=False).rstrip("\n"), "```", "", "</details>"]
    return "\n".join(out) + "\n"
