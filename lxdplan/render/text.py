"""Terraform-like text output of a plan: the steps in the order they run, each naming its object,
a legend of the signs once above them, the summary line last."""

from __future__ import annotations

from lxdplan.plan import Plan
from lxdplan.render.common import blocked_line, change_lines, legend, sign, step_line, summary_line

_COLOURS = {"+": "32", "~": "33", "-": "31", "±": "36", "!": "1;31", "#": "2", "bold": "1"}


def render_text(plan: Plan, *, colour: bool = False) -> str:
    """The plan as text. ``colour`` adds ANSI colours; the CLI decides (isatty, NO_COLOR)."""

    def paint(text: str, key: str) -> str:
        return f"\033[{_COLOURS[key]}m{text}\033[0m" if colour else text

    out: list[str] = []
    if plan.changes:
        out.append("lxdplan will perform these steps, in this order:")
        out.append(paint(f"({legend(plan)})", "#"))
        out.append("")
        for number, step in enumerate(plan.steps, 1):
            sym = sign(step)
            out.append(f"  {paint(sym, sym)} {number}. {step_line(step)}")
            if step.reason:
                out.append(paint(f"      # {step.reason}", "#"))
            for mark, text in change_lines(step):
                out.append(f"      {paint(mark, mark)} {text}")
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
