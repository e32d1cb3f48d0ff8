"""lxdplan: declarative plan/apply for LXD and Incus clusters."""

__version__ = "0.1.0"
