"""A name is one path segment on the real servers: "." and ".." sent as %2E reach the object of
that name (none here), never the collection or /1.0 the dot segments would collapse to."""

from __future__ import annotations

import pytest

from handform import unix
from lxdplan.errors import ApiError
from lxdplan.providers.client import path_of


@pytest.mark.parametrize("name", [".", ".."])
def test_a_dot_name_is_looked_up_as_a_name(lab, name):
    member = lab.members[0]
    client = unix(member.socket, member.name)
    try:
        assert client.get(path_of("profiles", "default")).metadata["name"] == "default"
        with pytest.raises(ApiError) as err:  # without the quoting: GET /1.0 or /1.0/profiles
            client.get(path_of("profiles", name))
        assert err.value.status == 404
        with pytest.raises(ApiError) as err:
            client.get(path_of("instances", name) + "/state")
        assert err.value.status == 404
    finally:
        client.close()
