"""Several worker processes on one port, each accepting on a listening socket of its own.

uvicorn's `--workers` shares one listening socket among its workers, and the worker that wakes first accepts the
whole burst of connections waiting on it: clients that open their connections at once and keep them (nginx's
upstream keep-alive pool, SDK connection pools, wrk) then all talk to one worker while the other idles (seen: 62 of
64 connections on one of two workers). Here every worker listens on its own socket bound to the same port with
SO_REUSEPORT, and the kernel deals each new connection to one of them by a hash of its addresses.

The supervision is uvicorn's (health checks, a dead worker replaced, SIGINT/SIGTERM/SIGHUP/SIGTTIN/SIGTTOU); what
differs is the socket each worker gets. A worker that dies is replaced on the same socket, which the supervisor keeps
open and listening meanwhile, so connections the kernel dealt to it wait for the replacement instead of being lost.
A retiring worker (SIGHUP, SIGTTOU) answers the requests of every connection it accepted before it stopped accepting.
"""

import asyncio
import logging
import socket
import time

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other sockets of this user may bind too; port 0 takes a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


REQUEST_GRACE_S = 1.0


class DrainingServer(Server):
    """uvicorn's server, except at shutdown: uvicorn closes at once every connection that has no request in progress,
    and one it had just accepted, whose request is still in the socket's buffer, goes with them (the client reads a
    reset). Here accepting stops first, and such connections get `REQUEST_GRACE_S` for their request to arrive; once
    it has, uvicorn's shutdown lets it finish and closes the connection after its response."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        deadline = time.monotonic() + REQUEST_GRACE_S
        while any(getattr(c, "cycle", None) is None for c in self.server_state.connections):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
        await super().shutdown(sockets)


class DrainingWorker(Process):
    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class BalancedWorkers(Multiprocess):
    """uvicorn's supervisor with one listening socket per worker: `sockets[i]` is worker i's."""

    def __init__(self, config: Config) -> None:
        first = reuse_port_socket(config.host, config.port)
        port = first.getsockname()[1]
        sockets = [first, *(reuse_port_socket(config.host, port) for _ in range(config.workers - 1))]
        super().__init__(config, sockets)

    def _spawn(self, slot: int) -> Process:
        process = DrainingWorker(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn(slot) for slot in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        for slot, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or already gone
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: every replacement would fail alike
                log.error("Child process [%s] failed to start, stopping the parent process.", process.pid)
                self.should_exit.set()
                return
            log.info("Child process [%s] died", process.pid)
            self.processes[slot] = self._spawn(slot)

    def restart_all(self) -> None:
        """Each worker replaced on its own socket, the replacement serving before the old one is retired."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("New child process [%s] was not ready in time; keeping [%s].", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def handle_ttin(self) -> None:
        log.info("Received SIGTTIN, increasing the number of processes.")
        self.sockets.append(reuse_port_socket(self.config.host, self.sockets[0].getsockname()[1]))
        self.processes_num += 1
        self.processes.append(self._spawn(len(self.sockets) - 1))

    def handle_ttou(self) -> None:
        log.info("Received SIGTTOU, decreasing number of processes.")
        if self.processes_num <= 1:
            log.info("Already reached one process, cannot decrease the number of processes anymore.")
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        self.sockets.pop().close()  # left listening, it would keep taking connections that nobody accepts
