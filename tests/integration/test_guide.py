"""docs/guide/ cannot go stale: every page's files and commands run, in order, on a real lab.

A page is Markdown. What the harness runs:

- ```` ```yaml file=NAME ```` blocks are written to NAME in the page's working directory, fitted
  to the lab first: each declared member's host (in any value, e.g. ``core.https_address``)
  becomes that lab member's IP, then ``lxdplan lab up --from`` fitting (endpoints, dir sources,
  uplink interfaces) applies.
- ```` ```sh ```` blocks: each line starting with ``$ `` is a command, run with bash in that
  directory (``lxc`` talks to the first member; on Incus ``lxc`` is read as ``incus``). A trailing
  ``# exit N`` says the exit code the command must give (default 0). The lines after a command,
  up to the next ``$``, are fragments its output must contain (``...`` lines are skipped).
- ``<!-- guide: members=N backends=lxd,incus image-server=yes -->`` (once, first) sets up the
  lab (``image-server=yes``: with ``lxdplan lab up --image-server``);
  ``<!-- guide-run: kill MEMBER -->`` stops a member's daemon at once (SIGKILL), and
  ``<!-- guide-run: wait MEMBER STATUS -->`` waits until the cluster lists it with that status,
  ``<!-- guide-run: block MEMBER -->`` / ``unblock MEMBER`` make the member wait for the others
  to be upgraded and undo it (``upgradekit.blocked_member``): the events a page describes, which
  an operator would not cause with a command.
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
import yaml

from applykit import member_status, wait_for
from labkit import require_backend
from upgradekit import blocked_member
import rollkit
from lxdplan.lab import host
from lxdplan.lab.labfile import from_template, prepare_host

GUIDE = Path(__file__).parents[2] / "docs" / "guide"
_BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.S | re.M)
_DIRECTIVE = re.compile(r"<!--\s*(guide|guide-run):\s*(.*?)\s*-->")


@dataclass
class Page:
    path: Path
    members: int = 3
    backends: tuple[str, ...] = ("lxd",)
    image_server: bool = False
    actions: list[tuple[str, object]] = field(default_factory=list)


def parse(path: Path) -> Page:
    text = path.read_text()
    page = Page(path)
    events = [(m.start(), "block", m) for m in _BLOCK.finditer(text)]
    events += [(m.start(), "directive", m) for m in _DIRECTIVE.finditer(text)]
    for _pos, what, m in sorted(events, key=lambda e: e[0]):
        if what == "directive":
            if m.group(1) == "guide":
                opts = dict(word.split("=", 1) for word in m.group(2).split())
                page.members = int(opts.get("members", page.members))
                page.backends = tuple(opts.get("backends", "lxd").split(","))
                page.image_server = opts.get("image-server") == "yes"
            else:
                page.actions.append(("event", m.group(2).split()))
            continue
        info, body = m.group(1).split(), m.group(2)
        if info and info[0] == "yaml" and any(w.startswith("file=") for w in info):
            name = next(w for w in info if w.startswith("file="))[5:]
            page.actions.append(("file", (name, body)))
        elif info and info[0] == "sh":
            page.actions.extend(("command", c) for c in _commands(body))
    return page


def _commands(body: str) -> list[tuple[str, int, list[str]]]:
    found: list[tuple[str, int, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            command, code = line[2:], 0
            exit_mark = re.search(r"\s+#\s*exit\s+(\d+)\s*$", command)
            if exit_mark:
                command, code = command[: exit_mark.start()], int(exit_mark.group(1))
            found.append((command, code, []))
        elif found and line.strip() and line.strip() != "...":
            found[-1][2].append(line.strip())
    return found


def pages() -> list[pytest.param]:
    params = []
    for path in sorted(GUIDE.glob("*.md")):
        page = parse(path)
        if not page.actions:
            continue
        params += [pytest.param(path, b, id=f"{path.stem}-{b}") for b in page.backends]
    return params


def fit(lab, text: str) -> dict:
    doc = yaml.safe_load(text)
    members = (doc.get("cluster") or {}).get("members") or []
    for member, live in zip(members, lab.members):
        old = member["address"].rsplit(":", 1)[0]
        text = re.sub(rf"(?<![\d.]){re.escape(old)}(?![\d])", live.ip, text)
    return from_template(lab, yaml.safe_load(text))


def test_every_page_runs():
    assert pages(), "docs/guide/ has no runnable page"


class Runner:
    """Carries out one page's actions on its lab, in order."""

    def __init__(self, path: Path, backend: str, lab, workdir: Path, events: contextlib.ExitStack):
        self.path, self.backend, self.lab, self.workdir, self.events = path, backend, lab, workdir, events
        client_dir = {"LXD_DIR" if backend == "lxd" else "INCUS_DIR": lab.members[0].daemon_dir}
        self.env = {**os.environ, **client_dir,
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        self.env.pop("LXDPLAN_FILE", None)
        self.env["RESTART"] = rollkit.prefix(lab)  # `roll --run "$RESTART {member}"` (page 13)
        self.members = {m.name: m for m in lab.members}
        self.blocked: dict[str, contextlib.ExitStack] = {}

    def file(self, name: str, text: str) -> None:
        doc = fit(self.lab, text)
        prepare_host(self.lab, doc)
        (self.workdir / name).write_text(yaml.safe_dump(doc, sort_keys=False))

    def event(self, verb: str, *args: str) -> None:
        if verb == "kill":
            member = self.members[args[0]]
            os.kill(member.pid, signal.SIGKILL)
            host.wait_gone([member.pid], 30)
        elif verb == "wait":
            wait_for(lambda: member_status(self.lab, args[0]) == args[1],
                     f"{args[0]} to be {args[1]}", timeout=120)
        elif verb == "block":
            self.blocked[args[0]] = stack = self.events.enter_context(contextlib.ExitStack())
            stack.enter_context(blocked_member(self.lab, args[0]))
        elif verb == "unblock":
            self.blocked.pop(args[0]).close()
        else:
            raise AssertionError(f"{self.path.name}: unknown guide-run verb {verb}")

    def command(self, command: str, code: int, expected: list[str]) -> None:
        if self.backend == "incus" and command.startswith("lxc "):
            command = "incus " + command[4:]
        done = subprocess.run(["bash", "-c", command], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
        shown = done.stdout + done.stderr
        assert done.returncode == code, f"{self.path.name}: `{command}` exited {done.returncode}:\n{shown}"
        assert "Traceback" not in shown, shown
        for fragment in expected:
            assert fragment in shown, f"{self.path.name}: `{command}` did not print {fragment!r}:\n{shown}"


@pytest.mark.parametrize("path,backend", pages())
def test_guide_page(path, backend, make_lab, tmp_path):
    require_backend(backend)
    page = parse(path)
    lab = make_lab(backend, members=page.members, image_server=page.image_server)
    with contextlib.ExitStack() as events:  # undoes a block left by a failing page
        runner = Runner(path, backend, lab, tmp_path, events)
        for kind, action in page.actions:
            if kind == "file":
                runner.file(*action)
            elif kind == "event":
                runner.event(*action)
            else:
                runner.command(*action)
