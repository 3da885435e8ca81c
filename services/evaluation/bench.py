"""Load checks that print one JSON object: the webhook storm (``cliniloop bench webhooks``).

The storm runs the real API (uvicorn on 127.0.0.1, a throwaway SQLite store) against an
in-memory Label Studio double (:mod:`cliniloop.connectors.label_studio.memory`) that answers each read
after ``ls_delay_s``. Annotations are created, updated and deleted in Label Studio in waves;
each change's webhook is delivered one to three times, shuffled, by ``senders`` concurrent
clients, and ``withheld`` of the deliveries are held back and delivered last (late and out of
order). After the reconciler's queue drains, without any ``pull``, the store must equal Label
Studio: ``lost`` counts annotations missing or stale in the store, ``extra`` deleted ones
still there. Bounded: at most ``max_deliveries`` requests and ``timeout_s`` seconds, loopback only.
"""

from __future__ import annotations

import random
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROJECT_ID = 7
TEXT = "Patient reports chest pain and pneumonia."
LABELS = ["Problem", "Test", "Medication"]


def _result(label: str) -> list[dict[str, Any]]:
    return [{"id": "r1", "from_name": "entity", "to_name": "text", "type": "labels",
             "value": {"start": 16, "end": 26, "text": "chest pain", "labels": [label]}}]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def webhook_storm(
    *,
    tasks: int = 300,
    changes: int = 450,
    senders: int = 8,
    withheld: float = 0.2,
    ls_delay_s: float = 0.01,
    max_deliveries: int = 5000,
    timeout_s: float = 180.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Replay a webhook storm against a local API; return latencies, losses and timings."""
    import httpx
    import uvicorn
    from pydantic import SecretStr

    from cliniloop.connectors.label_studio.memory import InMemoryLabelStudio
    from cliniloop.services.api.app import create_app
    from cliniloop.services.core.access import WEBHOOK_SECRET_HEADER
    from cliniloop.services.core.schemas import TaskIn
    from cliniloop.services.core.settings import Settings
    from cliniloop.services.core.store import open_store

    rng = random.Random(seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cliniloop-storm-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'storm.sqlite3'}")
        ls = InMemoryLabelStudio(delay_s=ls_delay_s)
        store.add_tasks([TaskIn(id=f"storm-{i}", modality="text", source_uri=f"note-{i}.txt", data={"text": TEXT}) for i in range(tasks)])
        ls_ids = [ls.add_task(PROJECT_ID, {"cliniloop_id": f"storm-{i}", "text": TEXT}) for i in range(tasks)]
        secret = "storm-webhook-secret-0123456789abcdef"
        settings = Settings(var_dir=Path(tmp), label_studio_url="http://127.0.0.1:9", label_studio_api_key="x" * 40, job_worker=False,
                            webhook_secret=SecretStr(secret), api_admin_token=SecretStr("a" * 32), api_engineer_token=SecretStr("e" * 32),
                            api_annotator_token=SecretStr("n" * 32))  # fmt: skip
        app = create_app(settings, store)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if time.monotonic() - started > 30:
                raise RuntimeError("the API did not start")
            time.sleep(0.05)
        state = app.state.cliniloop
        state._client = ls  # reconcile against the in-memory Label Studio
        url = f"http://127.0.0.1:{port}"
        latencies: list[float] = []
        health: list[float] = []
        errors = 0
        sent = 0
        lock = threading.Lock()
        local = threading.local()

        def deliver(event: dict[str, Any]) -> None:
            nonlocal errors, sent
            if time.monotonic() - started > timeout_s:
                return
            http = getattr(local, "http", None)
            if http is None:
                http = local.http = httpx.Client(headers={WEBHOOK_SECRET_HEADER: secret}, timeout=30)
            t0 = time.perf_counter()
            try:
                ok = http.post(f"{url}/webhook", json=event).status_code == 200
            except httpx.HTTPError:
                ok = False
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                sent += 1
                errors += 0 if ok else 1

        stop_health = threading.Event()

        def probe_health() -> None:
            with httpx.Client(timeout=30) as http:
                while not stop_health.is_set():
                    t0 = time.perf_counter()
                    http.get(f"{url}/health")
                    health.append(time.perf_counter() - t0)
                    stop_health.wait(0.05)

        prober = threading.Thread(target=probe_health, daemon=True)
        prober.start()
        live: dict[int, int] = {}  # annotation id -> ls task id
        late: list[dict[str, Any]] = []
        waves = 5
        per_wave = max(1, changes // waves)
        with ThreadPoolExecutor(max_workers=senders) as pool:
            for _wave in range(waves):
                events: list[dict[str, Any]] = []
                for _ in range(per_wave):
                    roll = rng.random()
                    if live and roll < 0.2:  # delete one
                        ann_id = rng.choice(list(live))
                        ls.delete(ann_id)
                        live.pop(ann_id)
                        event: dict[str, Any] = {"action": "ANNOTATIONS_DELETED", "project": {"id": PROJECT_ID}, "annotations": [{"id": ann_id}]}
                    elif live and roll < 0.4:  # update one
                        ann_id = rng.choice(list(live))
                        ls.update(ann_id, _result(rng.choice(LABELS)))
                        event = {"action": "ANNOTATION_UPDATED", "project": {"id": PROJECT_ID}, "task": {"id": live[ann_id]}, "annotation": {"id": ann_id, "task": live[ann_id]}}
                    else:  # create one
                        task = rng.choice(ls_ids)
                        ann_id = ls.annotate(task, _result(rng.choice(LABELS)))
                        live[ann_id] = task
                        event = {"action": "ANNOTATION_CREATED", "project": {"id": PROJECT_ID}, "task": {"id": task}, "annotation": {"id": ann_id, "task": task}}
                    events.extend([event] * rng.randint(1, 3))
                rng.shuffle(events)
                keep = []
                for e in events:
                    (late if rng.random() < withheld else keep).append(e)
                keep = keep[: max(0, max_deliveries - sent - len(late))]
                list(pool.map(deliver, keep))
            rng.shuffle(late)
            list(pool.map(deliver, late[: max(0, max_deliveries - sent)]))
        storm_s = time.monotonic() - started
        drain_started = time.monotonic()
        drained = state.reconciler().drain(timeout=max(1.0, timeout_s - storm_s))
        drain_s = time.monotonic() - drain_started
        stop_health.set()
        prober.join(2)
        truth = {f"{PROJECT_ID}:{i}": a["result"][0]["value"]["labels"][0] for i, a in ls.annotations.items()}
        stored = {a.source_annotation_id: (a.regions[0].get("label") if a.regions else None)
                  for a in store.annotations()}  # fmt: skip
        lost = sum(1 for k, v in truth.items() if stored.get(k) != v)
        extra = sum(1 for k in stored if k not in truth)
        stats = state.reconciler().stats
        server.should_exit = True
        thread.join(10)
        store.close()
        return {
            "benchmark": "webhook-storm",
            "senders": senders,
            "deliveries": sent,
            "errors": errors,
            "withheld_then_delivered_late": len(late),
            "latency_ms": {"p50": round(_pct(latencies, 50) * 1000, 1), "p95": round(_pct(latencies, 95) * 1000, 1),
                           "p99": round(_pct(latencies, 99) * 1000, 1), "max": round(max(latencies, default=0) * 1000, 1),
                           "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else 0.0},  # fmt: skip
            "health_ms": {"p99": round(_pct(health, 99) * 1000, 1), "max": round(max(health, default=0) * 1000, 1), "probes": len(health)},
            "annotations_in_label_studio": len(truth),
            "lost": lost,
            "extra": extra,
            "queue": {"drained": drained, "drain_s": round(drain_s, 2), "submitted": stats.submitted, "coalesced": stats.coalesced,
                      "applied": stats.done, "failed": stats.failed, "by_kind": stats.actions},  # fmt: skip
            "label_studio_reads": ls.calls,
            "storm_s": round(storm_s, 2),
        }


# -- push benchmark ------------------------------------------------------------------------------
_PROBLEMS = ["pneumonia", "chest pain", "atrial fibrillation", "type 2 diabetes", "hypertension", "asthma", "acute kidney injury",
             "left knee pain", "urinary tract infection", "congestive heart failure", "migraine", "anemia", "cellulitis of the right leg",
             "COPD exacerbation", "hypothyroidism", "sepsis", "deep vein thrombosis", "gout", "chronic back pain", "depression"]  # fmt: skip
_DRUGS = ["aspirin", "metformin", "lisinopril", "atorvastatin", "warfarin", "albuterol", "insulin", "ceftriaxone", "furosemide", "levothyroxine"]
_ASSERTIONS = ["present", "present", "present", "absent", "possible", "historical", "family"]


def synthetic_text_tasks(n: int, seed: int = 0) -> list[tuple[Any, Any]]:
    """``n`` de-identified-looking text tasks with one prediction each (spans with assertions).

    Returns ``(TaskIn, PredictionIn)`` pairs; notes vary (numbers, problems, drugs) so ids differ.
    """
    from cliniloop.services.core.schemas import PredictionIn, TaskIn, TextSpan
    from cliniloop.services.loop.deid import DEID_KEY
    from cliniloop.services.loop.predict import TEXT_MODEL_NAME

    rng = random.Random(seed)
    out = []
    for i in range(n):
        problems = rng.sample(_PROBLEMS, 3)
        drug = rng.choice(_DRUGS)
        parts: list[tuple[str, str | None, str | None]] = [
            (f"Note {i}. Seen in clinic, day {rng.randint(1, 30)}. ", None, None),
            ("History of ", None, None), (problems[0], "Problem", rng.choice(_ASSERTIONS)), (". ", None, None),
            ("Denies ", None, None), (problems[1], "Problem", "absent"), (". ", None, None),
            ("Possible ", None, None), (problems[2], "Problem", "possible"), (". ", None, None),
            ("Started ", None, None), (drug, "Medication", "present"), (f" {rng.randint(1, 4) * 5} mg daily. ", None, None),
            ("Plan: follow up in ", None, None), (f"{rng.randint(1, 8)} weeks.", None, None),
        ]  # fmt: skip
        text, regions, pos = "", [], 0
        for piece, label, assertion in parts:
            if label is not None:
                p = round(rng.uniform(0.3, 0.99), 3)
                regions.append(TextSpan(start=pos, end=pos + len(piece), text=piece, label=label, probability=p,
                                        attributes={"assertion": assertion, "assertion_probability": p, "entity_probability": p, "section": None}))  # fmt: skip
            text += piece
            pos += len(piece)
        tid = f"bench-{seed}-{i:06d}"
        data = {"text": text, "note_name": f"note-{i:012x}.txt", DEID_KEY: {"detector": "bench", "offsets": []}}
        score = round(rng.uniform(0.2, 0.9), 4)
        pred = PredictionIn(task_id=tid, model_name=TEXT_MODEL_NAME, model_version="bench-1", taxonomy_version="bench",
                            regions=regions, score=score, uncertainty=round(1 - score, 4))  # fmt: skip
        out.append((TaskIn(id=tid, modality="text", source_uri=f"note-{i}.txt", data=data), pred))
    return out


def _ls_template() -> Path | None:
    """An initialised Label Studio data dir from the test suite's cache (fast start), if any."""
    from cliniloop.connectors.label_studio.server import REPO_ROOT, is_initialised

    for candidate in sorted((REPO_ROOT / ".pytest_cache" / "d" / "label-studio-template").glob("*")):
        if candidate.is_dir() and not candidate.name.endswith(".tmp") and is_initialised(candidate):
            return candidate
    return None


def push_benchmark(*, tasks: int = 10_000, codes: bool = True, batch_size: int = 500, ls_url: str | None = None,
                   ls_api_key: str | None = None, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Push ``tasks`` synthetic text tasks with predictions into a local Label Studio; time each stage."""
    from cliniloop.connectors.label_studio.client import LabelStudioClient
    from cliniloop.connectors.label_studio.server import LocalLabelStudio, clone_data_dir
    from cliniloop.services.core.settings import Settings
    from cliniloop.services.core.store import open_store
    from cliniloop.services.loop.coding import span_code_candidates_for
    from cliniloop.services.loop.push import ensure_text_project, push_tasks

    result: dict[str, Any] = {"benchmark": "push", "tasks": tasks, "codes": codes, "batch_size": batch_size}
    with tempfile.TemporaryDirectory(prefix="cliniloop-bench-push-") as tmp:
        server = None
        t0 = time.perf_counter()
        if ls_url is None:
            template = _ls_template()
            data_dir = Path(tmp) / "ls"
            if template is not None:
                clone_data_dir(template, data_dir)
            server = LocalLabelStudio(data_dir).start(timeout_s=300)
            ls_url, ls_api_key = server.url, server.api_key
        result["label_studio_start_s"] = round(time.perf_counter() - t0, 1)
        try:
            settings = Settings(var_dir=Path(tmp) / "var", label_studio_url=ls_url, label_studio_api_key=ls_api_key)
            store = open_store(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
            t0 = time.perf_counter()
            pairs = synthetic_text_tasks(tasks, seed)
            store.add_tasks([t for t, _ in pairs])
            store.add_predictions([p for _, p in pairs], make_latest=True)
            result["store_setup_s"] = round(time.perf_counter() - t0, 1)
            client = LabelStudioClient(ls_url, ls_api_key)
            project_id = ensure_text_project(client, f"cliniloop bench {int(time.time())}")
            t0 = time.perf_counter()
            candidates = span_code_candidates_for(store, settings) if codes else None
            result["code_index_fit_s"] = round(time.perf_counter() - t0, 1)
            first_import: list[float] = []
            started = time.perf_counter()

            def progress(_n: int) -> None:
                if not first_import:
                    first_import.append(time.perf_counter() - started)

            report = push_tasks(store, client, project_id, [t.id for t, _ in pairs], batch_size=batch_size,
                                progress=progress, code_candidates=candidates)  # fmt: skip
            elapsed = time.perf_counter() - started
            in_ls = client.existing_task_ids(project_id)
            store.close()
        finally:
            if server is not None:
                server.stop()
    result.update({
        "created": len(report.created),
        "in_label_studio": len(in_ls),
        "push_s": round(elapsed, 1),
        "tasks_per_s": round(len(report.created) / elapsed, 1) if elapsed else None,
        "first_batch_imported_after_s": round(first_import[0], 1) if first_import else None,
        "stages_s": report.timings,
    })  # fmt: skip
    return result
