"""``docs/reliability.md``: the fault matrix's cases and their outcomes, written by the suite.

One row per test of ``tests/faults`` (a test run once per backend is one row per backend): its
module, its docstring's first line (``Case: outcome.``), the outcome of the run and the backend.
Nothing that changes from run to run (times, dates, pids) goes in, so an unchanged suite whose
cases keep their outcomes leaves git clean. Written only after a run of the whole directory: a
run narrowed by ``-k``/``-m``, a file or a node id, ``--lf``, or stopped early (``-x``, Ctrl-C)
leaves the file as it was.

``Plugin`` does the bookkeeping (registered by ``tests/conftest.py``, so it also runs in the
xdist controller, which collects nothing): every process that collects notes the matrix's items,
each xdist worker sends them to the controller in ``workeroutput``, and the process that sees
every test's report (the controller, or the only process without xdist) writes the file.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace

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


_OUTPUT_KEY = "lxdplan_fault_cases"


class Plugin:
    """Collects the matrix's cases and outcomes in one pytest run; writes the report at its end."""

    def __init__(self, here: Path):
        self.here = here.resolve()  # tests/faults
        self.cases: dict[str, Case] = {}  # node id -> the case (its outcome filled in at the end)
        self.deselected = 0
        self.outcomes: dict[str, str] = {}

    def _ours(self, item) -> bool:
        return self.here in Path(str(item.fspath)).resolve().parents

    def pytest_collection_finish(self, session):
        self.cases = {i.nodeid: case_of(i, "") for i in session.items if self._ours(i)}

    def pytest_deselected(self, items):
        self.deselected += sum(1 for i in items if self._ours(i))

    def pytest_runtest_logreport(self, report):
        """A test's outcome: failed if any phase failed, skipped if it was skipped, else passed."""
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped and self.outcomes.get(report.nodeid) != "failed":
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and report.passed:
            self.outcomes.setdefault(report.nodeid, "passed")

    def pytest_testnodedown(self, node, error):
        """xdist controller: a worker's collected cases (every worker collects every test)."""
        sent = getattr(node, "workeroutput", {}).get(_OUTPUT_KEY)
        if sent:
            for nodeid, fields in sent["cases"].items():
                self.cases.setdefault(nodeid, Case(**fields))
            self.deselected = max(self.deselected, sent["deselected"])

    def pytest_sessionfinish(self, session, exitstatus):
        config = session.config
        if hasattr(config, "workeroutput"):  # an xdist worker: hand the cases to the controller
            config.workeroutput[_OUTPUT_KEY] = {
                "cases": {k: asdict(c) for k, c in self.cases.items()}, "deselected": self.deselected}
            return
        if session.shouldstop or session.shouldfail or not self.cases or exitstatus in (2, 3, 4):
            return  # interrupted, internal error, usage error
        items = [SimpleNamespace(fspath=self.here / c.module, nodeid=k) for k, c in self.cases.items()]
        if not ran_in_full(config, self.here, items, self.deselected, self.outcomes):
            return
        write(Path(str(config.rootpath)),
              [replace(c, outcome=self.outcomes[k]) for k, c in self.cases.items()])
