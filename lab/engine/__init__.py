"""The engine: everything that touches Docker.

`client` is the one module that imports the Docker SDK; `types` holds the plain data and
the protocol the rest of the lab works with (a test fake provides the same protocol);
`streams` and `session` speak to processes in containers; `images` builds or reuses images
by content hash; `fleet` spreads copies over engines; `gc` finds and removes what runs left
behind, by label; `provision` makes an engine and the base images exist.
"""
