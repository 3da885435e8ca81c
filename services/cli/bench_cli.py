"""``cliniloop bench …``: load checks that print one JSON object (loopback only, bounded)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

bench_app = typer.Typer(help="Load checks (loopback only, bounded); each prints one JSON object.", no_args_is_help=True)


@bench_app.command("webhooks")
def bench_webhooks(
    tasks: Annotated[int, typer.Option("--tasks", min=1, max=5000, help="Label Studio tasks.")] = 300,
    changes: Annotated[int, typer.Option("--changes", min=1, max=3000, help="Annotation creates/updates/deletes.")] = 450,
    senders: Annotated[int, typer.Option("--senders", min=1, max=32, help="Concurrent webhook senders.")] = 8,
    withheld: Annotated[float, typer.Option("--withheld", min=0.0, max=0.9, help="Share of deliveries held back and sent last.")] = 0.2,
    ls_delay_s: Annotated[float, typer.Option("--ls-delay-s", min=0.0, max=1.0, help="Seconds each Label Studio read takes.")] = 0.01,
    max_deliveries: Annotated[int, typer.Option("--max-deliveries", min=1, max=20000)] = 5000,
    timeout_s: Annotated[float, typer.Option("--timeout-s", min=5, max=1800)] = 180.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Replay a webhook storm (duplicated, shuffled, some late) against the API on 127.0.0.1; latencies and losses."""
    from cliniloop.services.evaluation.bench import webhook_storm

    result = webhook_storm(tasks=tasks, changes=changes, senders=senders, withheld=withheld, ls_delay_s=ls_delay_s,
                           max_deliveries=max_deliveries, timeout_s=timeout_s, seed=seed)  # fmt: skip
    typer.echo(json.dumps(result))


@bench_app.command("push")
def bench_push(
    tasks: Annotated[int, typer.Option("--tasks", min=1, max=50_000, help="Synthetic text tasks with predictions.")] = 10_000,
    codes: Annotated[bool, typer.Option("--codes/--no-codes", help="Attach ICD-10-CM code candidates to every span.")] = True,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=5000)] = 500,
    ls_url: Annotated[str | None, typer.Option("--ls-url", help="A running local Label Studio (default: start a throwaway one).")] = None,
    ls_api_key: Annotated[str | None, typer.Option("--ls-api-key")] = None,
) -> None:
    """Push synthetic text tasks into a local Label Studio; tasks/s and seconds per stage."""
    from cliniloop.services.evaluation.bench import push_benchmark

    typer.echo(json.dumps(push_benchmark(tasks=tasks, codes=codes, batch_size=batch_size, ls_url=ls_url, ls_api_key=ls_api_key)))


@bench_app.command("predict")
def bench_predict(
    modality: Annotated[str, typer.Option("--modality", help="text (notes: ingest + de-identification + prediction) or ecg.")] = "text",
    notes: Annotated[int, typer.Option("--notes", min=1, max=2_000_000, help="Synthetic notes (text).")] = 1000,
    hours: Annotated[float, typer.Option("--hours", min=0.1, max=10_000.0, help="Hours of synthetic ECG (ecg).")] = 2.0,
    engine: Annotated[str, typer.Option("--engine", help="local (this process) or ray.")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster to join (default: a local Ray).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Ray worker actors.")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help="Store to write to (default: a temporary SQLite file).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Throughput of ingest + prediction (notes/s or ECG hours/s), peak RSS per worker, Ray start-up seconds."""
    from cliniloop.services.cli.render import fail
    from cliniloop.services.evaluation.predict_bench import predict_benchmark
    from cliniloop.services.scale.engine import EngineError, EngineOptions

    try:
        options = EngineOptions(engine=engine, address=address, workers=workers)
        result = predict_benchmark(modality=modality, notes=notes, hours=hours, options=options, database_url=database_url, seed=seed)
    except (EngineError, ValueError) as err:
        fail(str(err), 2)
    typer.echo(json.dumps(result))


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
