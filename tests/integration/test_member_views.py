"""Every member shows the cluster-wide config the file declares, read through its own socket as
LXD's own test suite does (issue 16 item 1): LXD 5.0.2 keeps each member's view in memory and a
member that joins after the keys were written does not load them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from applykit import apply_ok, assert_converged, cli, query, write
from labkit import BACKENDS

WIDE = {"cluster.offline_threshold": "11", "images.auto_update_interval": "15"}


def views(lab) -> dict[str, dict[str, str]]:
    """Each member's own view of the declared keys, through its own unix socket."""
    return {m.name: {k: v for k, v in query(lab, "/1.0", member=i)["config"].items() if k in WIDE}
            for i, m in enumerate(lab.members)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_member_shows_the_cluster_wide_config_after_its_join_and_a_stale_view_is_repaired(
        backend, make_lab, tmp_path):
    lab = make_lab(backend)
    doc = yaml.safe_load(Path(lab.file).read_text())
    doc.pop("images", None)
    doc["cluster"]["config"] = dict(WIDE)
    full = copy.deepcopy(doc)

    # node1 and node2: bootstrap, the keys, node2's join; then both show the keys.
    doc["cluster"]["members"] = full["cluster"]["members"][:2]
    path = write(doc, tmp_path / "lxdplan.yaml")
    apply_ok(path)
    seen = views(lab)
    assert seen["node1"] == WIDE and seen["node2"] == WIDE, seen

    # node3 joins through a file that declares no server keys (as a cluster grown by hand):
    # on LXD 5.0.2 it then lacks them in its own view.
    bare = copy.deepcopy(full)
    bare["cluster"].pop("config")
    apply_ok(write(bare, Path(path)))
    stale = views(lab)["node3"]
    assert stale == ({} if backend == "lxd" else WIDE), stale

    # The file with the keys: plan names node3 (LXD), apply makes every member show them.
    plan = cli("plan", "-f", write(full, Path(path)), "--detailed-exitcode")
    if backend == "lxd":
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "node3 shows cluster-wide config that differs from the file" in plan.stdout
        apply_ok(path)
    else:
        assert plan.returncode == 0, plan.stdout + plan.stderr
    assert views(lab) == {m.name: WIDE for m in lab.members}
    assert_converged(path)
