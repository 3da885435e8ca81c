"""CLI commands for measuring the learner: ``cliniloop eval ner``, ``eval first-queue`` and ``cliniloop simulate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cliniloop.services.cli.render import err_console, fail

PubTatorFile = Annotated[Path, typer.Option(exists=True, dir_okay=False, help="PubTator file.")]



def eval_ner(
    train: Annotated[Path, typer.Option("--train", exists=True, dir_okay=False, help="PubTator training file.")],
    test: Annotated[Path, typer.Option("--test", exists=True, dir_okay=False, help="PubTator test file.")],
    model: Annotated[str, typer.Option("--model", help="crf, transformer (GPU when torch sees one) or hybrid (both, merged).")] = "crf",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="transformer: passes over the training set.")] = 3,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=0, help="transformer: peak AdamW learning rate.")] = 5e-5,
    max_train_sentences: Annotated[int | None, typer.Option("--max-train-sentences", min=1, help="Train on the first N sentences only.")] = None,
    max_train_seconds: Annotated[float | None, typer.Option("--max-train-seconds", min=1, help="transformer: stop training after this long.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="transformer: windows per batch (default: from free memory).")] = None,
    device: Annotated[str | None, typer.Option("--device", help="transformer: cuda or cpu (default: cuda when available).")] = None,
    bench_sentences: Annotated[int | None, typer.Option("--bench-sentences", min=1, help="Then time batch inference over N sentences (test sentences cycled).")] = None,
) -> None:
    """Train an entity tagger on --train, score strict spans on --test; prints one JSON object.

    F1 per type, training seconds, sentences/s at prediction, peak memory and the device.
    """
    from cliniloop.services.evaluation.ner import MODELS, evaluate_ner

    if model not in MODELS:
        fail(f"--model {model!r}: choose one of {', '.join(MODELS)}", 2)
    tfm = {"epochs": epochs, "learning_rate": learning_rate, "max_train_seconds": max_train_seconds, "batch_size": batch_size, "device": device}
    try:
        result = evaluate_ner(
            train, test, model=model, transformer_params=tfm, max_train_sentences=max_train_sentences, bench_sentences=bench_sentences
        )
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def _simulate_ner_transformer(
    pool: Path, test: Path, config, strategies_given: bool, tfm: dict, mc_samples: int, max_pool: int | None, max_test: int | None
) -> None:
    """``simulate --task ner --model transformer``: BALD/BADGE on the transformer against entropy on the CRF; prints a JSON summary."""
    from dataclasses import replace

    from cliniloop.services.loop.ner_transformer_simulate import DEFAULT_STRATEGIES, simulate_ner_transformer
    from cliniloop.services.loop.simulate import SimulationError, headline

    if not strategies_given:
        config = replace(config, strategies=DEFAULT_STRATEGIES)
    try:
        result = simulate_ner_transformer(
            pool, test, config, transformer_params=tfm, mc_samples=mc_samples, max_pool=max_pool, max_test=max_test,
            progress=lambda d, t: err_console.print(f"run {d}/{t}"),
        )  # fmt: skip
    except (SimulationError, ValueError, FileNotFoundError) as err:
        fail(str(err))
    summary = {**headline(result), "model": "transformer", "pool_sentences": result["pool_sentences"], "test_sentences": result["test_sentences"]}
    _print_table(summary)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


def simulate(
    task: Annotated[str, typer.Option("--task", help="ner (PubTator pool/test), ecg-beats, eeg-seizure (--pool BONN_DIR), image-boxes (--pool VOC_DIR) or codes (verdict replay from --pairs).")] = "ner",
    pool: Annotated[Path | None, typer.Option("--pool", help="Pool with gold labels (the oracle); eeg-seizure: a Bonn folder; image-boxes: a VOC folder with train.txt/val.txt.")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="Held-out test file (image-boxes: ids file, default <pool>/val.txt).")] = None,
    strategies: Annotated[str, typer.Option("--strategies", help="Comma-separated strategy names.")] = "random,entropy,least_confidence",
    seed_size: Annotated[int, typer.Option("--seed-size", min=1, help="Randomly chosen sentences labelled first.")] = 100,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Sentences asked per round.")] = 100,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Rounds after the seed set.")] = 20,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Repeats with different seeds.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Base random seed.")] = 0,
    model: Annotated[str, typer.Option("--model", help="ner: crf (default) or transformer (strategies random, entropy, bald, badge, crf_entropy, crf).")] = "crf",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="ner --model transformer: fine-tuning epochs per round.")] = 3,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=0, help="ner --model transformer: peak AdamW learning rate.")] = 5e-5,
    mc_samples: Annotated[int, typer.Option("--mc-samples", min=2, help="ner --model transformer: MC-dropout passes for bald.")] = 5,
    max_pool: Annotated[int | None, typer.Option("--max-pool", min=2, help="ner --model transformer: first N pool sentences only.")] = None,
    max_test: Annotated[int | None, typer.Option("--max-test", min=1, help="ner --model transformer: first N test sentences only.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Runs in parallel (processes).")] = 1,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for simulation.json and learning_curves.png.")] = None,
    wfdb_dir: Annotated[Path | None, typer.Option("--wfdb-dir", help="ecg-beats: WFDB folder with .atr references (RECORDS file).")] = None,
    ks: Annotated[str, typer.Option("--ks", help="ecg-beats: corrected beats per record to score at.")] = "0,10,25,50,100",
    folds: Annotated[int, typer.Option("--folds", min=2, help="ecg-beats: record-grouped folds.")] = 5,
    pairs: Annotated[Path | None, typer.Option("--pairs", help="codes: reference mapping TSV (mention, icd10cm or snomed[, type, context]).")] = None,
    system: Annotated[str, typer.Option("--system", help="codes: icd10cm or snomed.")] = "icd10cm",
) -> None:
    """Replay active learning with gold labels as the oracle; prints a JSON summary on stdout."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cliniloop.services.loop.simulate import TASKS, SimulationConfig, SimulationError, headline, simulate_ner

    if task == "codes":
        _simulate_codes(pairs, system, seed, repeats)
        return
    if task not in TASKS:
        fail(f"--task {task!r}: choose one of {', '.join(TASKS)}, codes")
    if task == "ecg-beats":
        _simulate_ecg(wfdb_dir, strategies, ks, folds, seed, out)
        return
    if task in ("eeg-seizure", "image-boxes"):
        _simulate_pool(task, pool, test, strategies, seed_size, batch, rounds, repeats, seed, out)
        return
    if pool is None or test is None:
        fail("--task ner needs --pool FILE and --test FILE (PubTator)")
    config = SimulationConfig(
        strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        seed_size=seed_size,
        batch=batch,
        rounds=rounds,
        repeats=repeats,
        seed=seed,
    )
    if model not in ("crf", "transformer"):
        fail(f"--model {model!r}: choose crf or transformer", 2)
    if model == "transformer":
        given = strategies != "random,entropy,least_confidence"
        _simulate_ner_transformer(pool, test, config, given, {"epochs": epochs, "learning_rate": learning_rate}, mc_samples, max_pool, max_test)
        return
    with Progress(TextColumn("simulate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console) as bar:
        job = bar.add_task("runs", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        try:
            result = simulate_ner(pool, test, config, out_dir=out, jobs=jobs, progress=progress)
        except (SimulationError, ValueError, FileNotFoundError) as err:
            fail(str(err))
    summary = headline(result)
    _print_table(summary)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


def _simulate_codes(pairs: Path | None, system: str, seed: int, repeats: int) -> None:
    """``simulate --task codes``: coders' verdicts replayed from a reference mapping; prints one JSON object."""
    from cliniloop.services.core.settings import get_settings
    from cliniloop.services.evaluation.codes import SYSTEMS, CodesEvalError
    from cliniloop.services.loop.codes_simulate import simulate_codes

    if pairs is None:
        fail("--task codes needs --pairs FILE (a reference mapping: mention and icd10cm / snomed columns)", 2)
    if system not in SYSTEMS:
        fail(f"--system {system!r}: choose one of {', '.join(SYSTEMS)}", 2)
    try:
        result = simulate_codes(pairs, system, get_settings().snomed_rf2, seed=seed, repeats=repeats)
    except (CodesEvalError, ValueError, FileNotFoundError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def _simulate_ecg(wfdb_dir: Path | None, strategies: str, ks: str, folds: int, seed: int, out: Path | None) -> None:
    """``simulate --task ecg-beats``: patient adaptation replay over record-grouped folds; prints one JSON object."""
    from cliniloop.services.loop.ecg_simulate import STRATEGIES, EcgSimulationConfig, simulate_ecg_beats

    if wfdb_dir is None:
        fail("ECG beat replay: --task ecg-beats needs --wfdb-dir DIR (WFDB records with .atr references)", 2)
    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    if names == ("random", "entropy", "least_confidence"):  # the NER default: use the ECG one
        names = ("uncertainty", "bald", "rare_boost", "random")
    try:
        config = EcgSimulationConfig(strategies=names, ks=tuple(int(k) for k in ks.split(",") if k.strip()), folds=folds, seed=seed)
    except ValueError:
        fail(f"--ks {ks!r}: give comma-separated integers", 2)
    try:
        result = simulate_ecg_beats(wfdb_dir, config, out_dir=out, progress=lambda d, t: err_console.print(f"record {d}/{t}"))
    except ValueError as err:
        fail(f"{err} (strategies: {', '.join(STRATEGIES)})")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def _simulate_pool(
    task: str, pool: Path | None, test: Path | None, strategies: str, seed_size: int, batch: int, rounds: int, repeats: int, seed: int,
    out: Path | None,
) -> None:  # fmt: skip
    """``simulate --task eeg-seizure|image-boxes``: pool-based replay against random in the modality's cost unit; prints one JSON object."""
    from cliniloop.services.loop.replay import STRATEGIES, ReplayConfig

    if pool is None or not pool.is_dir():
        fail(f"--task {task} needs --pool DIR ({'a Bonn folder: Z O N F S' if task == 'eeg-seizure' else 'a Pascal VOC folder with train.txt and val.txt'})", 2)
    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    if names == ("random", "entropy", "least_confidence"):  # the NER default: use the replay's
        names = ("random", "uncertainty") if task == "eeg-seizure" else ("random", "uncertainty", "uncertainty_cost")
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        fail(f"--strategies: unknown {unknown}; choose from {', '.join(STRATEGIES)}", 2)
    if seed_size == 100 and batch == 100:  # the NER defaults: sizes for a pool of a few hundred items
        seed_size, batch = (10, 5) if task == "eeg-seizure" else (5, 5)
    config = ReplayConfig(strategies=names, seed_size=seed_size, batch=batch, rounds=rounds, repeats=repeats, seed=seed)
    try:
        if task == "eeg-seizure":
            from cliniloop.services.loop.eeg_simulate import simulate_eeg_seizure

            result = simulate_eeg_seizure(pool, config, out_dir=out, progress=err_console.print)
        else:
            from cliniloop.services.loop.image_simulate import simulate_image_boxes

            result = simulate_image_boxes(pool, pool / "train.txt", test or pool / "val.txt", config, out_dir=out, progress=err_console.print)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def _print_table(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"Labels to reach {summary['target_f1']:.3f} F1 (95% of full pool {summary['full_pool_f1']:.3f})")
    for col in ("strategy", "sentences", "tokens", "× random (sent.)", "saving (sent.)", "saving (tok.)", "final F1", "stop round"):
        table.add_column(col)

    def fmt(x: float | None, pct: bool = False) -> str:
        if x is None:
            return "not reached"
        return f"{x:.0%}" if pct else f"{x:,.0f}" if x >= 10 else f"{x:.2f}"

    for name, row in summary["strategies"].items():
        table.add_row(
            name,
            fmt(row["sentences_to_target"]),
            fmt(row["tokens_to_target"]),
            fmt(row["sentences_ratio_to_random"]),
            fmt(row["sentences_saving_vs_random"], pct=True),
            fmt(row["tokens_saving_vs_random"], pct=True),
            f"{row['final_f1_mean']:.3f}",
            ",".join("-" if r is None else str(r) for r in row["stopping_rule_round"]),
        )
    err_console.print(table)


def eval_first_queue(
    path: Annotated[Path, typer.Argument(help="Reference data the defaults were not trained on: text: a PubTator disease file (NCBI develop, BC5CDR development) or NegEx TSV; "
                                              "ecg: a WFDB folder (MIT-BIH); eeg: a Bonn folder (Z O N F S); image: a Pascal VOC folder (BCCD).")],
    modality: Annotated[str, typer.Option("--modality", help="text, ecg, eeg or image.")],
    records: Annotated[list[str] | None, typer.Option("--records", help="ecg: record names (default: the records kept out of the default's training).")] = None,
    ids: Annotated[Path | None, typer.Option("--ids", help="image: file of image ids (default: <path>/val.txt).")] = None,
) -> None:
    """First-round queue: Spearman correlation between task uncertainty and actual task error of the default model; prints one JSON object."""
    from cliniloop.services.evaluation.first_queue import FirstQueueError, evaluate_first_queue

    try:
        result = evaluate_first_queue(modality, path, ids=ids, records=records or None, message=err_console.print)
    except (FirstQueueError, FileNotFoundError) as err:
        fail(str(err), 2)
    except RuntimeError as err:  # a default model missing or not matching the code
        fail(str(err))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Attach these commands to the main CLI."""
    eval_app.command("ner")(eval_ner)
    eval_app.command("first-queue")(eval_first_queue)
    app.command("simulate")(simulate)
