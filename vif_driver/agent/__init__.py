"""vif-driverd: the resident, privileged agent the hook entrypoints talk to.

Hooks run as the unprivileged ``vdsm`` user and pay a fresh interpreter per
call; the agent runs as root, keeps lxml, the drivers and their backend
connections loaded, and answers the same serializable Request the in-process
path builds (see vif_driver.hook.protocol) over a unix socket.

Modules: ``client`` (what a hook imports, standard library only; it also
holds the wire format both sides use), ``validation`` (strict checks of
untrusted requests), ``auth`` (SO_PEERCRED), ``sockets`` (systemd socket
activation, --listen), ``server`` (the daemon, ``vif-driverd``).
This package's __init__ stays import-free: the hook path imports ``client``.
"""
