"""What `apply` says when the server changes under it or drops the connection mid-step.

These two faults cannot be staged deterministically on a real daemon (a saved plan is refused as
stale before any step runs, and a cut must land inside one request), so a fake server on a unix
socket (``FakeLXD`` of fakelxd.py) answers; the real actions, session and executor run.
"""

from __future__ import annotations

import pytest

from fakelxd import ASYNC, CUT, OP, FakeLXD, error, op_state, sync
from lxdplan.desired import Desired, Member
from lxdplan.executor import ApplyFailed, Outcome, execute
from lxdplan import membership
from lxdplan.plan import Action, Kind, Step
from lxdplan.kinds import profile, project
from lxdplan.payloads import Join, MemberState, MemberUpdate, ServerUpdate
from lxdplan.providers.actions import performer
from lxdplan.providers.client import Client
from lxdplan.providers.session import Session
from lxdplan.state.observed import Observed

SERVER = sync({"environment": {"server": "lxd", "server_clustered": True, "server_name": "node1"},
               "config": {}, "api_extensions": []})


@pytest.fixture
def session(tmp_path):
    sock = str(tmp_path / "unix.socket")
    server = FakeLXD(sock)
    endpoint = f"unix://{sock}"
    desired = Desired(path="lxdplan.yaml", members=(Member(name="node1", address="10.9.0.1:8443",
                                                           endpoint=endpoint),))
    client = Client(endpoint, member="node1")
    server.script[("GET", "/1.0")] = [SERVER]
    with Session(desired, Observed(clustered=True), clients={"node1": client}) as s:
        s.fake = server
        yield s
    client.close()
    server.close()


def profile_update(etag: str = '"e0"') -> Step:
    return Step("profile/default/web/update", Action.UPDATE, Kind.PROFILE, "web", etag=etag,
                payload=profile.Write("web", description="web", config={"limits.cpu": "2"}))


def test_a_412_stops_the_apply_with_one_sentence(session):
    fake = session.fake
    fake.script[("GET", "/1.0/profiles/web")] = [
        sync({"name": "web", "description": "web", "config": {"limits.cpu": "1"}, "devices": {}})]
    fake.script[("PUT", "/1.0/profiles/web")] = [
        (412, {"type": "error", "error": "ETag doesn't match", "error_code": 412})]
    earlier = Step("project/staging/create", Action.CREATE, Kind.PROJECT, "staging",
                   payload=project.Create("staging"))
    fake.script[("GET", "/1.0/projects/staging")] = [
        sync({"name": "staging", "config": {}, "description": ""})]
    with pytest.raises(ApplyFailed) as info:
        execute([earlier, profile_update()], performer(session))
    message = str(info.value)
    assert "profile web changed outside lxdplan since the plan; run plan again" in message
    assert message.startswith("step profile/default/web/update (update) failed: ")
    assert message.endswith("\n1 step(s) completed (create project staging); fix the cause and "
                            "run apply again")
    assert "Traceback" not in message and "ETag doesn't match" not in message
    put = [h for m, p, h in fake.seen if m == "PUT"]
    assert put and put[0].get("If-Match") == '"e0"'
    assert [r.outcome for r in info.value.results] == [Outcome.SKIPPED, Outcome.FAILED]


def test_a_connection_cut_during_a_change_names_the_member_and_is_not_resent(session):
    fake = session.fake
    fake.script[("GET", "/1.0/profiles/web")] = [
        sync({"name": "web", "description": "web", "config": {"limits.cpu": "1"}, "devices": {}})]
    fake.script[("PUT", "/1.0/profiles/web")] = [CUT]
    with pytest.raises(ApplyFailed) as info:
        execute([profile_update()], performer(session))
    message = str(info.value)
    assert message.startswith("step profile/default/web/update (update) failed: cannot reach "
                              "member node1 at unix://")
    assert message.endswith("\n0 step(s) completed; fix the cause and run apply again")
    assert fake.count("PUT", "/1.0/profiles/web") == 1  # a change is never retried blindly


def test_after_a_failure_independent_steps_are_sent_dependents_not_and_all_failures_listed(session):
    fake = session.fake
    fake.script[("GET", "/1.0/profiles/web")] = [
        sync({"name": "web", "description": "web", "config": {"limits.cpu": "1"}, "devices": {}})]
    fake.script[("PUT", "/1.0/profiles/web")] = [
        (412, {"type": "error", "error": "ETag doesn't match", "error_code": 412})]
    fake.script[("GET", "/1.0/projects/staging")] = [error("not found", 404)]
    fake.script[("POST", "/1.0/projects")] = [
        (500, {"type": "error", "error": "Invalid uplink network \"peerup\": Network not found",
               "error_code": 500})]
    fake.script[("GET", "/1.0/profiles/db")] = [error("not found", 404)]
    fake.script[("POST", "/1.0/profiles")] = [sync({})]
    failing_project = Step("project/staging/create", Action.CREATE, Kind.PROJECT, "staging",
                           payload=project.Create("staging"))
    uses_project = Step("profile/staging/app/create", Action.CREATE, Kind.PROFILE, "staging/app",
                        depends_on=(failing_project.id,),
                        payload=profile.Write("app", "staging"))
    sibling = Step("profile/db/create", Action.CREATE, Kind.PROFILE, "db",
                   payload=profile.Write("db"))
    with pytest.raises(ApplyFailed) as info:
        execute([profile_update(), failing_project, uses_project, sibling], performer(session))
    assert fake.count("POST", "/1.0/profiles") == 1  # the sibling was created after two failures
    posted = [p for m, p, _ in fake.seen if m == "POST" and p.startswith("/1.0/profiles")]
    assert posted == ["/1.0/profiles"]  # and the profile of the failed project was not
    assert info.value.failures == [
        "step profile/default/web/update (update) failed: profile web changed outside lxdplan "
        "since the plan; run plan again",
        "step project/staging/create (create) failed: node1: LXD refused POST /1.0/projects: "
        "Invalid uplink network \"peerup\": Network not found",
    ]
    assert info.value.summary == (
        "1 step(s) completed (create profile db); 1 step(s) not run because they wait for a "
        "failed step (create profile staging/app); fix the causes and run apply again")
    outcomes = [r.outcome for r in info.value.results]
    assert outcomes == [Outcome.FAILED, Outcome.FAILED, Outcome.NOT_RUN, Outcome.DONE]


def test_unset_secrets_stop_the_apply_before_any_step(monkeypatch):
    from lxdplan.desired import Secret
    from lxdplan.errors import LxdplanError
    from lxdplan.workflow import check_secrets
    from lxdplan.plan import Plan

    monkeypatch.delenv("H_NOPE", raising=False)
    monkeypatch.setenv("H_SET", "v")
    steps = (
        Step("server/update", Action.UPDATE, Kind.SERVER, "config",
             payload=ServerUpdate({"core.trust_password": Secret("env", "H_NOPE"),
                                   "user.ok": Secret("env", "H_SET")})),
        Step("member/node2/join", membership.JOIN, Kind.MEMBER, "node2", blocked="node2 is offline",
             payload=Join("node2", "10.9.0.2:8443", "https://10.9.0.2:8443",
                          member_config=[{"value": Secret("env", "H_BLOCKED")}])),
    )
    with pytest.raises(LxdplanError) as info:
        check_secrets(Plan("lxd", "5.0.2", steps=steps))
    assert str(info.value) == ("the secret from environment variable H_NOPE is not set; "
                               "nothing was changed")
    check_secrets(Plan("lxd", "5.0.2", steps=steps[1:]))  # a blocked step sends nothing now


def member_update(before: dict) -> Step:
    """node2's attributes as planned: the plan read description "old" and ETag "e0"."""
    return Step("member/node2/update", Action.UPDATE, Kind.MEMBER, "node2", member="node2",
                etag='"e0"', before=before,
                after={"description": "new", "failure_domain": "rack2"},
                payload=MemberUpdate("new", "rack2", ["default"], ["database-standby"], {}))


def node2(**fields) -> tuple:
    md = {"server_name": "node2", "description": "old", "failure_domain": "default",
          "groups": ["default"], "roles": ["database-standby"], "config": {}}
    return sync({**md, **fields})  # the fake serves ETag "e1": not the plan's "e0"


def test_a_member_update_proceeds_when_only_its_database_role_moved(session):
    """Issue 7 item 5: a join earlier in the same apply made LXD promote node2 to a voter."""
    fake = session.fake
    fake.script[("GET", "/1.0/cluster/members/node2")] = [node2(roles=["database"])]
    fake.script[("PUT", "/1.0/cluster/members/node2")] = [sync({})]
    step = member_update({"description": "old", "failure_domain": "default"})
    results = execute([step], performer(session))
    assert [r.outcome for r in results] == [Outcome.DONE]
    put = [h for m, p, h in fake.seen if m == "PUT"]
    assert put[0].get("If-Match") == '"e1"'  # the fresh ETag, read just before
    import json
    body = json.loads(next(b for m, p, b in fake.bodies if m == "PUT"))
    assert body["roles"] == ["database"] and body["description"] == "new"  # fresh database roles
    assert body["failure_domain"] == "rack2"


@pytest.mark.parametrize("moved", [{"description": "set by hand"}, {"groups": ["default", "gpu"]},
                                   {"roles": ["database", "event-hub"]}, {"config": {"x": "1"}}])
def test_a_member_update_stops_when_a_field_it_sends_moved(session, moved):
    fake = session.fake
    fake.script[("GET", "/1.0/cluster/members/node2")] = [node2(**moved)]
    fake.script[("PUT", "/1.0/cluster/members/node2")] = [sync({})]
    step = member_update({"description": "old", "failure_domain": "default"})
    with pytest.raises(ApplyFailed) as info:
        execute([step], performer(session))
    field = next(iter(moved))
    assert f"member node2 changed outside lxdplan since the plan ({field}); run plan again" in str(info.value)
    assert fake.count("PUT", "/1.0/cluster/members/node2") == 0


def test_an_instantiate_refused_because_an_earlier_create_finished_meanwhile_is_done(session):
    """A rerun right after an apply was killed during an instantiate reads the network Errored
    (LXD marks it so until every member has it) while the killed run's request is still
    finishing inside the daemon; its retry is then refused with "The network already exists".
    The object is Created by then: the step is done, not failed."""
    from lxdplan.kinds.twophase import Instantiate

    fake = session.fake
    errored = sync({"name": "br1", "type": "bridge", "status": "Errored", "config": {},
                    "description": "", "locations": ["node1"]})
    created = sync({"name": "br1", "type": "bridge", "status": "Created", "config": {},
                    "description": "", "locations": ["node1"]})
    fake.script[("GET", "/1.0/networks/br1")] = [errored, created]
    fake.script[("POST", "/1.0/networks")] = [error("The network already exists", 400)]
    step = Step("network/br1/instantiate", Action.INSTANTIATE, Kind.NETWORK, "br1",
                payload=Instantiate("bridge", "", {}, retry=True))
    results = execute([step], performer(session))
    assert fake.count("POST", "/1.0/networks") == 1
    assert [r.outcome for r in results] == [Outcome.SKIPPED]  # "already done"


def test_an_instantiate_refused_while_the_object_stays_errored_fails(session):
    from lxdplan.kinds.twophase import Instantiate

    fake = session.fake
    fake.script[("GET", "/1.0/networks/br1")] = [
        sync({"name": "br1", "type": "bridge", "status": "Errored", "config": {},
              "description": "", "locations": ["node1"]})]
    fake.script[("POST", "/1.0/networks")] = [error("Failed to create bridge", 500)]
    step = Step("network/br1/instantiate", Action.INSTANTIATE, Kind.NETWORK, "br1",
                payload=Instantiate("bridge", "", {}, retry=True))
    with pytest.raises(ApplyFailed) as info:
        execute([step], performer(session))
    assert "Failed to create bridge" in str(info.value)


def _evacuate() -> Step:
    return Step("member/node1/evacuate", membership.EVACUATE, Kind.MEMBER, "node1",
                member="node1", payload=MemberState("evacuate"))


NOT_READY_OP = op_state(400, "Failed transferring image: Server isn't ready yet")


def _two_members(fake, link_answers):
    fake.script[("GET", "/1.0/cluster/members")] = [sync([
        {"server_name": "node1", "status": "Online"}, {"server_name": "node2", "status": "Online"}])]
    fake.script[("GET", "/1.0?target=node2")] = link_answers


def test_an_operation_failed_not_ready_runs_again_once_the_links_are_back(session):
    """Incus 6.0.4 fails an operation "Server isn't ready yet" while the member that runs it
    has no link yet to a member restarted moments before. The step is not sent again at once
    (the operation may have done part of its work): it waits until a read forwarded through
    each member to each other goes through, then runs again from its re-read."""
    fake = session.fake
    _two_members(fake, [error("Server isn't ready yet", 500), error("Server isn't ready yet", 500),
                        SERVER])
    fake.script[("GET", "/1.0/cluster/members/node1")] = [sync({"status": "Online"})]
    fake.script[("POST", "/1.0/cluster/members/node1/state")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [NOT_READY_OP, op_state(200)]
    results = execute([_evacuate()], performer(session))
    assert [r.outcome for r in results] == [Outcome.DONE]
    posts = [p for m, p, _ in fake.seen if m == "POST"]
    links = [i for i, (m, p, _) in enumerate(fake.seen) if p == "/1.0?target=node2"]
    assert len(posts) == 2 and len(links) == 3
    second = [i for i, (m, p, _) in enumerate(fake.seen) if m == "POST"][1]
    assert second > links[-1]  # sent again only once the link was back


def test_an_operation_failed_not_ready_whose_work_is_done_is_not_sent_again(session):
    """The second run re-reads first: the member is evacuated already, nothing is sent."""
    fake = session.fake
    _two_members(fake, [SERVER])
    fake.script[("GET", "/1.0/cluster/members/node1")] = [sync({"status": "Online"}),
                                                          sync({"status": "Evacuated"})]
    fake.script[("POST", "/1.0/cluster/members/node1/state")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [NOT_READY_OP]
    results = execute([_evacuate()], performer(session))
    assert [r.outcome for r in results] == [Outcome.DONE]
    assert fake.count("POST", "/1.0/cluster/members/node1/state") == 1


def test_a_read_refused_for_a_missing_event_connection_runs_the_step_again(session):
    """Seen live on Incus 6.0.4 right after a member restarted: a read forwarded to it waits
    10 s for the link, then fails "Missing event connection with target cluster member"."""
    fake = session.fake
    _two_members(fake, [SERVER])
    fake.script[("GET", "/1.0/cluster/members/node1")] = [
        error("Missing event connection with target cluster member", 500), sync({"status": "Online"})]
    fake.script[("POST", "/1.0/cluster/members/node1/state")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(200)]
    results = execute([_evacuate()], performer(session))
    assert [r.outcome for r in results] == [Outcome.DONE]
    assert fake.count("POST", "/1.0/cluster/members/node1/state") == 1


def test_an_operation_failed_not_ready_fails_when_the_links_stay_down(session, monkeypatch):
    from lxdplan.providers import client, links

    monkeypatch.setattr(links, "LINKS_WAIT", 0.0)
    monkeypatch.setattr(client, "NOT_READY_WAIT", 0.0)  # the member keeps saying not ready
    fake = session.fake
    _two_members(fake, [error("Server isn't ready yet", 500)])
    fake.script[("GET", "/1.0/cluster/members/node1")] = [sync({"status": "Online"})]
    fake.script[("POST", "/1.0/cluster/members/node1/state")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [NOT_READY_OP]
    with pytest.raises(ApplyFailed) as info:
        execute([_evacuate()], performer(session))
    assert "isn't ready yet" in str(info.value)
    assert fake.count("POST", "/1.0/cluster/members/node1/state") == 1


def test_an_import_refused_because_an_earlier_import_finished_meanwhile_is_done(session, tmp_path):
    """An apply stopped once its upload was sent leaves LXD to finish the import; the rerun,
    which read no such image a moment before, is refused "Image with same fingerprint already
    exists". The image is there: the import is done and its alias is added."""
    from lxdplan.kinds import image
    from lxdplan.providers.actions.images import file_fingerprint

    tarball = tmp_path / "busybox.tar.xz"
    tarball.write_bytes(b"not really an image")
    fp = file_fingerprint(str(tarball))
    fake = session.fake
    fake.script[("PATCH", "/1.0")] = [sync({})]
    fake.script[("GET", f"/1.0/images/{fp}")] = [
        error("not found", 404), sync({"fingerprint": fp, "public": False, "auto_update": False,
                                       "aliases": [], "properties": {}})]
    fake.script[("POST", "/1.0/images")] = [ASYNC]
    fake.script[("GET", OP + "/wait")] = [op_state(400, "Image with same fingerprint already exists")]
    fake.script[("POST", "/1.0/images/aliases")] = [sync({})]
    step = Step("image/default/busybox/create", Action.CREATE, Kind.IMAGE, "busybox",
                payload=image.Write("busybox", source={"file": str(tarball)}))
    results = execute([step], performer(session))
    assert [r.outcome for r in results] == [Outcome.DONE]
    assert fake.count("POST", "/1.0/images") == 1
    assert fake.count("POST", "/1.0/images/aliases") == 1


def test_a_restore_left_running_by_a_killed_apply_is_waited_for(session):
    """LXD and Incus set a member Online as its restore starts, then move and start its
    instances: a rerun right after an apply killed during the restore waits for that operation
    before it calls the step done."""
    fake = session.fake
    fake.script[("GET", "/1.0/operations")] = [sync({"running": [
        {"id": "abc", "class": "task", "description": "Restoring cluster member",
         "status_code": 103}]})]
    fake.script[("GET", OP + "/wait")] = [op_state(200)]
    fake.script[("GET", "/1.0/cluster/members/node1")] = [sync({"status": "Online"})]
    step = Step("member/node1/restore", membership.RESTORE, Kind.MEMBER, "node1",
                member="node1", payload=MemberState("restore"))
    results = execute([step], performer(session))
    assert [r.outcome for r in results] == [Outcome.SKIPPED]
    paths = [p.split("?")[0] for m, p, _ in fake.seen]
    assert paths.index(OP + "/wait") < paths.index("/1.0/cluster/members/node1")
    assert fake.count("POST", "/1.0/cluster/members/node1/state") == 0


def test_a_move_to_a_member_that_cannot_run_the_type_names_that_member(session):
    """A virtual machine cannot be made on this machine, so its move to a member without
    vhost_vsock cannot be staged live (the create's refusal is: test_instances.py); the failed
    migration operation answers as LXD 5.0.2 does, and the sentence names the target member."""
    from fakelxd import ASYNC, op_state
    from lxdplan.kinds.instance import Change
    from lxdplan.kinds.placement import MOVE

    fake = session.fake
    fake.script[("GET", "/1.0/operations")] = [sync({"running": []})]
    fake.script[("GET", "/1.0/instances/vm1")] = [
        sync({"name": "vm1", "type": "virtual-machine", "status": "Stopped", "location": "node1",
              "config": {}, "devices": {}, "profiles": ["default"], "description": ""})]
    fake.script[("POST", "/1.0/instances/vm1")] = [ASYNC]
    fake.script[("GET", "/1.0/operations/abc/wait")] = [op_state(400, (
        'Failed creating instance record: Instance type "virtual-machine" is not supported on '
        'this server: vhost_vsock kernel module not loaded'))]
    step = Step("instance/vm1/move", MOVE, Kind.INSTANCE, "vm1",
                payload=Change("vm1", target="node2"))
    with pytest.raises(ApplyFailed) as info:
        execute([step], performer(session))
    said = info.value.failures[0]
    assert "member node2 cannot run virtual machines, so instance vm1 was not moved" in said
    assert "vhost_vsock kernel module not loaded" in said and "node1:" not in said


def test_an_evacuated_member_the_cluster_cannot_reach_is_removed_with_force_soon(session,
                                                                                   monkeypatch):
    """Incus refuses a read forwarded to a member it cannot reach "Server isn't ready yet" for
    as long as the member is down. After the graceful removal of an evacuated member failed,
    that refusal is asked again for ``ANSWERS_WAIT`` only (not the client's whole not-ready
    budget), then the member is removed with force, as force_remove allows."""
    from lxdplan.payloads import Remove
    from lxdplan.providers import client
    from lxdplan.providers.actions import members

    monkeypatch.setattr(members, "ANSWERS_WAIT", 0.3)
    monkeypatch.setattr(client, "NOT_READY_PAUSE", 0.05)
    fake = session.fake
    fake.script[("GET", "/1.0/cluster/members/node3")] = [sync({"status": "Evacuated"})]
    fake.script[("DELETE", "/1.0/cluster/members/node3")] = [
        error("Failed to leave the cluster: Unable to connect to: 10.9.0.3:8443", 500)]
    fake.script[("DELETE", "/1.0/cluster/members/node3?force=1")] = [sync({})]
    fake.script[("GET", "/1.0?target=node3")] = [error("Server isn't ready yet", 500)]
    step = Step("member/node3/remove", membership.REMOVE, Kind.MEMBER, "node3", member="node3",
                payload=Remove(force=False, force_if_unreachable=True))
    results = execute([step], performer(session))
    assert [r.outcome for r in results] == [Outcome.DONE]
    deletes = [p for m, p, _ in fake.seen if m == "DELETE"]
    assert deletes == ["/1.0/cluster/members/node3", "/1.0/cluster/members/node3?force=1"]
    asked = fake.count("GET", "/1.0") - 1  # the session's own GET /1.0 of node1
    assert 2 <= asked <= 12  # again for ANSWERS_WAIT (0.3 s every 0.05 s), not for 30 s
