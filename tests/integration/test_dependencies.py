"""References between objects and failures that do not stop the rest, on real LXD and Incus.

One 2-member lab per backend (module scope), scenarios in file order:
- a project whose ``restricted.networks.*`` keys name a network, both new in one file (the
  cluster is formed by the same apply): one apply brings both up, and the plan is then empty;
- a pool whose source cannot work fails its instantiate: the profile and project beside it are
  applied all the same, the profile that uses the pool is not run, the failure is named, exit 1;
  once the source is fixed the next apply finishes the job; it takes ``applied``, which applies
  the current document first (a no-op in file order), so it also runs alone with ``-k``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from applykit import apply_ok, assert_converged, cli, line_of, one_error, query, write
from labkit import BACKENDS, start_lab

SUBNET = "192.0.2.0/24"  # TEST-NET-1: routed to the uplink, handed to the project


class Deps:
    def __init__(self, lab, workdir: Path):
        self.lab, self.workdir = lab, workdir
        self.path = str(workdir / "lxdplan.yaml")
        a, b, c, _d = lab.lxdbr0_address.split(".")
        peer = f"{a}.{int(b) + 2 if int(b) < 250 else 5}.{c}.1/24"
        self.doc = {
            "version": 1, "backend": lab.backend,
            "cluster": {"members": [{"name": m.name, "address": m.address, "endpoint": m.endpoint}
                                    for m in lab.members]},
            # The project is declared before the network it names: order comes from references.
            "projects": [{"name": "tenant", "description": "uses peerup as its uplink", "config": {
                "restricted.networks.uplinks": "peerup",
                "restricted.networks.subnets": f"peerup:{SUBNET}"}}],
            "networks": [{"name": "peerup", "type": "bridge", "config": {
                "ipv4.address": peer, "ipv4.nat": False, "ipv6.address": "none",
                "ipv4.routes": SUBNET}}],
        }

    def write(self, doc: dict) -> str:
        self.doc = doc
        return write(doc, Path(self.path))


@pytest.fixture(scope="module", params=BACKENDS)
def deps(request, tmp_path_factory):
    from labkit import lab_root
    from lxdplan import lab as labapi

    lab = start_lab(request.param, f"dep-{request.param}", 2)
    try:
        yield Deps(lab, tmp_path_factory.mktemp(f"dep-{request.param}"))
    finally:
        labapi.down(lab.name, root=lab_root(), missing_ok=True)


@pytest.fixture
def applied(deps):
    """The cluster, project and network as the first test leaves them, reached here when it did
    not run (``-k``): the current document is applied. Apply is level-based: in file order the
    cluster already matches it and nothing changes."""
    apply_ok(deps.write(deps.doc))
    return deps


def test_project_and_the_network_it_names_come_up_in_one_apply(deps):
    path = deps.write(deps.doc)
    plan = cli("plan", "-f", path)
    assert plan.returncode == 0, plan.stderr
    out = apply_ok(path)
    assert out.index('done: instantiate network "peerup"') < out.index('done: create project "tenant"')
    assert_converged(path)
    project = query(deps.lab, "/1.0/projects/tenant")
    assert project["config"]["restricted.networks.uplinks"] == "peerup"
    assert project["config"]["restricted.networks.subnets"] == f"peerup:{SUBNET}"
    for m in deps.lab.members:
        assert query(deps.lab, f"/1.0/networks/peerup?target={m.name}")["status"] == "Created"


@pytest.mark.usefixtures("applied")
def test_a_failed_step_leaves_its_independent_siblings_applied(deps):
    doc = copy.deepcopy(deps.doc)
    good = deps.workdir / "bad-n1"
    good.mkdir()
    broken = deps.workdir / "bad-n2"  # LXD wants it to exist, Incus wants it empty
    if deps.lab.backend == "incus":
        broken.mkdir()
        (broken / "left-over").write_text("x")
    refusal = "isn't empty" if deps.lab.backend == "incus" else "doesn't exist"
    doc["storage_pools"] = [{"name": "bad", "driver": "dir", "members": {
        "node1": {"source": str(good)}, "node2": {"source": str(broken)}}}]
    doc["projects"].append({"name": "sibling", "description": "independent of the pool"})
    doc["profiles"] = [
        {"name": "sibling", "description": "independent of the pool", "config": {"limits.cpu": 1}},
        {"name": "uses-bad", "devices": {"root": {"type": "disk", "path": "/", "pool": "bad"}}},
    ]
    failed = cli("apply", "-f", deps.write(doc), "--auto-approve")
    message = one_error(failed)
    path = deps.path
    assert message.startswith(f"{path}:{line_of(path, 'name: bad')}: step storage_pool/bad/instantiate "
                              f"(instantiate) failed: storage pool bad could not be created on node2 ")
    assert f"Source path '{broken}' {refusal}" in message
    assert ('not run: create profile "uses-bad": waits for storage_pool/bad/instantiate, which '
            'failed') in failed.stdout
    summary = failed.stderr.splitlines()[-1]
    assert summary.startswith("4 step(s) completed (") and summary.endswith(
        "; 1 step(s) not run because they wait for a failed step (create profile uses-bad); "
        "fix the cause and run apply again"), failed.stderr
    assert "resumes from" not in failed.stderr
    # the siblings were applied although they come after the failure in the plan
    assert query(deps.lab, "/1.0/profiles/sibling")["config"]["limits.cpu"] == "1"
    assert query(deps.lab, "/1.0/projects/sibling")["description"] == "independent of the pool"
    profiles = [p.rsplit("/", 1)[-1] for p in query(deps.lab, "/1.0/profiles")]
    assert "uses-bad" not in profiles
    assert query(deps.lab, "/1.0/storage-pools/bad")["status"] == "Errored"

    if deps.lab.backend == "incus":
        (broken / "left-over").unlink()
    else:
        broken.mkdir()
    apply_ok(deps.path)  # the retry completes the pool, then the profile that uses it
    assert query(deps.lab, "/1.0/profiles/uses-bad")["devices"]["root"]["pool"] == "bad"
    assert_converged(deps.path)
