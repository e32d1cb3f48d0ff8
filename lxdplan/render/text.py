"""Terraform-like text output of a plan: one block per object, the summary line last."""

from __future__ import annotations

from lxdplan.plan import Plan
from lxdplan.render.common import blocked_line, blocks, change_lines, step_title, summary_line

_COLOURS = {"+": "32", "~": "33", "-": "31", "±": "36", "!": "1;31", "#": "2", "bold": "1"}


def render_text(plan: Plan, *, colour: bool = False) -> str:
    """The plan as text. ``colour`` adds ANSI colours; the CLI decides (isatty, NO_COLOR)."""

    def paint(text: str, key: str) -> str:
        return f"\033[{_COLOURS[key]}m{text}\033[0m" if colour else text

    out: list[str] = []
    if plan.changes:
        out.append("lxdplan will perform these steps, in the numbered order:")
        out.append("")
        for label, steps in blocks(plan):
            out.append(paint(f"  # {label}", "bold"))
            for number, step in steps:
                sym = step.action.symbol
                title = f"{number}. {step_title(step)}"
                out.append(f"  {paint(sym, sym)} {title}")
                if step.reason:
                    out.append(paint(f"      # {step.reason}", "#"))
                for sign, text in change_lines(step):
                    out.append(f"      {paint(sign, sign)} {text}")
                if step.blocked:
                    out.append("      " + paint(f"! blocked: {step.blocked}", "!"))
            out.append("")
    if plan.unmanaged:
        out.append("Not managed by lxdplan (left alone; adopt with lxdplan import):")
        for item in plan.unmanaged:
            note = f" ({item.note})" if item.note else ""
            out.append(f"  {item.kind.noun} {item.name}{note}")
        out.append("")
    if plan.diagnostics:
        out.append("Warnings:")
        out.extend(f"  {paint('!', '!')} {d}" for d in plan.diagnostics)
        out.append("")
    out.append(paint(summary_line(plan), "bold"))
    line = blocked_line(plan)
    if line:
        out.append(paint(line, "!"))
    return "\n".join(out) + "\n"
