"""``--engine local|ray [--address ADDR] [--workers N]`` of the batch commands (ingest and predict of each modality).

The options default to the single process; ``--engine ray`` runs the step's shards on Ray
actors (:mod:`cliniloop.services.scale.ray_engine`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from cliniloop.services.cli.render import console, err_console, fail

EngineOpt = Annotated[str, typer.Option("--engine", help="local (this process, default) or ray (Ray actors; see --address, --workers).")]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Ray cluster to join (host:port, ray://host:10001 or auto); default: start a local Ray.")
]
WorkersOpt = Annotated[int | None, typer.Option("--workers", min=1, help="Ray worker actors (default: the CPUs of the local Ray or cluster).")]


def engine_options(engine: str, address: str | None, workers: int | None) -> Any:
    """The validated :class:`~cliniloop.services.scale.engine.EngineOptions`; exits with status 2 on a bad combination."""
    from cliniloop.services.scale.engine import EngineError, EngineOptions

    try:
        return EngineOptions(engine=engine, address=address, workers=workers)
    except EngineError as err:
        fail(str(err), 2)


def ray_pool(options: Any, *, deid_secret: bytes | None = None, use_gpu: bool = False) -> Any:
    """Start or join Ray and its worker actors for this command's store; exits with status 2 when it cannot."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.scale.engine import EngineError, check_store_for_cluster
    from cliniloop.services.scale.ray_engine import RayPool

    settings = get_settings()
    url = settings.resolved_database_url
    try:
        check_store_for_cluster(url, options.address)  # before anything starts
        err_console.print(f"starting Ray{' at ' + options.address if options.address else ' on this machine'} ...")
        pool = RayPool(settings, url, options, deid_secret=deid_secret, use_gpu=use_gpu)
    except EngineError as err:
        fail(str(err), 2)
    s = pool.stats
    err_console.print(f"Ray: {s.workers} workers ready in {s.ray_start_s + s.actors_ready_s:.1f} s")
    return pool


def run_on_ray(options: Any, step: Callable[[Any], Any], **pool_kwargs: Any) -> Any:
    """Run ``step(pool)`` on a fresh pool, then stop the actors; prints the workers' peak memory."""
    pool = ray_pool(options, **pool_kwargs)
    try:
        result = step(pool)
        rss = pool.worker_peak_rss_mb()
        if rss:
            console.print(f"Ray workers: {len(rss)} processes, peak RSS up to {max(rss.values()):.0f} MiB each")
        return result
    finally:
        pool.close()
