"""`lxdplan apply`: carry out the plan, with confirmation, progress and a summary."""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from typing import Iterator, List, Optional

import typer

from lxdplan.cli.app import (
    DEBUG_OPTION,
    FORCE_REMOVE_OPTION,
    RESTORE_OPTION,
    ROTATE_OPTION,
    VERSION_OPTION,
    app,
)
from lxdplan.cli.common import fail, load_or_exit, restoring, rotating
from lxdplan.cli.output import error, note, out, plural, warn
from lxdplan.cli.progress import Progress
from lxdplan.errors import LxdplanError

PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted: "


def confirm_on_terminal(auto_approve: bool, *, reviewed: bool = False):
    """The confirmation callback. ``reviewed``: the plan comes from a saved plan (``apply PLAN``),
    which was reviewed when it was made and matches the cluster (else it is stale): its steps
    run without asking, as Terraform does. Steps it did not have (planned again once a declared
    trust was redeemed) are asked for as usual."""
    answered: list = []

    def confirm(plan) -> bool:
        if auto_approve:
            return True
        if reviewed and not answered:
            answered.append(plan)
            return True
        if not sys.stdin.isatty():
            raise LxdplanError(
                "apply asks for confirmation and there is no terminal to ask on: save the plan "
                "with `lxdplan plan --out PLAN`, review it and run `lxdplan apply PLAN` (it runs "
                "as reviewed, or not at all), or run `lxdplan apply --auto-approve`"
            )
        return input(PROMPT).strip() == "yes"

    return confirm


def _same_file(a: str, b: str) -> bool:
    import os

    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


@app.command()
def apply(
    plan_file: Optional[str] = typer.Argument(None, metavar="[PLAN]", help="A plan saved with `plan --out`."),
    file: Optional[str] = typer.Option(
        None, "--file", "-f", envvar="LXDPLAN_FILE",
        help="The desired-state file (default lxdplan.yaml, or $LXDPLAN_FILE).",
    ),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    force_remove: List[str] = FORCE_REMOVE_OPTION,
    rotate: List[str] = ROTATE_OPTION,
    restore: List[str] = RESTORE_OPTION,
    break_lock: bool = typer.Option(
        False, "--break-lock", help="Take the cluster lock even if another apply holds it (a dead one)."
    ),
    _version: bool = VERSION_OPTION,
    _debug_log: bool = DEBUG_OPTION,
) -> None:
    """Carry out the steps that make the cluster match the file (or a saved plan)."""
    saved_digest = None
    if plan_file is not None:
        file, saved_digest, carried, carried_rotate, carried_restore = _saved_plan(plan_file, file)
        force_remove = list(force_remove) + carried
        rotate = list(dict.fromkeys([*rotate, *carried_rotate]))
        restore = list(dict.fromkeys([*restore, *carried_restore]))
    file = file or "lxdplan.yaml"
    desired = restoring(rotating(load_or_exit(file), rotate, file), restore)
    result = _run(file, desired, force_remove=force_remove, saved_digest=saved_digest,
                  auto_approve=auto_approve, break_lock=break_lock)
    _report(result)


def _saved_plan(plan_file: str, file: Optional[str]) -> tuple[str, str, list[str], list[str], list[str]]:
    """(the file the saved plan was made from, its observed digest, the force-removes it
    carries: a plan made with --force-remove allows them when applied, its --rotate keys, and
    its --restore targets, read from its restore steps);
    exits when the plan cannot be read, names another file, or its file changed since."""
    from lxdplan.kinds.snapshot import Restore
    from lxdplan.membership import FORCE_REMOVE
    from lxdplan.state.saved import load_plan
    from lxdplan.workflow import file_digest

    try:
        saved = load_plan(plan_file)
    except LxdplanError as exc:
        raise fail(exc)
    if file is not None and not _same_file(file, saved.desired_path):
        error(f"{plan_file} was made from {saved.desired_path}, not {file}: pass the plan "
              f"alone, or with -f {saved.desired_path}")
        raise typer.Exit(1)
    file = file or saved.desired_path
    try:
        if file_digest(file) != saved.desired_sha256:
            error(f"saved plan is stale: {file} changed since {plan_file} was made; run plan again")
            raise typer.Exit(1)
    except OSError as exc:
        error(f"{file}, which {plan_file} was made from, cannot be read: {exc.strerror}")
        raise typer.Exit(1)
    carried = [s.name for s in saved.plan.steps if s.action == FORCE_REMOVE]
    restores = [s.payload.target for s in saved.plan.steps if isinstance(s.payload, Restore)]
    return file, saved.observed_digest, carried, list(saved.rotate), restores


def _run(file: str, desired, *, force_remove, saved_digest, auto_approve: bool, break_lock: bool):
    """Plan, show, confirm and execute (``workflow.run_apply``) with progress; a failure, a
    refusal or a user error ends in its sentences and exit 1."""
    from lxdplan.cli.plan import Format, render
    from lxdplan.executor import ApplyFailed
    from lxdplan.interrupt import Interrupted, Stop
    from lxdplan.workflow import NotConfirmed, run_apply

    shown: list = []
    stop = Stop()

    def show_plan(plan) -> None:
        shown.append(plan)
        if plan.changes:
            out(render(plan, Format.text))

    def trusted(names, plan) -> None:
        if names:
            out(f"lxdplan's client certificate is now trusted by {', '.join(names)} (the trust "
                f"declared in {file}); planned again with what they show.")
        if [s.id for s in plan.steps] != [s.id for s in shown[-1].steps]:
            show_plan(plan)

    try:
        with Progress() as progress, _signals(stop):
            result = run_apply(
                desired,
                force_remove=force_remove,
                saved_digest=saved_digest,
                confirm=confirm_on_terminal(auto_approve, reviewed=saved_digest is not None),
                on_plan=show_plan,
                on_event=progress,
                on_trusted=trusted,
                on_note=progress.note,
                break_lock=break_lock,
                stop=stop,
            )
        stop.check()  # a signal while the locks were released: the apply did finish, but say so
        return result
    except Interrupted as exc:
        error(str(exc))
        for sentence in getattr(exc, "__notes__", ()):
            warn(sentence)
        raise typer.Exit(exc.exit_code)
    except NotConfirmed as exc:
        out(str(exc))
        for sentence in getattr(exc, "__notes__", ()):
            warn(sentence)
        raise typer.Exit(1)
    except ApplyFailed as exc:
        # Every failure on its own line (the file and line of its object, step, member, LXD's
        # words), then what completed, what was not run because it waits for a failure, and
        # what to do.
        from lxdplan.origin import origin

        for sentence in exc.sentences(lambda step: origin(desired, step)):
            error(sentence)
        note(exc.summary)
        for sentence in getattr(exc, "__notes__", ()):  # e.g. a lock that could not be released
            warn(sentence)
        if stop.signum is not None:
            error(str(Interrupted(stop.signum)))
            raise typer.Exit(128 + stop.signum)
        raise typer.Exit(1)
    except LxdplanError as exc:
        failed = fail(exc)
        # e.g. the lock refused while a signal was handled: still the signal's exit code
        raise typer.Exit(128 + stop.signum) if stop.signum is not None else failed


@contextmanager
def _signals(stop) -> Iterator[None]:
    """SIGINT and SIGTERM stop the apply the same way (``lxdplan.interrupt``): at once while
    nothing changes, else after the running steps, with the locks released; a second signal
    only says what is still being waited for."""
    def announce(first: bool, shielded: bool) -> None:
        if first and shielded:
            warn("interrupted: no further step is started; lxdplan finishes the running "
                 "step(s), releases the cluster lock and exits")
        elif not first:
            warn("still finishing the running step(s) and releasing the locks: leaving now "
                 "would leave a step half-done and the cluster locked")

    def handler(signum, _frame) -> None:
        stop.request(signum, announce)

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def _report(result) -> None:
    """The warnings and the summary of a finished apply; exit 1 when steps stayed blocked."""
    from lxdplan.executor import Outcome

    for sentence in result.warnings:
        warn(sentence)
    if not result.plan.changes:
        out("No changes. The cluster matches the file.")
        return
    counts = {o: sum(1 for r in result.results if r.outcome == o) for o in Outcome}
    summary = (
        f"Apply complete: {plural(counts[Outcome.DONE], 'step')} done, "
        f"{counts[Outcome.SKIPPED]} already done, {counts[Outcome.BLOCKED]} blocked."
    )
    if counts[Outcome.BLOCKED]:
        error(summary + " Blocked steps wait for the reason shown; run apply again once it is resolved.")
        raise typer.Exit(1)
    out(summary)
