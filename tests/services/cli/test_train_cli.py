from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli import render
from cliniloop.services.cli.main import app
from cliniloop.services.core.settings import get_settings
from cliniloop.services.core.store import Store
from cliniloop.services.loop.predict import NER_MODEL_NAME


@pytest.fixture
def cli_store(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The CLI works on the ``store`` fixture's database, trains fast, and has no Label Studio."""
    monkeypatch.setenv("CLINILOOP_DATABASE_URL", store.url)
    monkeypatch.setenv("CLINILOOP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CLINILOOP_NER_MAX_ITERATIONS", "20")
    monkeypatch.delenv("CLINILOOP_LABEL_STUDIO_API_KEY", raising=False)
    for console in (render.console, render.err_console):
        monkeypatch.setattr(console, "width", 200)  # table cells unwrapped
    get_settings.cache_clear()
    yield store
    get_settings.cache_clear()


BOX = str.maketrans({c: " " for c in "│┃┌┐└┘├┤┬┴┼─━┏┓┗┛┡┩╇"})


def _flat(text: str) -> str:
    """Table text without box drawing, whitespace collapsed."""
    return " ".join(text.translate(BOX).split())


def test_train_wait_runs_the_job_and_prints_a_summary(cli_store: Store, label_tasks) -> None:
    runner = CliRunner()
    label_tasks(20)
    out = runner.invoke(app, ["train"])
    assert out.exit_code == 0, out.output
    version = cli_store.alias(NER_MODEL_NAME)
    assert version and version.startswith("crf-")
    text = _flat(out.stdout)
    assert "Job 1" in text and version in text and "promoted yes" in text and "first evaluated version" in text
    assert "Dev split (strict spans, micro)" in text and "not configured" in text
    assert "job 1" in _flat(out.stderr) and "100%" in out.stderr, "progress bar on stderr"

    out = runner.invoke(app, ["jobs"])
    assert out.exit_code == 0 and "train-text" in out.stdout and "succeeded" in out.stdout
    out = runner.invoke(app, ["jobs", "1"])
    assert out.exit_code == 0 and version in _flat(out.stdout)
    assert runner.invoke(app, ["jobs", "7"]).exit_code == 1

    out = runner.invoke(app, ["models", "list"])
    assert out.exit_code == 0 and version in out.stdout and "★" in out.stdout, out.output
    out = runner.invoke(app, ["models", "rollback"])
    assert out.exit_code == 1 and "no earlier promoted version" in _flat(out.output)


def test_no_wait_queues_and_jobs_run_executes(cli_store: Store, label_tasks) -> None:
    runner = CliRunner()
    label_tasks(20)
    out = runner.invoke(app, ["train", "--no-wait", "--max-iterations", "10"])
    assert out.exit_code == 0 and "job 1 queued" in out.stdout
    again = runner.invoke(app, ["train", "--no-wait"])
    assert "job 1 queued" in again.stdout, "a queued job absorbs the second request"
    (job,) = cli_store.jobs()
    assert job.status == "queued" and job.params == {"max_iterations": 10} and job.requested_by.startswith("cli")
    out = runner.invoke(app, ["jobs", "--run"])
    assert out.exit_code == 0, out.output
    assert cli_store.job(1).status == "succeeded"
    first = cli_store.alias(NER_MODEL_NAME)

    # a second, different version; then roll back to the first and promote the second by hand
    label_tasks(40)
    assert runner.invoke(app, ["train"]).exit_code == 0
    second = cli_store.alias(NER_MODEL_NAME)
    assert second != first
    out = runner.invoke(app, ["models", "rollback"])
    assert out.exit_code == 0, out.output
    assert cli_store.alias(NER_MODEL_NAME) == first and "Rollback of clinical-ner" in out.stdout
    out = runner.invoke(app, ["models", "promote", second])
    assert out.exit_code == 0 and cli_store.alias(NER_MODEL_NAME) == second
    out = runner.invoke(app, ["models", "promote", "crf-nonexistent"])
    assert out.exit_code == 1 and "no registered version" in _flat(out.output)


def test_train_with_too_few_labels_fails_clearly(cli_store: Store, label_tasks) -> None:
    label_tasks(3)
    out = CliRunner().invoke(app, ["train"])
    assert out.exit_code == 1
    text = _flat(out.stdout)
    assert "failed" in text and "3 annotated text task(s); training needs at least 5" in text
    assert cli_store.alias(NER_MODEL_NAME) is None
