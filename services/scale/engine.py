"""Which engine runs a batch step, and starting or joining Ray offline.

``--engine local`` (the default) runs a step in this process, as before. ``--engine ray`` runs it
on Ray (:mod:`cliniloop.services.scale.ray_engine`): without ``--address`` a local Ray is started on this
machine (``--workers`` CPUs, no dashboard, no usage reporting, nothing downloaded); with one, the
driver joins that cluster. Every worker writes to the one store, so a cluster whose workers may
be on other machines needs PostgreSQL: SQLite is refused there (:func:`check_store_for_cluster`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
#: Set before Ray is imported or started: no usage reporting, no dashboard, no downloads.
RAY_OFFLINE_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    # Ray lowers its workers' priority by 15 by default; here they do the work a single process
    # would do, so they keep the driver's priority (on a shared machine they would starve otherwise)
    "RAY_worker_niceness": "0",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}


class EngineError(RuntimeError):
    """The engine cannot run as asked (unknown engine, SQLite with a cluster, Ray cannot start)."""


@dataclass(frozen=True)
class EngineOptions:
    """The engine of one command: ``--engine``, ``--address``, ``--workers``.

    Attributes
    ----------
    engine : {"local", "ray"}
        ``local``: this process. ``ray``: Ray actors.
    address : str or None
        A Ray cluster to join (``host:port``, ``ray://host:10001`` or ``auto``); ``None`` starts a
        local Ray on this machine.
    workers : int or None
        Worker actors (each one CPU, and one GPU when the cluster has GPUs); default the local
        CPUs, or the cluster's CPUs when joining one.
    """

    engine: str = "local"
    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise EngineError(f"--engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.workers is not None and self.workers < 1:
            raise EngineError("--workers must be at least 1")
        if self.address and self.engine != "ray":
            raise EngineError("--address joins a Ray cluster: use it with --engine ray")

    @property
    def is_ray(self) -> bool:
        """Whether the step runs on Ray."""
        return self.engine == "ray"


def is_sqlite(url: str) -> bool:
    """Whether a database URL is a SQLite one."""
    return url.split(":", 1)[0].split("+", 1)[0].lower() == "sqlite"


def is_remote_address(address: str | None) -> bool:
    """Whether a Ray address may name a cluster beyond this machine.

    ``None`` (a local Ray this command starts) is not remote; any other address is, unless it
    is ``auto``, names the loopback interface or an IP address of this machine (the cluster's
    nodes are then checked once joined, see :func:`check_cluster_nodes`).
    """
    if not address:
        return False
    if address == "auto":
        return False  # a cluster started on this machine; its nodes are checked once joined
    host = urlsplit(address if "://" in address else f"ray://{address}").hostname or ""
    return host not in _LOOPBACK and not _is_this_machine(host)


def _is_this_machine(host: str) -> bool:
    """Whether ``host`` is an IP address of one of this machine's interfaces (it can be bound; no traffic)."""
    import ipaddress
    import socket

    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return False  # a host name: may be anywhere
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
        return True
    except OSError:
        return False


def check_store_for_cluster(database_url: str, address: str | None) -> None:
    """Refuse a SQLite store with a remote Ray cluster.

    Raises
    ------
    EngineError
        When ``database_url`` is SQLite and ``address`` names a cluster that may span machines.
    """
    if is_sqlite(database_url) and is_remote_address(address):
        raise EngineError(
            f"--address {address}: a Ray cluster on other machines cannot share a SQLite file; "
            "set CLINILOOP_DATABASE_URL to a PostgreSQL database (postgresql+psycopg://...) that every node reaches"
        )


def check_cluster_nodes(database_url: str) -> None:
    """Once joined: refuse SQLite when the cluster has a live node on another machine.

    Raises
    ------
    EngineError
        When the store is SQLite and the cluster's live nodes are on more than one host.
    """
    import ray

    if not is_sqlite(database_url):
        return
    hosts = {n.get("NodeManagerAddress") for n in ray.nodes() if n.get("Alive")}
    if len(hosts) > 1:
        raise EngineError(
            f"the Ray cluster has nodes on {len(hosts)} machines, which cannot share a SQLite file; "
            "set CLINILOOP_DATABASE_URL to a PostgreSQL database that every node reaches"
        )


def offline_ray_env() -> None:
    """Put :data:`RAY_OFFLINE_ENV` into this process's environment (before Ray is imported)."""
    for key, value in RAY_OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def start_ray(address: str | None = None, workers: int | None = None, database_url: str | None = None) -> float:
    """Start a local Ray (or join the cluster at ``address``); return the seconds it took.

    A local Ray gets ``workers`` CPUs (default: this machine's), no dashboard, no usage reporting
    and no runtime environment (nothing is downloaded); it is reused when already running in
    this process.

    Raises
    ------
    EngineError
        If Ray is not installed, cannot start, or (with ``database_url`` SQLite) the cluster spans machines.
    """
    if database_url is not None:
        check_store_for_cluster(database_url, address)
    offline_ray_env()
    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is in the test extra
        raise EngineError("--engine ray needs Ray: pip install 'cliniloop[ray]'") from err
    started = time.perf_counter()
    if not ray.is_initialized():
        common: dict[str, Any] = {"configure_logging": False, "log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if address:
                ray.init(address=address, **common)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, **common)
        except Exception as err:  # noqa: BLE001 - shown to the user as one clear line
            raise EngineError(f"Ray could not start{' at ' + address if address else ''}: {type(err).__name__}: {err}") from err
    if database_url is not None:
        check_cluster_nodes(database_url)
    return time.perf_counter() - started


def ray_can_start() -> str | None:
    """Why a local Ray cannot start here (``None``: it can): Ray missing, or no shared memory."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'cliniloop[ray]')"
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        return "no writable /dev/shm: Ray's object store needs shared memory"
    return None
