"""Mistakes caught before apply (issue 19): drivers and network types no server has, config keys
the servers do not document, a mistyped member name, an immutable key's line, and a refused
step's place in the file."""

from __future__ import annotations

import textwrap

import pytest

from lxdplan.errors import ApiError, PlanError, ValidationError
from lxdplan.executor import ApplyFailed, execute
from lxdplan.loader import load_text
from lxdplan.origin import origin
from lxdplan import membership
from lxdplan.plan import Action, Kind, Step
from lxdplan.planner import plan
from plan_helpers import cluster, live_pool

HEAD = """\
version: 1
{backend}cluster:
  members:
    - {{name: node1, address: "10.9.0.1:8443"}}
    - {{name: node2, address: "10.9.0.2:8443"}}
    - {{name: node3, address: "10.9.0.3:8443"}}
"""


def _doc(body: str, backend: str | None = None) -> str:
    return HEAD.format(backend=f"backend: {backend}\n" if backend else "") + textwrap.dedent(body)


def _errors(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ValidationError) as caught:
        load_text(text)
    return [(d.line, d.message) for d in caught.value.diagnostics if d.severity == "error"]


def _warnings(text: str) -> list[tuple[int | None, str]]:
    _, warnings = load_text(text)
    return [(d.line, d.message) for d in warnings if "does not know" in d.message]


# -- drivers and network types ---------------------------------------------------------------------


@pytest.mark.parametrize("driver, meant", [("btrfss", "btrfs"), ("dirr", "dir")])
def test_a_mistyped_driver_is_an_error_at_its_line_with_the_driver_meant(driver, meant):
    text = _doc(f"""\
        storage_pools:
          - name: data
            driver: {driver}
        """)
    (line, message), = _errors(text)
    assert line == 9
    assert f'storage_pools[0].driver "{driver}" is not a storage driver of LXD or Incus' in message
    assert f'did you mean "{meant}"?' in message
    assert "LXD's: dir, btrfs" in message and "Incus's: dir, btrfs" in message  # both named


def test_a_mistyped_network_type_is_an_error_naming_the_backend_declared():
    text = _doc("""\
        networks:
          - name: br0
            type: bridg
        """, "lxd")
    (line, message), = _errors(text)
    assert line == 10
    assert 'networks[0].type "bridg" is not a network type of LXD; did you mean "bridge"?' in message
    assert "Incus" not in message


def test_a_driver_of_the_other_backend_is_refused_only_when_the_backend_is_declared():
    body = """\
        storage_pools:
          - {name: shared, driver: lvmcluster}
        """
    assert load_text(_doc(body))[0].storage_pools[0].driver == "lvmcluster"  # Incus has it
    (_, message), = _errors(_doc(body, "lxd"))
    assert '"lvmcluster" is not a storage driver of LXD' in message
    assert "it is Incus's; the file says backend: lxd" in message


# -- config keys the servers do not know ---------------------------------------------------------


def test_a_mistyped_config_key_warns_at_its_line_with_the_key_meant():
    text = _doc("""\
        networks:
          - name: br0
            config:
              ipv4.adress: 10.1.0.1/24
        storage_pools:
          - name: data
            driver: dir
            config: {volume.sise: 1GiB}
        profiles:
          - name: default
            config: {limits.memroy: 1GiB}
        projects:
          - {name: staging, config: {features.image: "false"}}
        """)
    found = dict(_warnings(text))
    assert 'did you mean "ipv4.address"?' in found[10]
    assert found[10].startswith('networks[0].config["ipv4.adress"]: neither LXD nor Incus knows the key '
                                '"ipv4.adress" for bridge networks')
    assert 'did you mean "volume.size"?' in found[14]
    assert 'did you mean "limits.memory"?' in found[17]
    assert 'did you mean "features.images"?' in found[19]


def test_server_keys_are_checked_for_the_backend_declared():
    text = _doc("").replace("cluster:\n", 'cluster:\n  config: {images.auto_update_intervall: "15"}\n')
    text = text.replace("version: 1\n", "version: 1\nbackend: incus\n")
    (line, message), = _warnings(text)
    assert line == 4
    assert 'Incus does not know the key "images.auto_update_intervall" for server config' in message
    assert 'did you mean "images.auto_update_interval"?' in message


def test_documented_keys_user_keys_and_keys_with_dynamic_parts_do_not_warn():
    text = _doc("""\
        networks:
          - name: br0
            config:
              ipv4.address: 10.1.0.1/24
              user.anything.at.all: x
              bgp.peers.upstream.address: 192.0.2.1
              bgp.peers.upstream.asn: "65000"
        storage_pools:
          - name: data
            driver: zfs
            config: {volume.size: 10GiB, volume.zfs.remove_snapshots: "true", volume.user.x: y}
            members:
              node1: {source: /dev/vdb1, zfs.pool_name: tank}
        profiles:
          - name: default
            config: {environment.HTTP_PROXY: "http://proxy", limits.kernel.nofile: "1024",
                     linux.sysctl.net.ipv4.ip_forward: "1", security.nesting: "true"}
        """)
    assert _warnings(text) == []


# -- member names ------------------------------------------------------------------------------------


def test_a_mistyped_member_under_members_gets_the_member_meant():
    text = _doc("""\
        storage_pools:
          - name: data
            driver: dir
            members:
              nod2: {source: /srv/data}
        """)
    (line, message), = _errors(text)
    assert line == 11
    assert message == ('storage_pools[0].members names "nod2", which is not in cluster.members; '
                       'did you mean "node2"?')


# -- an immutable member-specific key ------------------------------------------------------------


def test_a_changed_source_points_at_the_source_line_and_says_what_to_do_instead():
    text = _doc("""\
        storage_pools:
          - name: data
            driver: dir
            members:
              node1: {source: /srv/data-node1}
              node2:
                source: /elsewhere
        """)
    desired, _ = load_text(text)
    live = live_pool(members=("node1", "node2", "node3"))
    with pytest.raises(PlanError) as caught:
        plan(desired, cluster(("node1", "node2", "node3"), storage_pools={"data": live}))
    message = str(caught.value)
    assert message.startswith("lxdplan.yaml:13: storage pool data has source /srv/data-node2 on "
                              "node2 and the file says /elsewhere")
    assert "keep source /srv/data-node2 for node2" in message
    assert "declare a new storage pool with the new source" in message
    assert "remove node2 from the cluster and join it again" in message


# -- a refused step's place in the file ----------------------------------------------------------


def test_a_refused_step_names_the_file_and_line_of_its_object():
    text = _doc("""\
        storage_pools:
          - name: data
            driver: zfs
        profiles:
          - name: web
            config: {limits.cpu: "2"}
        """)
    desired, _ = load_text(text)
    steps = plan(desired, cluster(("node1", "node2", "node3"))).steps

    def refuse(step):
        if step.kind == "storage_pool" and step.action.value == "define":
            raise ApiError(f"{step.member}: LXD refused POST /1.0/storage-pools: Unknown driver")
        return True

    with pytest.raises(ApplyFailed) as caught:
        execute(steps, refuse)
    said = caught.value.sentences(lambda step: origin(desired, step))
    assert len(said) == 3 and all(s.startswith("lxdplan.yaml:8: step storage_pool/data/define/")
                                  for s in said), said
    assert said[0].endswith("LXD refused POST /1.0/storage-pools: Unknown driver")
    web = next(s for s in steps if s.name == "web")
    assert origin(desired, web) == "lxdplan.yaml:11"


def test_a_mistyped_member_specific_key_gets_the_key_meant_not_a_move_to_config():
    text = _doc("""\
        storage_pools:
          - name: data
            driver: dir
            members:
              node2: {sourse: /srv/data}
        """)
    (line, message), = _errors(text)
    assert (line, message) == (11, '"sourse" is not a member-specific key of dir pools; did you '
                                   'mean "source"?')


def test_an_instance_or_volume_on_a_mistyped_member_gets_the_member_meant():
    text = _doc("""\
        storage_pools:
          - {name: data, driver: dir}
        storage_volumes:
          - {pool: data, name: v, member: node22}
        instances:
          - {name: c1, image: none, member: nodee1}
        """)
    said = [m for _, m in _errors(text)]
    assert any('on member "node22", which is not in cluster.members; did you mean "node2"?' in m
               for m in said), said
    assert any('placed on member "nodee1", which is not in cluster.members; did you mean "node1"?'
               in m for m in said), said


def test_a_key_already_refused_is_not_warned_about_as_well():
    text = _doc("").replace("cluster:\n", 'cluster:\n  config: {core.trust_password: x}\n')
    text = text.replace("version: 1\n", "version: 1\nbackend: incus\n")
    with pytest.raises(ValidationError) as caught:
        load_text(text)
    at_key = [d.message for d in caught.value.diagnostics if d.line == 4]
    assert any("does not exist in Incus" in m for m in at_key), at_key
    assert not any("does not know" in m for m in at_key), at_key


def test_the_origin_of_member_steps_member_keys_and_deletes():
    text = _doc("""\
        storage_pools:
          - name: data
            driver: dir
            members:
              node2:
                source: /srv/data
        """)
    desired, _ = load_text(text)

    def step(kind, name, action, member=None):
        return Step(id=f"{kind}/{name}/{action.value}", action=action, kind=kind, name=name,
                    member=member)

    assert origin(desired, step(Kind.MEMBER, "node2", membership.JOIN, "node2")) == "lxdplan.yaml:5"
    assert origin(desired, step(Kind.STORAGE_POOL, "data", Action.UPDATE, "node2")) == "lxdplan.yaml:12"
    assert origin(desired, step(Kind.STORAGE_POOL, "data", Action.DEFINE, "node1")) == "lxdplan.yaml:8"
    assert origin(desired, step(Kind.STORAGE_POOL, "gone", Action.DELETE)) == "lxdplan.yaml"
    assert origin(desired, step(Kind.SERVER, "config", Action.UPDATE, "node3")) == "lxdplan.yaml:6"
    with_config = text.replace("cluster:\n", "cluster:\n  config: {images.auto_update_interval: 15}\n")
    desired, _ = load_text(with_config)
    assert origin(desired, step(Kind.SERVER, "config", Action.UPDATE)) == "lxdplan.yaml:3"


def test_a_volume_key_is_checked_against_its_pool_driver():
    text = _doc("""\
        storage_pools:
          - {name: data, driver: zfs}
        storage_volumes:
          - {pool: data, name: v1, member: node1, config: {size: 1GiB, zfs.blocksize: 16KiB}}
          - {pool: data, name: v2, member: node1, config: {siez: 1GiB}}
        """)
    (line, message), = _warnings(text)
    assert line == 11
    assert 'the key "siez" for volumes of zfs pools; did you mean "size"?' in message


def test_a_real_cluster_wide_key_under_members_is_told_to_move_not_taken_for_a_typo():
    text = _doc("""\
        storage_pools:
          - name: data
            driver: dir
            members:
              node2: {source.recover: "true"}
        """)
    (_, message), = _errors(text)
    assert message.startswith('"source.recover" is not member-specific for dir pools'), message
    assert "put it under storage_pools[0].config" in message
