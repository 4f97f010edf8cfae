"""vif-driverd: the resident agent serving the hook entrypoints' requests.

Connections are served on pooled threads (bounded), each running its
driver call itself (vif_driver.agent.calls: deadlines, per-vNIC admission,
the watchdog that answers for a call past its deadline, so a hung backend
costs a clear error rather than a hung hook). Socket activation (LISTEN_FDS, fd 3) or
``--listen PATH``. Requests are answered by vif_driver.core.dispatch.handle, the
function the in-process path calls, with the agent's own config.
"""

from __future__ import annotations

import argparse
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import time

from vif_driver.agent import auth, validation
from vif_driver.agent.calls import READ_TIMEOUT, Calls
from vif_driver.agent.sockets import activated_socket, listen, sd_notify, socket_group
from vif_driver.agent.threads import Pool, ThreadStderr, Ticket
from vif_driver.core import config as config_mod
from vif_driver.hook import client
from vif_driver.hook.points import HOOK_POINTS
from vif_driver.hook.protocol import Response

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 256  # connections read and answered at once (a pooled thread each); calls.MAX_CALLS run drivers
MAX_IDLE_THREADS = 8  # pooled threads kept waiting for the next connection
CLOSE_GRACE = 5.0  # drivers get this long to close their backends at a stop
TOKEN_REFRESH = 120.0  # s between refreshes of the network-setup hook's tokens (< netsetup.TOKEN_TTL)


class Agent:
    def __init__(self, config_path: str | None):
        self.config_path = config_path  # None: the default path, optional
        self._config_lock = threading.Lock()
        self._config: config_mod.HostConfig | None = None
        self._config_error: str | None = None
        self._stamp = object()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._active = 0
        self._idle = threading.Condition()
        self._pool = Pool(MAX_IDLE_THREADS)
        self.calls = Calls(self._send, self._done)
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)
        self.config()  # an invalid config does not stop the agent: every answer names the error

    # --- configuration ------------------------------------------------------

    def _path(self) -> str:
        return self.config_path or config_mod.DEFAULT_PATH

    def config(self):
        """The current config, re-read when the file changed; (config, error)."""
        try:
            st = os.stat(self._path())
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        with self._config_lock:
            if stamp != self._stamp:
                env = {config_mod.CONFIG_ENV: self.config_path} if self.config_path else {}
                try:
                    self._config, self._config_error = config_mod.load(env), None
                    log.info("config %s loaded: drivers %s", self._path(),
                             ", ".join(f"{d} ({', '.join(p)})" for d, p in self._config.drivers().items()) or "none")
                    self._warm(self._config)
                except config_mod.ConfigError as e:
                    self._config_error = str(e)
                    log.error("%s; answering every request with this error until it is fixed", e)
                self._stamp = stamp
            return self._config, self._config_error

    @staticmethod
    def _warm(cfg) -> None:
        """Load lxml and the configured drivers now, not in the first hook;
        drivers run resident here (api.VifDriver.open)."""
        from vif_driver.core import dispatch, domxml  # noqa: F401 - imports lxml
        dispatch.run_resident()
        for name in cfg.drivers():
            try:
                dispatch.load_driver(name)
            except Exception as e:  # noqa: BLE001 - reported again per request
                log.warning("driver %s: %s", name, e)
        missing = auth.missing_names(cfg.agent_users, cfg.agent_groups)
        if missing:
            log.info("agent_users/agent_groups: no %s on this host (they match nobody)", ", ".join(missing))

    # --- serving ------------------------------------------------------------

    def stop(self) -> None:
        """Ask serve() to return (signal-handler safe: sets a flag and writes
        one byte; the handler never raises into whatever the main thread
        holds, so no lock is left taken by a stop)."""
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def keep_underlay_tokens(self, every: float = TOKEN_REFRESH) -> threading.Thread:
        """Refresh the network-setup hook's token file every ``every``
        seconds (core.network_setup.refresh_tokens), while the state
        directory exists (the package makes /var/lib/vif-driver; the agent
        creates nothing)."""
        from vif_driver.hook import netsetup

        def loop() -> None:
            while True:
                directory = netsetup.state_dir(os.environ)
                cfg, _ = self.config()
                if cfg is not None and cfg.plugin_types and os.path.isdir(directory):
                    from vif_driver.core import network_setup
                    try:
                        network_setup.refresh_tokens(cfg, os.environ)
                    except Exception as e:  # noqa: BLE001 - the hook then runs its full check
                        log.warning("refreshing the network-setup tokens in %s failed: %s", directory, e)
                if self._stopping.wait(every):
                    return
        thread = threading.Thread(target=loop, name="underlay-tokens", daemon=True)
        thread.start()
        return thread

    def serve(self, listener: socket.socket) -> None:
        """Accept connections until stop(); then return at once (the caller
        closes the listener and drains the requests being answered)."""
        listener.setblocking(False)
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if not any(key.fileobj is listener for key, _ in sel.select(timeout=1.0)):
                    continue
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue  # the client went away before we took it
                if not self._slots.acquire(blocking=False):
                    self._refuse_busy(conn)  # at once: the accept loop never waits
                    continue
                conn.setblocking(True)
                with self._idle:
                    self._active += 1
                self._pool.submit(self._connection, conn)

    @staticmethod
    def _refuse_busy(conn: socket.socket) -> None:
        """MAX_CONNECTIONS hooks are being answered: one line, sent without
        waiting (a small message into an empty socket buffer)."""
        log.warning("refused a connection: %d open at once", MAX_CONNECTIONS)
        try:
            conn.setblocking(False)
            conn.send(client.response_message(Response(2, messages=[
                f"vif-driver agent: busy: {MAX_CONNECTIONS} hooks are being answered at once; retry, "
                "and check the backend: journalctl -u vif-driverd"])))
        except OSError:
            pass
        conn.close()

    def _connection(self, conn: socket.socket) -> None:
        ticket = Ticket(conn)
        try:
            self._exchange(ticket)
        except Exception:  # noqa: BLE001 - one bad connection must not stop the agent
            log.exception("connection failed")
        finally:
            if ticket.finish():  # not already answered by the watchdog
                self._done(conn)

    def _done(self, conn: socket.socket) -> None:
        """The connection is answered (or given up): free its slot."""
        conn.close()
        self._slots.release()
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> int:
        """Wait for the requests being answered (a stop must not drop one
        a hook is waiting for); returns how many are still running."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout)
            return self._active

    def _exchange(self, ticket: Ticket) -> None:
        conn = ticket.conn
        peer = auth.peer_of(conn)
        cfg, error = self.config()
        users = cfg.agent_users if cfg else ()
        groups = cfg.agent_groups if cfg else ()
        if not auth.allowed(peer, users, groups):
            # Read the request before refusing it: closing with the client
            # still writing would give it EPIPE ("Broken pipe") instead of
            # this answer. Bounded like any request (size and READ_TIMEOUT).
            try:
                client.read_message(conn, client.MAX_MESSAGE, time.monotonic() + READ_TIMEOUT)
            except (EOFError, client.ProtocolError, OSError):
                pass
            log.warning("refused %s: not root, not in agent_users (%s) or agent_groups (%s)",
                        peer, " ".join(users) or "-", " ".join(groups) or "-")
            self._send(conn, Response(2, messages=[
                f"vif-driver agent: uid {peer.uid} may not use the agent; allowed are root, users "
                f"{', '.join(users) or '(none)'} and groups {', '.join(groups) or '(none)'} "
                f"(agent_users/agent_groups in [vif-driver] of the agent's config)"]))
            return
        try:
            raw = client.read_message(conn, client.MAX_MESSAGE, time.monotonic() + READ_TIMEOUT)
            request = validation.request_from(raw)
        except EOFError:
            return
        except (client.ProtocolError, validation.Refused) as e:
            log.warning("refused a request from %s: %s", peer, e)
            self._send(conn, Response(2, messages=[f"vif-driver agent: refused: {e}"]))
            return
        started = time.monotonic()
        response = self.calls.answer(request, cfg, error, ticket)
        if response is None:
            return  # past its deadline: the watchdog answered already
        level = logging.DEBUG if HOOK_POINTS[request.hook_point].json and not response.exit_code else logging.INFO
        log.log(level, "%s %s vnic %s: exit %d in %.0f ms%s", peer, request.hook_point,
                request.properties.get("vnic_id", "-")[:64], response.exit_code,
                (time.monotonic() - started) * 1000, "".join(f"; {m}" for m in response.messages))
        self._send(conn, response, debug=bool(cfg and cfg.debug))

    @staticmethod
    def _send(conn: socket.socket, response: Response, debug: bool = False) -> None:
        """The Response; ``debug`` (the config's) tells the hook to print its actions."""
        try:
            message = client.response_message(response, debug)
        except client.ProtocolError as e:  # data over MAX_MESSAGE: say so instead
            message = client.response_message(Response(response.exit_code, messages=[
                f"vif-driver agent: the answer cannot be sent: {e}"]))
        try:
            conn.settimeout(READ_TIMEOUT)
            conn.sendall(message)
        except OSError as e:
            log.info("could not answer (the hook went away?): %s", e)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vif-driverd", description=(
        "vif-driver's resident agent: runs the VIF drivers as root for the unprivileged "
        "VDSM hooks. Under systemd it gets its socket from vif-driverd.socket."))
    parser.add_argument("--listen", metavar="PATH", help="create and listen on this unix socket "
                        "(tests, development); default: the systemd socket, else agent_socket of the config")
    parser.add_argument("--config", metavar="PATH", help="host config (default: $VIF_DRIVER_CONFIG or "
                        f"{config_mod.DEFAULT_PATH})")
    parser.add_argument("--socket-group", help="group of a socket created here (default: the first "
                        "existing agent_groups entry, else the first agent user's primary group)")
    parser.add_argument("--socket-mode", default="0660", type=lambda v: int(v, 8),
                        help="mode of a socket created here (default: 0660)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)

    fmt = "%(levelname)s %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s vif-driverd %(levelname)s %(message)s"
    logging.basicConfig(level=args.log_level, format=fmt, stream=sys.stderr)
    sys.stderr = ThreadStderr(sys.stderr)
    agent = Agent(args.config or os.environ.get(config_mod.CONFIG_ENV))
    cfg, error = agent.config()
    if cfg is None:  # no crash loop under socket activation: start, and answer with the error
        cfg = config_mod.HostConfig()
    created = None
    listener = activated_socket()
    if listener is None:
        created = args.listen or cfg.agent_socket
        try:
            listener = listen(created, socket_group(cfg, args.socket_group), args.socket_mode)
        except (OSError, KeyError) as e:
            log.error("cannot listen on %s: %s", created, e)
            return 1
    log.info("serving on %s (pid %d)", created or "the socket from systemd", os.getpid())
    if cfg.agent_socket != config_mod.DEFAULT_AGENT_SOCKET:
        log.warning("agent_socket = %s in the config: hooks do not read the config while an agent "
                    "answers them, so they look only at $%s or %s; set %s=%s in VDSM's environment "
                    "(or use the default path)", cfg.agent_socket, config_mod.AGENT_SOCKET_ENV,
                    config_mod.DEFAULT_AGENT_SOCKET, config_mod.AGENT_SOCKET_ENV, cfg.agent_socket)

    signal.signal(signal.SIGTERM, lambda signum, frame: agent.stop())
    signal.signal(signal.SIGINT, lambda signum, frame: agent.stop())
    sd_notify("READY=1")
    agent.keep_underlay_tokens()
    try:
        agent.serve(listener)
        log.info("stopping")
    finally:
        listener.close()  # no new connections (under systemd they queue for the next agent)
        if created:
            try:
                os.unlink(created)
            except OSError:
                pass
    sd_notify("STOPPING=1")
    cfg, _ = agent.config()
    grace = stop_grace(cfg.timeout if cfg else config_mod.DEFAULT_TIMEOUT)
    left = agent.drain(max(grace, agent.calls.latest_deadline() - time.monotonic() + 1))
    if left:
        log.warning("stopped with %d request(s) unanswered", left)
    # drivers close their backends on a thread: a hung backend must not
    # keep a stopped agent alive past its bound
    closer = threading.Thread(target=_close_drivers, name="close", daemon=True)
    closer.start()
    closer.join(CLOSE_GRACE)
    if closer.is_alive():
        log.warning("drivers did not close within %g s; exiting anyway", CLOSE_GRACE)
    log.info("stopped")
    logging.shutdown()
    return 0


def stop_grace(timeout: float) -> float:
    """How long a stopping agent waits for the requests it is answering: a
    request still being read has READ_TIMEOUT, one in a driver call is
    answered (by the watchdog if need be) within its deadline: 2 x timeout,
    or later when its driver declared a wait (main() waits for the latest
    deadline given, if later)."""
    return max(READ_TIMEOUT, client.request_deadline(timeout)) + 1


def _close_drivers() -> None:
    from vif_driver.core import registry
    try:
        registry.close_all()
    except Exception:  # noqa: BLE001 - best effort at exit
        log.exception("closing the drivers failed")


if __name__ == "__main__":
    sys.exit(main())
