"""Start-up (issue 22): `lxdplan --version` answers without loading the command layer, with the
same line typer prints for `lxdplan COMMAND --version`."""

from __future__ import annotations

import subprocess
import sys

from lxdplan import __version__


def _run(code: str, *argv: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          check=True)
    return done.stdout.splitlines()


def test_version_does_not_import_typer():
    lines = _run("import sys; sys.argv[0] = 'lxdplan'; from lxdplan.entry import main; main(); "
                 "print('typer' in sys.modules)", "--version")
    assert lines == [f"lxdplan {__version__}", "False"]


def test_version_line_equals_the_commands_own():
    fast = _run("import sys; sys.argv[0] = 'lxdplan'; from lxdplan.entry import main; main()",
                "--version")
    slow = _run("import sys; sys.argv[0] = 'lxdplan'; from lxdplan.entry import main; main()",
                "plan", "--version")
    assert fast == slow == [f"lxdplan {__version__}"]
