"""The published schema says what ``validate`` says about member-specific keys (issue 16 item 5):
its rules are generated from ``lxdplan.keys``, and an editor using the file flags both a
member-specific key in a cluster-wide ``config`` and a cluster-wide key under ``members:``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from lxdplan import keys, keyschema
from lxdplan.errors import ValidationError
from lxdplan.loader import load_text, schema, schema_files

ROOT = Path(__file__).resolve().parents[2]


def _published() -> dict:
    """The schema `lxdplan schema` prints (the base, the kinds' fragments, these rules)."""
    return schema()


def _editor_errors(text: str) -> list[str]:
    """What an editor using the published file reports (no lxdplan code involved)."""
    validator = jsonschema.Draft202012Validator(_published())
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


def _validate_errors(text: str) -> list[str]:
    try:
        load_text(text, "f.yaml")
    except ValidationError as exc:
        return [d.message for d in exc.diagnostics if d.severity == "error"]
    return []


def _doc(body: str, backend: str | None = None) -> str:
    head = "version: 1\n" + (f"backend: {backend}\n" if backend else "")
    return head + textwrap.dedent("""\
        cluster:
          members:
            - {name: node1, address: "10.0.0.1:8443"}
            - {name: node2, address: "10.0.0.2:8443"}
            - {name: node3, address: "10.0.0.3:8443"}
        """) + textwrap.dedent(body)


def test_the_published_schema_holds_exactly_the_rules_generated_from_the_key_tables():
    published = _published()["$defs"]
    for name, generated in keyschema.defs().items():
        assert published.get(name) == generated, name


def test_no_schema_file_in_the_repository_holds_a_copy_of_the_generated_rules():
    files = [path for _, path in schema_files()]
    assert len(files) > 1
    for path in files:
        assert not set(keyschema.DEF_NAMES) & set(json.loads(path.read_text()).get("$defs", {})), path


def test_the_issue_file_is_flagged_by_an_editor_and_by_validate_once_per_key():
    text = _doc("""\
        storage_pools:
          - name: data
            driver: zfs
            config: {source: /dev/vdb1}
            members:
              node1: {volume.size: 10GiB}
        """)
    flagged = _editor_errors(text)
    assert any("source" in m for m in flagged) and any("volume.size" in m for m in flagged), flagged
    said = _validate_errors(text)
    assert len(said) == 2, said  # the schema's rule is left to validate's sentence: no duplicate
    assert '"source" is member-specific for zfs pools' in said[0]
    assert '"volume.size" is not member-specific for zfs pools' in said[1]


def _pool(driver: str, place: str, key: str) -> str:
    where = f"config: {{{key}: x}}" if place == "config" else f"members: {{node2: {{{key}: x}}}}"
    return _doc(f"storage_pools:\n  - {{name: p, driver: {driver}, {where}}}\n")


def _network(type_: str | None, place: str, key: str) -> str:
    where = f"config: {{{key}: x}}" if place == "config" else f"members: {{node2: {{{key}: x}}}}"
    typed = f"type: {type_}, " if type_ else ""
    return _doc(f"networks:\n  - {{name: net0, {typed}{where}}}\n")


def _server(backend: str | None, place: str, key: str) -> str:
    if place == "config":
        return _doc(f"  config: {{{key}: x}}\n", backend)
    text = _doc("", backend)
    return text.replace('address: "10.0.0.2:8443"}', f'address: "10.0.0.2:8443", config: {{{key}: x}}}}')


def _cases():
    wide = "volume.size"
    for driver in [*keys.POOL_MEMBER_KEYS_BY_DRIVER, "newdriver"]:
        for key in sorted(keys.POOL_MEMBER_KEYS) + [wide]:
            for place in ("config", "members"):
                yield pytest.param(_pool(driver, place, key), id=f"pool-{driver}-{place}-{key}")
    for type_ in [*keys.NETWORK_MEMBER_KEYS_BY_TYPE, None, "newtype"]:
        for key in sorted(keys.NETWORK_MEMBER_KEYS) + ["ipv4.nat"]:
            for place in ("config", "members"):
                yield pytest.param(_network(type_, place, key), id=f"network-{type_}-{place}-{key}")
    for backend in [*keys.SERVER_MEMBER_LOCAL_KEYS, None]:
        for key in sorted(keys.SERVER_MEMBER_LOCAL_KEYS_ANY) + ["images.auto_update_interval"]:
            if key == "cluster.https_address":
                continue  # a member's own rule (it must be the address), not a placement one
            for place in ("config", "members"):
                yield pytest.param(_server(backend, place, key), id=f"server-{backend}-{place}-{key}")


@pytest.mark.parametrize("text", list(_cases()))
def test_the_schema_and_validate_agree_on_every_key_and_place(text):
    """Each member-specific key of every driver and type (and a cluster-wide one), in either
    place: an editor flags exactly what ``validate`` refuses. (A driver or type no server has
    is refused by ``validate`` alone (``lxdplan.knownkeys``): not a placement rule.)"""
    placement = [m for m in _validate_errors(text)
                 if "is not a storage driver" not in m and "is not a network type" not in m]
    assert bool(_editor_errors(text)) == bool(placement), text


def test_a_file_that_places_keys_right_passes_the_schema():
    text = _doc("""\
          config: {images.auto_update_interval: "15"}
        storage_pools:
          - {name: data, driver: zfs, config: {volume.size: 10GiB},
             members: {node1: {source: /dev/vdb1, zfs.pool_name: tank}}}
        networks:
          - {name: br0, config: {ipv4.address: 10.1.0.1/24}, members: {node2: {bridge.external_interfaces: eth1}}}
          - {name: mv, type: macvlan, members: {node1: {parent: eth0}}}
        """, "lxd")
    assert _editor_errors(text) == [] and _validate_errors(text) == []


def test_only_the_generated_rules_use_property_names():
    """The loader tells the generated rules' errors by this keyword; nothing else may use it."""
    schema = _published()
    rest = {k: v for k, v in schema["$defs"].items() if k not in keyschema.DEF_NAMES}
    assert keyschema.KEYWORD not in json.dumps({**schema, "$defs": rest})
