"""Synthetic labelled clinical notes for the training, job and model tests (no Label Studio needed)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from cliniloop.services.core.schemas import AnnotationIn, TaskIn, TextSpan
from cliniloop.services.core.settings import Settings
from cliniloop.services.core.store import Store

PROBLEMS = ["chest pain", "hypertension", "pneumonia", "diabetes", "asthma", "cough", "fever", "headache"]
MEDICATIONS = ["aspirin", "metformin", "lisinopril", "albuterol", "heparin", "warfarin"]
TEMPLATES = [
    "Patient reports {p}. Started {m} daily.",
    "History of {p}; takes {m} at night.",
    "No {p} today. Continue {m}.",
    "Admitted with {p} and given {m}.",
]
SWAP = {"Problem": "Medication", "Medication": "Problem"}

# (text, [(start, end, label)])
Note = tuple[str, list[tuple[int, int, str]]]
LabelTasks = Callable[..., list[str]]


def synthetic_notes(n: int, seed: int = 0) -> list[Note]:
    """``n`` short notes of three sentences, each naming one problem and one medication."""
    rng = random.Random(seed)
    notes = []
    for i in range(n):
        text, spans = f"Note {seed}-{i}.", []
        for _ in range(3):
            p, m, tpl = rng.choice(PROBLEMS), rng.choice(MEDICATIONS), rng.choice(TEMPLATES)
            sentence = tpl.format(p=p, m=m)
            off = len(text) + 1
            spans += [(off + sentence.index(p), off + sentence.index(p) + len(p), "Problem")]
            spans += [(off + sentence.index(m), off + sentence.index(m) + len(m), "Medication")]
            text += " " + sentence
        notes.append((text, spans))
    return notes


def task_id_of(text: str) -> str:
    """Task ids are content hashes, as at ingest."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def add_labelled(
    store: Store, notes: list[Note], *, swap_labels: bool = False, only: set[str] | None = None, source_prefix: str = "1:"
) -> list[str]:
    """Store the notes as text tasks with one annotation each; return their task ids.

    ``swap_labels`` annotates Problem as Medication and vice versa (garbage labels); ``only``
    restricts the annotations to these task ids; ``source_prefix`` makes new annotations
    (rather than updates) when the same notes are labelled again.
    """
    ids = []
    for i, (text, spans) in enumerate(notes):
        tid = task_id_of(text)
        store.add_tasks([TaskIn(id=tid, modality="text", source_uri=f"mem://note/{tid[:8]}", data={"text": text})])
        ids.append(tid)
        if only is not None and tid not in only:
            continue
        regions = [
            TextSpan(start=a, end=b, text=text[a:b], label=SWAP[lab] if swap_labels else lab) for a, b, lab in spans
        ]
        store.upsert_annotation(AnnotationIn(task_id=tid, source_annotation_id=f"{source_prefix}{i}", regions=regions))
    return ids


@pytest.fixture
def label_tasks(store: Store) -> LabelTasks:
    """``label_tasks(n, seed=0, **kwargs)``: add ``n`` synthetic labelled notes to ``store``."""

    def make(n: int, seed: int = 0, **kwargs) -> list[str]:
        return add_labelled(store, synthetic_notes(n, seed), **kwargs)

    return make


@pytest.fixture
def train_settings(tmp_path: Path) -> Settings:
    """Fast training (20 CRF iterations), a private model registry, no Label Studio."""
    return Settings(
        var_dir=tmp_path / "var",
        ner_max_iterations=20,
        min_train_labels=5,
        label_studio_api_key=None,
        job_poll_interval_s=0.05,
    )
