"""`lxdplan lab`: a throwaway real LXD or Incus cluster on this host.

One unclustered daemon per network namespace, each joined to a host bridge by a veth pair, and a
ready desired-state file describing them. Public interface::

    up(name="lab", backend="lxd", members=3, root=None, out=None, template=None,
       image_server=False) -> Lab   # every lab gets a busybox image (lab.image)
    down(name="lab", root=None, missing_ok=False) -> None
    find(name, root=None) -> Lab | None
    list_labs(root=None) -> list[Lab]
    preflight(backend) -> None        # raises LabError saying what to install/run
    restart_member(lab, name, wait_ready=True) -> LabMember   # stop by pid, start again

``root`` defaults to ``$LXDPLAN_LAB_ROOT`` or ``/var/lib/lxdplan/labs``.
"""

from lxdplan.lab.lifecycle import down, find, list_labs, preflight, restart_member, up
from lxdplan.lab.model import BACKENDS, Backend, Lab, LabMember, lab_root

__all__ = ["BACKENDS", "Backend", "Lab", "LabMember", "down", "find", "lab_root", "list_labs", "preflight",
           "restart_member", "up"]
