"""``docs/reliability.md``: the fault matrix's cases and their outcomes, written by the suite.

One row per test of ``tests/faults`` (a test run once per backend is one row per backend): its
module, its docstring's first line (``Case: outcome.``), the outcome of the run and the backend.
Nothing that changes from run to run (times, dates, pids) goes in, so an unchanged suite whose
cases keep their outcomes leaves git clean. Written only after a run of the whole directory: a
run narrowed by ``-k``/``-m``, a file or a node id, ``--lf``, or stopped early (``-x``, Ctrl-C)
leaves the file as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("lxd", "incus")
DOC = Path("docs") / "reliability.md"
HEADER = """# Reliability: the fault matrix

What a cluster and a CI runner throw at lxdplan, and what lxdplan does about it (issue 17). Each
row is one test of `tests/faults/`, run against real LXD 5.0.2 and Incus 6.0.4 labs (a fake server
or a proxy in front of a real member only where a fault cannot be made otherwise); the case column
is the first line of the test's docstring.

**Generated — do not edit.** The suite rewrites this file after every run of the whole
`tests/faults/` directory (`CI=true ./run-tests tests/faults`, or the whole suite with
`./run-tests`); a partial run (`-k`, `-m`, one file or test, `--lf`, or a run stopped early) leaves
it as it was. Commit it when it changes.
"""


@dataclass(frozen=True)
class Case:
    module: str  # e.g. test_answers.py
    name: str  # the test's name without its parameters
    summary: str  # the docstring's first line
    backend: str  # "lxd", "incus" or "" when the test is not run per backend
    outcome: str  # passed | failed | skipped
    variant: str = ""  # the test's other parameters, e.g. "status=500"


def summary_of(function) -> str:
    """The docstring's first line; when it does not end a sentence (the line wraps), the first
    sentence of its first paragraph."""
    doc = (getattr(function, "__doc__", None) or "").strip()
    if not doc:
        return "(no docstring: say the case and its outcome)"
    first = doc.splitlines()[0].strip()
    if first.endswith("."):
        return first
    paragraph = " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())
    found = re.search(r"\.(\s|$)", paragraph)
    return paragraph[: found.start() + 1] if found else paragraph


def backend_of(item) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ""
    found = [v for v in callspec.params.values() if isinstance(v, str) and v in BACKENDS]
    return found[0] if found else ""


def variant_of(item) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(callspec.params.items())
                     if not (isinstance(v, str) and v in BACKENDS))


def case_of(item, outcome: str) -> Case:
    return Case(module=Path(str(item.fspath)).name, name=item.originalname or item.name,
                summary=summary_of(getattr(item, "function", None)), backend=backend_of(item),
                outcome=outcome, variant=variant_of(item))


def render(cases: list[Case]) -> str:
    counts = {o: sum(1 for c in cases if c.outcome == o) for o in ("passed", "failed", "skipped")}
    lines = [HEADER, f"{len(cases)} cases: {counts['passed']} passed, {counts['failed']} failed, "
                     f"{counts['skipped']} skipped.", "",
             "| module | case: outcome | backend | result |", "| --- | --- | --- | --- |"]
    for c in sorted(cases, key=lambda c: (c.module, c.name, c.variant, c.backend)):
        summary = (c.summary + (f" [{c.variant}]" if c.variant else "")).replace("|", "\\|")
        lines.append(f"| {c.module} | {summary} | {c.backend or '—'} | {c.outcome} |")
    return "\n".join(lines) + "\n"


def write(root: Path, cases: list[Case]) -> bool:
    """Write the report under ``root`` when its text changed; True if it was written."""
    target = root / DOC
    text = render(cases)
    if target.exists() and target.read_text() == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return True


def ran_in_full(config, here: Path, items: list, deselected: int, outcomes: dict) -> bool:
    """Whether this run collected and finished every test of ``here`` (``tests/faults``)."""
    option = config.option
    if getattr(option, "keyword", "") or getattr(option, "markexpr", "") or deselected:
        return False
    if getattr(option, "lf", False) or getattr(option, "deselect", None):
        return False
    if any("::" in str(arg) for arg in config.args):
        return False
    on_disk = {p.name for p in here.glob("test_*.py")}
    collected = {Path(str(i.fspath)).name for i in items}
    if not on_disk or collected != on_disk:
        return False
    return all(i.nodeid in outcomes for i in items)
