"""Pure helpers of the apply actions: secrets resolved only when sent, "already holds"
comparison, the join token encoding and the 412 sentence."""

from __future__ import annotations

import base64
import json

import pytest

from lxdplan.desired import Secret
from lxdplan.errors import PreconditionFailed
from lxdplan import membership
from lxdplan.plan import Action, Kind, Step
from lxdplan.providers.actions import handlers, perform
from lxdplan.providers.actions.common import owned, precondition, reveal, same_config
from lxdplan.providers.actions.members import encode_join_token


def test_reveal_resolves_secrets_inside_maps_and_lists(monkeypatch):
    monkeypatch.setenv("E_UNIT_SECRET", "hunter2")
    payload = {"config": {"core.trust_password": Secret("env", "E_UNIT_SECRET"), "a": "1"},
               "member_config": [{"value": Secret("env", "E_UNIT_SECRET")}]}
    assert reveal(payload) == {"config": {"core.trust_password": "hunter2", "a": "1"},
                               "member_config": [{"value": "hunter2"}]}
    assert "hunter2" not in repr(payload)


def test_same_config_ignores_volatile_keys_and_matches_secrets_when_set():
    live = {"a": "1", "volatile.uuid": "x", "core.trust_password": "true", "b": True}
    assert same_config(live, {"a": "1", "b": "true", "core.trust_password": Secret("env", "X")})
    assert not same_config(live, {"a": "1", "b": "true"})  # a live key the step would drop
    assert not same_config({"a": "2"}, {"a": "1"})


def test_owned_adds_the_mark_once():
    assert owned({"user.lxdplan.managed": "true", "k": "v"}) == {"user.lxdplan.managed": "true",
                                                                  "k": "v"}
    assert owned(None) == {"user.lxdplan.managed": "true"}


def test_join_token_is_base64_json_with_snake_case_fields():
    md = {"serverName": "node2", "fingerprint": "ab", "addresses": ["10.0.0.1:8443"],
          "secret": "s", "expiresAt": "2030-01-01T00:00:00Z"}
    decoded = json.loads(base64.b64decode(encode_join_token(md)))
    assert decoded == {"server_name": "node2", "fingerprint": "ab", "addresses": ["10.0.0.1:8443"],
                       "secret": "s", "expires_at": "2030-01-01T00:00:00Z"}


@pytest.mark.parametrize("kind, member, sentence", [
    (Kind.PROFILE, None, "profile web changed outside lxdplan since the plan; run plan again"),
    (Kind.SERVER, None, "server config changed outside lxdplan since the plan; run plan again"),
    (Kind.SERVER, "node2", "server config of node2 changed outside lxdplan since the plan"),
])
def test_a_412_becomes_one_sentence(kind, member, sentence):
    name = "web" if kind == Kind.PROFILE else "config"
    step = Step("x", Action.UPDATE, kind, name, member=member)
    with pytest.raises(PreconditionFailed) as err:
        with precondition(step):
            raise PreconditionFailed("ETag mismatch", member="node1", status=412)
    assert sentence in str(err.value) and err.value.status == 412


def test_every_planned_action_has_a_handler_and_others_are_refused():
    planned = {(Kind.MEMBER, a) for a in (membership.BOOTSTRAP, membership.JOIN, membership.REMOVE,
                                          membership.FORCE_REMOVE, Action.UPDATE, membership.EVACUATE,
                                          membership.RESTORE)}
    planned |= {(Kind.SERVER, Action.UPDATE)}
    for kind in (Kind.STORAGE_POOL, Kind.NETWORK):
        planned |= {(kind, a) for a in (Action.DEFINE, Action.INSTANTIATE, Action.UPDATE,
                                        Action.DELETE)}
    for kind in (Kind.PROFILE, Kind.PROJECT, Kind.CLUSTER_GROUP, Kind.STORAGE_VOLUME):
        planned |= {(kind, a) for a in (Action.CREATE, Action.UPDATE, Action.DELETE)}
    assert planned <= set(handlers())
    with pytest.raises(Exception, match="cannot define a profile"):
        perform(None, Step("p", Action.DEFINE, Kind.PROFILE, "web"))
