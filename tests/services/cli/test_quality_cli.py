from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cliniloop.services.cli.main import app
from cliniloop.services.core.access import SECRETS_FILE
from cliniloop.services.core.settings import get_settings
from cliniloop.services.core.store import Store, open_store
from cliniloop.services.quality.audit_export import COLUMNS
from tests.services.quality_seed import SINGLE, seed_quality, span

SECRET_ENV = ("CLINILOOP_API_ADMIN_TOKEN", "CLINILOOP_API_ENGINEER_TOKEN", "CLINILOOP_API_ANNOTATOR_TOKEN", "CLINILOOP_WEBHOOK_SECRET")


def flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines


@pytest.fixture
def store(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The CLI's store, seeded: a planted disagreement, a gold task both annotators labelled, a single-annotator task."""
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    st = open_store(get_settings().resolved_database_url)
    seed_quality(st, single=True)
    yield st
    st.close()


def test_report_agreement_json(store: Store) -> None:
    out = CliRunner().invoke(app, ["report", "agreement", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["multi_annotated_tasks"] == {"text": 2}
    assert report["rows"] and all(r["modality"] == "text" for r in report["rows"])
    assert report["low"], "the planted disagreement is listed as low agreement"
    assert {"alice | bob", "all"} <= {r["annotators"] for r in report["rows"]}


def test_report_agreement_table(store: Store) -> None:
    out = CliRunner().invoke(app, ["report", "agreement", "--pairs"])
    assert out.exit_code == 0, out.output
    assert "span_f1_exact" in out.output and "low agreement" in flat(out.output)


def test_report_agreement_of_an_empty_store(env: Path) -> None:
    out = CliRunner().invoke(app, ["report", "agreement", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rows"] == []


def test_report_gold_json(store: Store) -> None:
    out = CliRunner().invoke(app, ["report", "gold", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["gold_tasks"] == 1 and report["target"] == get_settings().gold_target
    assert {a["annotator"]: a["accuracy"] for a in report["annotators"]}["alice"] == 1.0
    assert report["below_target"] == ["bob"]
    out = CliRunner().invoke(app, ["report", "gold", "--period", "year"])
    assert out.exit_code == 1 and "--period" in out.output


def test_report_suggestions_json(store: Store) -> None:
    out = CliRunner().invoke(app, ["report", "suggestions", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    [version] = report["versions"]
    assert version["model_version"] == "rules-1" and version["annotations"] == 2
    assert version["accepted"] == 2 and version["unchanged_annotations"] == 1
    assert {r["label"] for r in report["labels"]} == {"Problem", "Medication"}


def test_adjudicate_no_push_opens_an_adjudication_for_the_disagreement(store: Store) -> None:
    out = CliRunner().invoke(app, ["adjudicate", "--no-push"])
    assert out.exit_code == 0, out.output
    assert "disagreements: 1 new" in out.output
    [adj] = store.adjudications()
    assert adj.task_id == "task-disputed" and adj.status == "open" and adj.annotators == ["alice", "bob"]
    assert store.audit_events("adjudication_opened")
    again = CliRunner().invoke(app, ["adjudicate", "--no-push"])
    assert again.exit_code == 0 and "disagreements: 0 new" in again.output
    assert len(store.adjudications()) == 1


def test_gold_mark_list_remove(store: Store) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["gold", "mark", "task-single", "--actor", "tester"])
    assert out.exit_code == 0, out.output
    assert "1 gold tasks" in out.output and "created" in out.output
    gold = store.gold_answers()
    assert set(gold) == {"task-gold", "task-single"}
    assert gold["task-single"].created_by == "tester" and len(gold["task-single"].regions) == 2
    out = runner.invoke(app, ["gold", "list"])
    assert out.exit_code == 0, out.output
    assert "2 gold tasks" in out.output and "task-single" in out.output and "tester" in out.output
    out = runner.invoke(app, ["gold", "remove", "task-single", "no-such-task"])
    assert out.exit_code == 0, out.output
    assert "1 removed" in out.output
    assert set(store.gold_answers()) == {"task-gold"}
    assert [e.entity_id for e in store.audit_events("gold_removed")] == ["task-single"]


def test_gold_mark_refuses_a_disagreement(store: Store) -> None:
    out = CliRunner().invoke(app, ["gold", "mark", "task-disputed"])
    assert out.exit_code == 1
    assert "task-disputed" in out.output and "disagree" in out.output
    assert set(store.gold_answers()) == {"task-gold"}


def test_gold_import_of_a_good_file(store: Store, env: Path) -> None:
    good = env / "gold.jsonl"
    regions = [span(SINGLE, "fever", "Problem").model_dump(mode="json")]
    good.write_text(json.dumps({"task_id": "task-single", "regions": regions}) + "\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["gold", "import", str(good)])
    assert out.exit_code == 0, out.output
    assert "gold.jsonl" in out.output and "1 created" in out.output
    assert store.gold_answers()["task-single"].source == "file:gold.jsonl"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json\n", "neither JSON nor JSON lines"),
        (json.dumps({"task_id": "no-such-task", "regions": []}) + "\n", "not in the store"),
        (json.dumps([{"task_id": "task-single", "regions": [{"kind": "span", "label": "x", "start": 5, "end": 2, "text": "y"}]}]), "invalid regions"),
        (json.dumps([1, 2]), "not an object"),
    ],
    ids=["not-json", "unknown-task", "bad-regions", "not-objects"],
)
def test_gold_import_of_a_bad_file_fails_naming_it(store: Store, env: Path, content: str, problem: str) -> None:
    bad = env / "bad-gold.json"
    bad.write_text(content, encoding="utf-8")
    before = store.counts()
    out = CliRunner().invoke(app, ["gold", "import", str(bad)])
    assert out.exit_code != 0
    message = flat(out.output)
    assert str(bad) in message and problem in message
    assert store.counts() == before, "nothing is stored from a bad file"


def test_gold_import_of_a_missing_file(env: Path) -> None:
    out = CliRunner().invoke(app, ["gold", "import", str(env / "missing.json")])
    assert out.exit_code != 0 and "missing.json" in flat(out.output)


def _seed_audit(store: Store) -> None:
    store.audit("cli", "ingest", "task", "t1", new=2)
    store.audit("cli", "push", "project", "http://ls/projects/1", sent=1)
    store.audit("cliniloop", "ingest", "task", "t2", new=1)


def test_audit_csv_to_a_file(store: Store, env: Path) -> None:
    _seed_audit(store)
    total = len(store.audit_events())
    target = env / "exports" / "audit.csv"
    out = CliRunner().invoke(app, ["audit", "--format", "csv", "--out", str(target)])
    assert out.exit_code == 0, out.output
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 1 + total
    assert [r[COLUMNS.index("action")] for r in rows[-3:]] == ["ingest", "push", "ingest"]
    assert f"wrote {total} audit events" in flat(out.output)
    [export] = store.audit_events("export")
    assert export.entity_id == "audit.csv" and export.details == {"rows": total, "format": "csv"}


def test_audit_json_filtered_by_action(store: Store) -> None:
    _seed_audit(store)
    out = CliRunner().invoke(app, ["audit", "--format", "json", "--action", "ingest"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["count"] == 2 and [e["entity_id"] for e in body["events"]] == ["t1", "t2"]
    assert all(e["action"] == "ingest" for e in body["events"])
    out = CliRunner().invoke(app, ["audit", "--format", "json", "--action", "ingest", "--actor", "cliniloop"])
    assert [e["entity_id"] for e in json.loads(out.stdout)["events"]] == ["t2"]
    out = CliRunner().invoke(app, ["audit", "--format", "json", "--limit", "1"])
    assert [e["entity_id"] for e in json.loads(out.stdout)["events"]] == ["t2"], "the newest one"


def test_audit_time_bounds(store: Store) -> None:
    _seed_audit(store)
    out = CliRunner().invoke(app, ["audit", "--format", "json", "--since", "2999-01-01"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"count": 0, "events": []}
    out = CliRunner().invoke(app, ["audit", "--format", "json", "--since", "2000-01-01T00:00", "--action", "push"])
    assert json.loads(out.stdout)["count"] == 1
    out = CliRunner().invoke(app, ["audit", "--format", "json", "--until", "2000-01-01"])
    assert json.loads(out.stdout)["count"] == 0


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_audit_bad_time_fails_with_a_message(store: Store, option: str) -> None:
    out = CliRunner().invoke(app, ["audit", option, "last tuesday"])
    assert out.exit_code == 1
    message = flat(out.output)
    assert option in message and "last tuesday" in message and "ISO" in message


def test_audit_bad_format_fails(store: Store) -> None:
    out = CliRunner().invoke(app, ["audit", "--format", "xml"])
    assert out.exit_code == 1 and "--format" in out.output


def test_audit_table(store: Store) -> None:
    _seed_audit(store)
    out = CliRunner().invoke(app, ["audit", "--action", "push"])
    assert out.exit_code == 0, out.output
    assert "1 events" in out.output and "push" in out.output


def test_tokens_lists_roles_and_shows_one(store: Store, env: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["tokens"])
    assert out.exit_code == 0, out.output
    lines = flat(out.output)
    for role in ("admin", "engineer", "annotator", "webhook"):
        assert role in lines
    assert "".join(out.output.split()).count(SECRETS_FILE) == 4, "every secret comes from the file"  # rich breaks long paths
    path = env / "var" / SECRETS_FILE
    stored = json.loads(path.read_text(encoding="utf-8"))
    for secret in stored.values():
        assert secret not in out.output, "listing the roles prints no secret"
    out = runner.invoke(app, ["tokens", "--show", "engineer"])
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == stored["engineer"]
    out = runner.invoke(app, ["tokens", "--show", "webhook"])
    assert out.stdout.strip() == stored["webhook"]
    out = runner.invoke(app, ["tokens", "--show", "root"])
    assert out.exit_code == 1 and "--show" in out.output


def test_tokens_from_settings(store: Store, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINILOOP_API_ENGINEER_TOKEN", "engineer-token-set-in-env-01")
    get_settings.cache_clear()
    out = CliRunner().invoke(app, ["tokens"])
    assert out.exit_code == 0, out.output
    assert "from CLINILOOP_API_ENGINEER_TOKEN" in flat(out.output)
    out = CliRunner().invoke(app, ["tokens", "--show", "engineer"])
    assert out.stdout.strip() == "engineer-token-set-in-env-01"
    assert "engineer" not in json.loads((env / "var" / SECRETS_FILE).read_text(encoding="utf-8"))
