"""Issue 20, defect 3 (text): a 1.2 MB note is predicted in pieces, one failing note never stops the
others, it is reported by its neutral name, and a re-run retries only the failures."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cliniloop.services.core.schemas import TaskIn
from cliniloop.services.core.store import Store
from cliniloop.services.loop.predict import PIECE_CHARS, predict_tasks, text_pieces


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    text: str
    label: str = "Problem"
    probability: float = 0.9
    assertion: str = "present"
    assertion_probability: float = 0.9
    section: str | None = None
    sentence_index: int = 0

    @property
    def confidence(self) -> float:
        return 0.81


class _SpacyLike:
    """Finds 'pneumonia'; refuses texts over spaCy's 1,000,000 characters and any text with 'BOOM'."""

    version = "fake-1"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, texts: Sequence[str]) -> list[list[_Mention]]:
        self.calls += 1
        for t in texts:
            if len(t) > 1_000_000:
                raise ValueError("[E088] Text of length > 1000000 exceeds maximum")
            if "BOOM" in t:
                raise KeyError("boom")
        return [[_Mention(m.start(), m.end(), m.group()) for m in re.finditer("pneumonia", t)] for t in texts]


def _task(i: int, text: str) -> TaskIn:
    return TaskIn(id=f"t{i:03d}", modality="text", source_uri=f"note-{i}.txt", data={"text": text, "note_name": f"note-{i:012x}.txt"})


def test_long_note_is_predicted_in_pieces_with_offsets_kept(store: Store) -> None:
    long = ("Stable overnight, no pneumonia seen.\n" * 34_000)[:1_250_000]  # ~1.2 MB, within ingest's 5 MiB
    store.add_tasks([_task(0, long), _task(1, "Possible pneumonia.")])
    report = predict_tasks(store, _SpacyLike())
    assert report.predicted == 2 and report.failed == []
    pred = store.latest_predictions("clinical-text", ["t000"])["t000"]
    assert len(pred.regions) == long.count("pneumonia")
    assert all(long[r["start"] : r["end"]] == "pneumonia" for r in pred.regions)
    pieces = text_pieces(long)
    assert len(pieces) > 1 and all(len(p) <= PIECE_CHARS for _, p in pieces) and "".join(p for _, p in pieces) == long


def test_one_failing_note_is_reported_by_neutral_name_and_retried_alone(store: Store) -> None:
    store.add_tasks([_task(i, "Possible pneumonia." if i != 3 else "BOOM pneumonia") for i in range(6)])
    model = _SpacyLike()
    report = predict_tasks(store, model, batch_size=4)
    assert report.predicted == 5 and [name for name, _ in report.failed] == ["note-000000000003.txt"]
    assert "KeyError" in report.failed[0][1]
    again = predict_tasks(store, model, batch_size=4)
    assert again.already_predicted == 5 and [n for n, _ in again.failed] == ["note-000000000003.txt"] and again.predicted == 0
