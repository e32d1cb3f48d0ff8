"""Certificates (the trust store) without a server: the file part, the planner rules (create,
change, replacement, delete, unmanaged, the certificate lxdplan presents), the read's assembly,
export and the requests' bodies. Certificates are generated here; no key is kept."""

from __future__ import annotations

import datetime
import json
import textwrap

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lxdplan.errors import PlanError, ValidationError
from lxdplan.exporter import export_document
from lxdplan.kinds.certificate import SPEC, Certificate, Delete, ObservedCertificate, Write
from lxdplan.livedata import Reading, Recorded
from lxdplan.loader import load_text
from lxdplan.pem import der_base64, fingerprint
from lxdplan.plan import Action, Kind, Step
from lxdplan.planner import plan
from loaderkit import HEAD
from plan_helpers import cluster, desired

CERT = Kind("certificate")


def make_pem(cn: str = "ci") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


PEM_A, PEM_B = make_pem("a"), make_pem("b")
FP_A, FP_B = fingerprint(PEM_A), fingerprint(PEM_B)


def declared(name="ci", pem=PEM_A, **kw) -> Certificate:
    return Certificate(name=name, pem=pem, fingerprint=fingerprint(pem),
                       file="ci.crt", **kw)


def live(name="ci", fp=FP_A, managed=True, **kw) -> ObservedCertificate:
    return ObservedCertificate(fingerprint=fp, name=name, managed_by_lxdplan=managed, **kw)


def planned(certs=(), lives=(), backend="lxd", presented=()):
    d = desired(certificates=tuple(certs), backend=backend)
    o = cluster(certificates={c.fingerprint: c for c in lives}, backend=backend,
                client_fingerprints=tuple(presented))
    return plan(d, o)


def steps(p):
    return [(s.action, s.name) for s in p.steps if s.kind == CERT]


# -- the file ----------------------------------------------------------------------------------


def test_an_entry_loads_its_pem_from_a_file_beside_the_lxdplan_file(tmp_path):
    (tmp_path / "ci.crt").write_text(PEM_A)
    body = HEAD + textwrap.dedent("""\
        projects: [{name: staging}]
        certificates:
          - {name: ci, type: metrics, certificate: {file: ci.crt}, restricted: true, projects: [staging]}
        """)
    loaded, _ = load_text(body, str(tmp_path / "lxdplan.yaml"))
    (cert,) = loaded.section("certificates")
    assert (cert.name, cert.type, cert.fingerprint, cert.restricted, cert.projects) == (
        "ci", "metrics", FP_A, True, ("staging",))


def errors_of(body: str, path: str = "lxdplan.yaml") -> list[tuple[int, str]]:
    with pytest.raises(ValidationError) as info:
        load_text(HEAD + textwrap.dedent(body), path)
    return [(d.line, d.message) for d in info.value.diagnostics if d.severity == "error"]


def test_a_missing_file_no_pem_an_undeclared_project_and_a_repeat_are_errors(tmp_path):
    (tmp_path / "junk.crt").write_text("not a certificate\n")
    pem = json.dumps(PEM_A)
    found = errors_of(f"""\
        certificates:
          - {{name: a, certificate: {{file: nowhere.crt}}}}
          - {{name: b, certificate: {{file: junk.crt}}}}
          - {{name: c, certificate: {{pem: {pem}}}, projects: [ghost]}}
          - {{name: d, certificate: {{pem: {pem}}}}}
        """, str(tmp_path / "lxdplan.yaml"))
    text = "\n".join(m for _, m in found)
    assert "certificates[0].certificate: cannot read nowhere.crt" in text
    assert "certificates[1].certificate: junk.crt holds no PEM certificate" in text
    assert 'names project "ghost", which is not declared in projects' in text
    assert "certificates[3] gives the same certificate as certificates[2]" in text
    assert all(line > 6 for line, _ in found)


def test_a_name_is_declared_once():
    a, b = json.dumps(PEM_A), json.dumps(PEM_B)
    found = errors_of(f"""\
        certificates:
          - {{name: ci, certificate: {{pem: {a}}}}}
          - {{name: ci, certificate: {{pem: {b}}}}}
        """)
    assert [m for _, m in found if "certificate name is declared twice" in m], found


def test_type_is_client_or_metrics():
    found = errors_of("""\
        certificates:
          - {name: a, type: server, certificate: {pem: x}}
        """)
    assert found and found[0][0] == 8


# -- planning ----------------------------------------------------------------------------------


def test_a_missing_certificate_is_created_after_bootstrap_with_its_der():
    p = planned([declared(restricted=True, projects=("default",))])
    (step,) = [s for s in p.steps if s.kind == CERT]
    assert (step.action, step.name) == (Action.CREATE, "ci")
    body = SPEC.create_body(step)
    assert body["certificate"] == der_base64(PEM_A) and "BEGIN" not in body["certificate"]
    assert (body["restricted"], body["projects"], "description" not in body) == (True, ["default"], True)
    assert step.after["fingerprint"] == FP_A


def test_a_fresh_cluster_gets_its_certificates_after_the_bootstrap():
    from plan_helpers import fresh
    d = desired(certificates=(declared(),))
    p = plan(d, fresh())
    (create,) = [s for s in p.steps if s.kind == CERT]
    boot = next(s for s in p.steps if s.action.value == "bootstrap")
    assert boot.id in create.depends_on


def test_no_change_plans_nothing_and_a_changed_field_is_one_update():
    assert steps(planned([declared()], [live(type="client")])) == []
    p = planned([declared(name="ci2", restricted=True, projects=("default",))], [live()])
    (step,) = [s for s in p.steps if s.kind == CERT]
    assert step.action == Action.UPDATE
    assert step.before == {"name": "ci", "restricted": False, "projects": []}
    assert step.after == {"name": "ci2", "restricted": True, "projects": ["default"]}
    body = SPEC.put_body(step, {})
    assert body["certificate"] == "" and body["name"] == "ci2"


def test_a_new_pem_under_a_name_replaces_the_managed_certificate_create_first():
    p = planned([declared(pem=PEM_B)], [live()])
    create = next(s for s in p.steps if s.kind == CERT and s.action == Action.CREATE)
    delete = next(s for s in p.steps if s.kind == CERT and s.action == Action.DELETE)
    assert "replaces" in create.reason and FP_A[:12] in create.reason
    assert "replaced by" in delete.reason and create.id in delete.depends_on
    assert isinstance(delete.payload, Delete) and delete.payload.fingerprint == FP_A


def test_a_dropped_managed_one_is_deleted_an_unmanaged_one_listed():
    p = planned([], [live(), live(name="human", fp=FP_B, managed=False)])
    assert steps(p) == [(Action.DELETE, "ci")]
    assert [(u.kind, u.name) for u in p.unmanaged] == [(CERT, "human")]


def test_the_certificate_lxdplan_presents_is_never_deleted():
    with pytest.raises(PlanError, match="certificate ci .* is the one lxdplan connects with"):
        planned([], [live()], presented=[FP_A])
    with pytest.raises(PlanError, match="replaced|connects with"):
        planned([declared(pem=PEM_B)], [live()], presented=[FP_A])


def test_the_certificate_lxdplan_presents_is_never_restricted():
    with pytest.raises(PlanError, match=r"lxdplan.yaml:\d*:? ?certificate ci is the one lxdplan connects"):
        planned([declared(restricted=True)], [live()], presented=[FP_A])
    assert steps(planned([declared(name="renamed")], [live()], presented=[FP_A])) == [
        (Action.UPDATE, "renamed")]


def test_a_description_is_incus_only():
    with pytest.raises(PlanError, match="LXD keeps none for certificates"):
        planned([declared(description="x")], [live()])
    p = planned([declared(description="x")], [live()], backend="incus")
    (step,) = [s for s in p.steps if s.kind == CERT]
    assert step.after == {"description": "x"} and SPEC.put_body(step, {})["description"] == "x"


# -- reads, export, handlers' checks -----------------------------------------------------------


def test_the_listing_assembles_by_fingerprint_skips_server_ones_and_reads_the_mark():
    rec = Recorded({"certificates": {"listing": ([
        {"fingerprint": FP_A, "name": "ci", "type": "client", "restricted": False,
         "projects": None, "certificate": PEM_A},
        {"fingerprint": FP_B, "name": "node1", "type": "server", "certificate": PEM_B},
    ], None)}})
    ctx = Reading(desired=None, backend=None,  # type: ignore[arg-type]
                  server_config={"user.lxdplan.certificates": FP_A})
    out = SPEC.assemble(ctx, rec)
    assert list(out) == [FP_A] and out[FP_A].managed_by_lxdplan and out[FP_A].projects == ()


def test_export_plans_empty():
    o = cluster(certificates={FP_A: live(restricted=True, projects=("default",), certificate=PEM_A)})
    doc = export_document(o)
    (entry,) = doc["certificates"]
    assert entry == {"name": "ci", "type": "client", "certificate": {"pem": PEM_A},
                     "restricted": True, "projects": ["default"]}
    text = yaml.safe_dump({"version": 1, "cluster": {"members": [
        {"name": n, "address": f"10.9.0.{i}:8443"} for i, n in enumerate(("n1", "n2", "n3"), 1)]},
        "certificates": [entry]})
    loaded, _ = load_text(text)
    assert steps(plan(loaded, o)) == []


def test_an_update_holds_when_the_server_already_matches():
    step = Step(id="s", action=Action.UPDATE, kind=CERT, name="ci",
                payload=Write(FP_A, "ci", "client", False, [], None))
    body = SPEC.put_body(step, {})
    assert SPEC.holds({"name": "ci", "type": "client", "restricted": False, "projects": None}, body)
    assert not SPEC.holds({"name": "x", "type": "client", "restricted": False}, body)


def test_status_lists_the_trust_store_with_what_lxdplan_manages():
    o = cluster(certificates={FP_A: live(restricted=True, projects=("default",)),
                              FP_B: live(name="alice", fp=FP_B, managed=False)})
    title, rows = SPEC.status(o)
    assert title == "Certificates" and rows[0][0] == "NAME"
    assert rows[1:] == [["alice", "client", FP_B[:12], "no", "-", "-"],
                        ["ci", "client", FP_A[:12], "yes", "default", "lxdplan"]]
    assert SPEC.status(cluster()) is None
