"""`lxdplan export`: write the live cluster as a desired-state file."""

from __future__ import annotations

from typing import Optional

import typer

from lxdplan.cli.app import DEBUG_OPTION, VERSION_OPTION, app
from lxdplan.cli.common import fail, load_or_exit
from lxdplan.cli.output import error, out
from lxdplan.desired import Desired, Member
from lxdplan.errors import LxdplanError


@app.command()
def export(
    endpoint: Optional[str] = typer.Option(
        None, "--endpoint",
        help="A member to read the cluster through (https://HOST:PORT, unix:///PATH or remote:NAME, "
             "a remote of the lxc/incus client configuration).",
    ),
    file: Optional[str] = typer.Option(
        None, "--file", "-f",
        help="Reach the members as this desired-state file declares them, keep its member order "
             "and its images' sources (default lxdplan.yaml, or $LXDPLAN_FILE, unless --endpoint "
             "is given).",
    ),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    fingerprint: Optional[str] = typer.Option(None, "--fingerprint", help="Pin of --endpoint's certificate."),
    _version: bool = VERSION_OPTION,
    _debug_log: bool = DEBUG_OPTION,
) -> None:
    """Write the live cluster as a desired-state file, member-specific keys included."""
    import os

    from lxdplan.exporter import export_document, render
    from lxdplan.files import write_private
    from lxdplan.providers.observe import observe
    from lxdplan.sensitive import file_references

    if endpoint is not None and file is not None:
        error("export needs exactly one of --endpoint URL or -f FILE to know where the cluster is")
        raise typer.Exit(1)
    if endpoint is None:  # like every other command: the default file
        file = file or os.environ.get("LXDPLAN_FILE") or "lxdplan.yaml"
    if file is not None:
        desired = load_or_exit(file, quiet_warnings=True)
    else:
        assert endpoint is not None  # one of the two is given (checked above)
        if not endpoint.startswith(("https://", "unix://", "remote:")):
            error(f"--endpoint {endpoint} must start with https://, unix:// or remote:")
            raise typer.Exit(1)
        address = endpoint.removeprefix("https://") if endpoint.startswith("https://") else "127.0.0.1:8443"
        if endpoint.startswith("remote:"):  # its URL: the pin store's scope of that cluster
            from lxdplan.providers.remotes import resolve

            try:
                address = resolve(endpoint, member="(endpoint)", backend=None,
                                  pinned=bool(fingerprint)).url.removeprefix("https://")
            except LxdplanError as exc:
                raise fail(exc)
        from lxdplan.registry import sections

        desired = Desired(path="(--endpoint)", sections=sections(), members=(
            Member(name="(endpoint)", address=address, endpoint=endpoint,
                   fingerprint=fingerprint.replace(":", "").lower() if fingerprint else None),
        ))
    try:
        observed = observe(desired)
    except LxdplanError as exc:
        raise fail(exc)
    if not observed.clustered:
        reasons = "; ".join(a.error for a in observed.standalone.values() if a.error)
        error("no clustered member could be read" + (f": {reasons}" if reasons else ""))
        raise typer.Exit(1)
    endpoints = {m.name: m.endpoint for m in desired.members}
    secrets = file_references(desired) if file is not None else None
    doc = export_document(observed, endpoints, secrets, desired=desired if file is not None else None,
                          out_dir=os.path.dirname(os.path.abspath(output)) if output else os.getcwd())
    text = render(doc)
    if output:
        try:
            write_private(output, text, what="the exported file")
        except LxdplanError as exc:
            raise fail(exc)
        out(f"Wrote {output} ({len(observed.members)} members, mode 0600).")
    else:
        out(text.rstrip("\n"))
