"""docs/guide/ cannot go stale: every page runs, in order, on ONE lab, exactly as written.

Regenerate the output blocks after a change to what lxdplan prints::

    LXDPLAN_UPDATE_GUIDE=1 ./run-tests tests/integration/test_guide.py

rewrites, in place, the lines under each ``$`` command whose output no longer matches with what
the command printed (the commands, files and prose are left alone); review the diff and commit
it.

The pages are written for the lab a reader gets from ``lxdplan lab up`` in an empty directory
(name ``lab``, root ``/var/lib/lxdplan/labs``, subnet 10.120.247.0/24, the first one ``lab up``
picks for that name) and work in ``/root/guide``. The test runs them on a lab of its own, under
the session's lab root (``LXDPLAN_LAB_ROOT``, and ``LXDPLAN_LAB`` names the lab, so a page's
``lxdplan lab up`` is run as written), and translates only those names: the canonical lab
directory, root, namespace prefix, work directory and subnet to the test lab's in the commands
and files it runs, and back in what the commands print.

What the harness runs, in page order (``NN-*.md``), one after the other on that lab:

- ```` ```yaml file=NAME ```` blocks are written to NAME in the work directory, as shown.
- ```` ```sh ```` blocks: each line starting with ``$ `` is a command, run by bash in the work
  directory; ``export``/``eval``/``cd`` carry over to the next command, as in one shell. A
  trailing ``# exit N`` is the exit code the command must give (default 0). The lines up to the
  next ``$`` are what it prints (stdout and stderr, as a terminal shows them), compared line by
  line; a ``...`` line stands for any number of lines.
- Masking, applied to both sides before comparing, for what differs from run to run:
  ``pid N``; durations (``1.2 s``, ``350 ms``); hex strings of 12 or more digits (fingerprints,
  digests, certificates); dates and times; ``/tmp/…`` paths; runs of spaces after the first
  word of a line (table columns). Apply's ``start:``/``done:``/``blocked:`` lines
  of steps that run side by side come in any order: each run of them is compared sorted.
- ``<!-- guide-run: kill MEMBER -->`` SIGKILLs a member's daemon, ``<!-- guide-run: wait MEMBER
  STATUS -->`` waits until the cluster lists it with that status and every other member Online
  (a loaded machine can miss a heartbeat of a member the page shows Online), ``<!-- guide-run: block
  MEMBER -->`` / ``unblock MEMBER`` make the member wait for the others to be upgraded and undo
  it (``upgradekit.blocked_member``): events a page describes that no command of an operator
  causes.

LXD runs every page and compares every output block. Incus runs every page too, with the
server's own words put in (``lxc`` → ``incus``, ``LXD_DIR`` → ``INCUS_DIR``, ``lxd init`` →
``incus admin init``, ``lab up`` → ``lab up --backend incus``), checking exit codes only: the
output blocks are LXD's.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from applykit import query, wait_for
from labkit import lab_root, new_name, require_backend
from upgradekit import blocked_member
from lxdplan import lab as labapi
import rollkit
from lxdplan.lab import host
from lxdplan.lab.model import bridge_name, namespace_prefix

GUIDE = Path(__file__).parents[2] / "docs" / "guide"
UPDATE = os.environ.get("LXDPLAN_UPDATE_GUIDE") == "1"
CANON_ROOT = "/var/lib/lxdplan/labs"
CANON_NAME = "lab"
CANON_DIR = f"{CANON_ROOT}/{CANON_NAME}"
CANON_SUBNET = "10.120.247."
CANON_WORKDIR = "/root/guide"
CANON_REPO = "/root/lxdplan"  # this checkout (the roll command of page 13 runs from it)
REPO = str(Path(__file__).resolve().parents[2])
_BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
_DIRECTIVE = re.compile(r"<!--\s*guide-run:\s*(.*?)\s*-->")
_EXIT = re.compile(r"\s+#\s*exit\s+(\d+)(?:\s+on\s+(LXD|Incus))?\s*$")  # "on LXD": 0 on the other
_MASKS = [
    (re.compile(r"\bpid \d+"), "pid N"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s)\b"), "N s"),
    (re.compile(r"\b[0-9a-f]{12,}\b"), "HEX"),
    (re.compile(r"\d{4}[-/]\d\d[-/]\d\d([ T]\d\d:\d\d(:\d\d)?(\.\d+)?( ?(UTC|Z|[+-]\d\d:?\d\d))?)?"),
     "DATE"),
    (re.compile(r"/tmp/\S+"), "/tmp/PATH"),
    (re.compile(r"(?<=\S) {2,}"), " "),  # table columns are as wide as what varies in them
]


def mask(line: str) -> str:
    for pattern, token in _MASKS:
        line = pattern.sub(token, line)
    return line.rstrip()


@dataclass
class Command:
    text: str
    code: int
    expected: list[str]
    block: int  # index of its sh block in the page
    only: str | None = None  # the backend the exit code is for ("lxd"); 0 on the other

    def code_on(self, backend: str) -> int:
        return self.code if self.only in (None, backend) else 0


@dataclass
class Page:
    path: Path
    actions: list[tuple[str, object]] = field(default_factory=list)


def parse(path: Path) -> Page:
    text = path.read_text()
    page = Page(path)
    events = [(m.start(), "block", i, m) for i, m in enumerate(_BLOCK.finditer(text))]
    events += [(m.start(), "event", -1, m) for m in _DIRECTIVE.finditer(text)]
    for _pos, what, index, m in sorted(events, key=lambda e: e[0]):
        if what == "event":
            page.actions.append(("event", m.group(1).split()))
            continue
        info, body = m.group(1).split(), m.group(2)
        if info and info[0] == "yaml" and any(w.startswith("file=") for w in info):
            name = next(w for w in info if w.startswith("file="))[5:]
            page.actions.append(("file", (name, body)))
        elif info and info[0] == "sh":
            page.actions.extend(("command", c) for c in _commands(body, index))
    return page


def _commands(body: str, block: int) -> list[Command]:
    found: list[Command] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            command, code = line[2:], 0
            exit_mark = _EXIT.search(command)
            if exit_mark:
                command, code = command[: exit_mark.start()], int(exit_mark.group(1))
            only = exit_mark.group(2).lower() if exit_mark and exit_mark.group(2) else None
            found.append(Command(command, code, [], block, only))
        elif found:
            found[-1].expected.append(line)
    for c in found:
        while c.expected and not c.expected[-1].strip():
            c.expected.pop()
    return found


def settle(lines: list[str]) -> list[str]:
    """Masked lines, each run of apply's progress lines (``start:``/``done:``/``blocked:``) sorted: steps
    that run at the same time report in any order."""
    out: list[str] = []
    run: list[str] = []
    for line in [mask(x) for x in lines] + [""]:
        if line.startswith(("start: ", "done: ", "blocked: ")):
            run.append(line)
            continue
        out += sorted(run) + [line]
        run = []
    return out[:-1]


def matches(expected: list[str], actual: list[str]) -> bool:
    return _matches(settle(expected), settle(actual))


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a ``...`` line matches any run of lines (none included)."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(_matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and _matches(expected[1:], actual[1:])


def rewrite(path: Path, outputs: dict[tuple[int, int], list[str]]) -> None:
    """Put the recorded outputs under their commands in the page's sh blocks."""
    text = path.read_text()

    def block(m: re.Match, counter=iter(range(10**6))) -> str:
        index = next(counter)
        if m.group(1).split()[:1] != ["sh"]:
            return m.group(0)
        lines, n = [], -1
        for line in m.group(2).splitlines():
            if line.startswith("$ "):
                n += 1
                lines.append(line)
                lines.extend(outputs.get((index, n), []))
            elif n < 0 or (index, n) not in outputs:
                lines.append(line)
        return f"```{m.group(1)}\n" + "".join(f"{ln}\n" for ln in lines) + "```"

    path.write_text(_BLOCK.sub(block, text))


class Runner:
    """One shell session on one lab, carried across every page."""

    def __init__(self, backend: str, name: str, workdir: Path, state: Path, events: contextlib.ExitStack):
        self.backend, self.name, self.workdir, self.state, self.events = backend, name, workdir, state, events
        self.root = str(lab_root())
        self.env = {**os.environ, "LXDPLAN_LAB_ROOT": self.root, "LXDPLAN_LAB": name,
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "NO_COLOR": "1"}
        for var in ("LXDPLAN_FILE", "LXD_DIR", "INCUS_DIR"):
            self.env.pop(var, None)
        self.env["RESTART"] = rollkit.prefix_of(self.root, name)  # roll --run "$RESTART {member}" (page 13)
        self.blocked: dict[str, contextlib.ExitStack] = {}

    def lab(self):
        found = labapi.find(self.name, self.root)
        assert found is not None, "the guide's first page must start the lab (lxdplan lab up)"
        return found

    def _pairs(self) -> list[tuple[str, str]]:
        """(canonical, actual) pairs, longest canonical first."""
        pairs = [(CANON_DIR, f"{self.root}/{self.name}"), (CANON_ROOT, self.root),
                 (CANON_WORKDIR, str(self.workdir)), (CANON_REPO, REPO),
                 (namespace_prefix(CANON_NAME), namespace_prefix(self.name))]
        found = labapi.find(self.name, self.root)
        if found is not None:
            pairs.append((CANON_SUBNET, found.subnet.rsplit(".", 1)[0] + "."))
        return pairs

    def to_actual(self, text: str) -> str:
        for canon, actual in self._pairs():
            text = re.sub(rf"(?<![\w.]){re.escape(canon)}", actual.replace("\\", "\\\\"), text)
        if self.backend == "incus":
            for lxd, incus in (("lxd init", "incus admin init"), ("LXD_DIR", "INCUS_DIR"),
                               ("lab up", "lab up --backend incus")):
                text = text.replace(lxd, incus)
            text = re.sub(r"(?<![\w-])lxc ", "incus ", text)
        return text

    def to_canonical(self, text: str) -> str:
        pairs = self._pairs() + [(bridge_name(CANON_NAME), bridge_name(self.name)),
                                 (CANON_NAME, self.name)]
        for canon, actual in sorted(pairs, key=lambda p: -len(p[1])):
            if actual.endswith("."):
                text = re.sub(rf"(?<![\d.]){re.escape(actual)}", canon, text)
            else:
                text = text.replace(actual, canon)
        return text

    def file(self, name: str, text: str) -> None:
        (self.workdir / name).write_text(self.to_actual(text))

    def event(self, verb: str, *args: str) -> None:
        lab = self.lab()
        if verb == "kill":
            member = next(m for m in lab.members if m.name == args[0])
            os.kill(member.pid, signal.SIGKILL)
            host.wait_gone([member.pid], 30)
        elif verb == "wait":
            def settled() -> bool:
                statuses = {m["server_name"]: m["status"]
                            for m in query(lab, "/1.0/cluster/members?recursion=1")}
                return statuses.get(args[0]) == args[1] and all(
                    status == "Online" for name, status in statuses.items() if name != args[0])
            wait_for(settled, f"{args[0]} to be {args[1]} and the other members Online",
                     timeout=120)
        elif verb == "block":
            self.blocked[args[0]] = stack = self.events.enter_context(contextlib.ExitStack())
            stack.enter_context(blocked_member(lab, args[0]))
        elif verb == "unblock":
            self.blocked.pop(args[0]).close()
        else:
            raise AssertionError(f"unknown guide-run verb {verb}")

    def command(self, command: str) -> tuple[int, list[str]]:
        script = ('[ -f "$2" ] && . "$2"; cd "${GUIDE_PWD:-$3}"; eval "$1"; rc=$?; '
                  '{ export -p; echo "GUIDE_PWD=$(printf %q "$PWD")"; } > "$2"; exit $rc')
        argv = ["bash", "-c", script, "guide", self.to_actual(command), str(self.state), str(self.workdir)]
        done = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, text=True, timeout=600)
        shown = [line.rstrip() for line in self.to_canonical(done.stdout).splitlines()]
        while shown and not shown[-1]:
            shown.pop()
        return done.returncode, shown


def pages() -> list[Path]:
    return sorted(GUIDE.glob("[0-9][0-9]-*.md"))


def test_every_page_has_commands():
    assert pages(), "docs/guide/ has no page"
    for path in pages():
        assert any(kind == "command" for kind, _ in parse(path).actions), f"{path.name} runs nothing"


@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_the_guide_runs_as_written(backend, tmp_path):
    require_backend(backend)
    name = new_name(f"guide-{backend}")
    workdir, state = tmp_path / "guide", tmp_path / "shell-state"
    workdir.mkdir()
    compare = backend == "lxd"
    try:
        with contextlib.ExitStack() as events:  # undoes a block left by a failing page
            runner = Runner(backend, name, workdir, state, events)
            for path in pages():
                outputs: dict[tuple[int, int], list[str]] = {}
                counts: dict[int, int] = {}
                try:
                    for kind, action in parse(path).actions:
                        if kind == "file":
                            runner.file(*action)
                        elif kind == "event":
                            runner.event(*action)
                        else:
                            n = counts[action.block] = counts.get(action.block, -1) + 1
                            code, shown = runner.command(action.text)
                            # an output that still matches stays as it is: regenerating
                            # changes only what changed, not every pid and duration
                            outputs[(action.block, n)] = (action.expected if matches(action.expected, shown)
                                                          else shown)
                            where = f"{path.name}: `{action.text}`"
                            printed = "\n".join(shown)
                            assert "Traceback" not in printed, f"{where}:\n{printed}"
                            want = action.code_on(backend)
                            assert code == want, f"{where} exited {code}, not {want}:\n{printed}"
                            if compare and not UPDATE:
                                assert matches(action.expected, shown), (
                                    f"{where} printed (masked) something else than the page shows "
                                    f"(regenerate with LXDPLAN_UPDATE_GUIDE=1):\n"
                                    + "\n".join(mask(x) for x in shown) + "\n--- the page:\n"
                                    + "\n".join(mask(x) for x in action.expected))
                finally:
                    if compare and UPDATE:
                        rewrite(path, outputs)
    finally:
        labapi.down(name, root=lab_root(), missing_ok=True)
