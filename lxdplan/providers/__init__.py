"""The only code that talks to LXD and Incus: HTTP, observing, carrying steps out."""
