"""The de-identification gate: every note is de-identified before it is stored or pushed.

:class:`NoteDeidentifier` turns a note file into a text task whose text, name and source hold
no identifiers: identifiers found by :class:`~cliniloop.models.text.deid.analyzer.PhiDetector` are
replaced by surrogates that are consistent per patient (keyed by a secret, see
:func:`deid_secret`). The task keeps, under ``data["deid"]``, the detector version, counts per
identifier type, a keyed patient reference and the offset map between original and
de-identified text; never an identifier. :func:`require_deidentified` is the push-side check.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cliniloop.connectors.sources.notes import Note
from cliniloop.models.text.deid.analyzer import PhiDetector
from cliniloop.models.text.deid.deidentify import DeidentifiedText, deidentify
from cliniloop.models.text.deid.deny_list import DenyEntry, DenyList, deny_key
from cliniloop.models.text.deid.surrogates import SurrogateGenerator
from cliniloop.services.core.schemas import TaskIn
from cliniloop.services.core.settings import Settings

#: Key of ``TaskRow.data`` holding the de-identification record.
DEID_KEY = "deid"
#: Actor recorded in de-identification audit events.
ACTOR = "cliniloop-deid"


class NotDeidentifiedError(RuntimeError):
    """Text tasks without a de-identification record were about to leave cliniloop."""


def deid_secret(settings: Settings) -> bytes:
    """The de-identification key: ``CLINILOOP_DEID_SECRET``, else ``<var_dir>/deid.key``.

    The key file is created on first use (32 random bytes, hex, mode 0600) and reused after.
    """
    if settings.deid_secret is not None:
        value = settings.deid_secret.get_secret_value()
        if len(value) < 16:
            raise ValueError("CLINILOOP_DEID_SECRET: use at least 16 characters")
        return value.encode("utf-8")
    path = settings.var_dir / "deid.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def patient_surrogates(secret: bytes, patient_ref: str) -> SurrogateGenerator:
    """The surrogate generator of a patient, keyed by the task's stored ``patient_ref``.

    The gate and corrections both use it, so a corrected identifier gets the surrogate the gate
    would have drawn for it (and the patient's date shift).
    """
    return SurrogateGenerator(secret, "ref:" + patient_ref)


@lru_cache(maxsize=4)
def _detector(spacy_model: str, threshold: float, profile: str, statistical_names: bool = False) -> PhiDetector:
    return PhiDetector(
        spacy_model=spacy_model, threshold=threshold, profile=profile, statistical_names=statistical_names
    ).fit()


def detector_from_settings(settings: Settings) -> PhiDetector:
    """The process-wide detector for these settings (spaCy is loaded once)."""
    return _detector(
        settings.deid_spacy_model, settings.deid_threshold, settings.deid_profile, settings.deid_statistical_names
    )


@dataclass(frozen=True)
class DeidentifiedNote:
    """A note after the gate: the task to store, what was found, and the original if kept."""

    task: TaskIn
    result: DeidentifiedText
    source_path: str
    original_text: str

    @property
    def audit_details(self) -> dict[str, Any]:
        """Audit event details: detector version, counts per type and the patient reference."""
        record = self.task.data[DEID_KEY]
        return {
            "detector": record["detector"],
            "counts": record["counts"],
            "identifiers": sum(record["counts"].values()),
            "patient_ref": record["patient_ref"],
        }


class NoteDeidentifier:
    """De-identifies note files into text tasks.

    Parameters
    ----------
    detector : PhiDetector
        A fitted detector.
    secret : bytes
        Key of surrogates, date shifts, task ids and patient references.
    patient_from : {"auto", "folder", "mrn", "file"}
        How a note's patient is told (see :class:`cliniloop.services.core.settings.Settings`).
    deny_scope : str, optional
        Whose deny-list the ingest loads (:meth:`with_deny_list`): the Label Studio text project
        title. ``None``: no deny-list.
    deny_list : DenyList, optional
        Identifiers annotators marked as missed earlier; matched in every note besides the detector.

    Notes
    -----
    Surrogates are drawn by ``SurrogateGenerator(secret, "ref:" + patient_ref)``, keyed by the
    stored keyed patient reference rather than the patient key itself, so that corrections made
    later (which see only the stored task) draw exactly the surrogates the gate would have.
    """

    def __init__(
        self,
        detector: PhiDetector,
        secret: bytes,
        patient_from: str = "auto",
        deny_scope: str | None = None,
        deny_list: DenyList | None = None,
    ) -> None:
        if patient_from not in {"auto", "folder", "mrn", "file"}:
            raise ValueError(f"patient_from must be auto, folder, mrn or file, not {patient_from!r}")
        self.detector = detector
        self.secret = secret
        self.patient_from = patient_from
        self.deny_scope = deny_scope
        self.deny_list = deny_list

    @classmethod
    def from_settings(cls, settings: Settings) -> NoteDeidentifier:
        """The gate configured by ``CLINILOOP_DEID_*`` settings (deny-list scope: the text project)."""
        return cls(
            detector_from_settings(settings),
            deid_secret(settings),
            settings.deid_patient_from,
            deny_scope=settings.label_studio_project,
        )

    def with_deny_list(self, entries: list[DenyEntry]) -> NoteDeidentifier:
        """A copy of this gate that also replaces the deny-listed identifiers ``entries``."""
        deny = DenyList(deny_key(self.secret), entries) if entries else None
        return NoteDeidentifier(self.detector, self.secret, self.patient_from, self.deny_scope, deny)

    def patient_ref(self, patient_key: str) -> str:
        """The keyed patient reference stored with a task (16 hex characters)."""
        return self._keyed("patient", patient_key, 16)

    def surrogate_generator(self, patient_ref: str) -> SurrogateGenerator:
        """The surrogate generator of a patient, by its stored reference (see :func:`patient_surrogates`)."""
        return patient_surrogates(self.secret, patient_ref)

    def _spans(self, text: str) -> list:
        spans = self.detector.detect(text)
        if self.deny_list is not None:
            spans = [*spans, *self.deny_list.find(text)]
        return spans

    def _keyed(self, purpose: str, value: str, length: int = 64) -> str:
        digest = hmac.new(self.secret, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()
        return digest[:length]

    def task_id(self, original_text: str) -> str:
        """Task id: keyed hash of the original text (stable across detector versions, not reversible)."""
        return self._keyed("task", original_text)

    def patient_key(self, path: Path, root: Path, text: str, spans: list) -> str:
        """Which patient a note belongs to (a key only ever used keyed, never stored)."""
        try:
            parts = path.resolve().relative_to(root.resolve()).parts
        except ValueError:
            parts = (path.name,)
        if self.patient_from in {"auto", "folder"} and len(parts) > 1:
            return "folder:" + parts[0]
        if self.patient_from in {"auto", "mrn"}:
            mrn = next((text[s.start : s.end] for s in spans if s.type == "MRN"), None)
            if mrn:
                return "mrn:" + "".join(ch for ch in mrn if ch.isalnum()).upper()
        return "file:" + "/".join(parts)

    def deidentify_note(self, note: Note, root: Path) -> DeidentifiedNote:
        """De-identify one note read by :func:`cliniloop.connectors.sources.notes.read_note`."""
        spans = self._spans(note.text)
        key = self.patient_key(note.path, root, note.text, spans)
        patient_ref = self.patient_ref(key)
        generator = self.surrogate_generator(patient_ref)
        result = deidentify(note.text, spans, generator)
        # file and folder names can hold names, MRNs and dates that no detector sees (lower case,
        # run together): the stored and pushed name is neutral, a keyed hash of the note plus its
        # extension when that is a plain one (issue 19)
        ext = note.path.suffix.lower()
        safe_name = f"note-{self.task_id(note.text)[:12]}" + (ext if ext[1:].isascii() and ext[1:].isalnum() and len(ext) <= 6 else "")
        task_id = self.task_id(note.text)
        record = {
            "detector": self.detector.version,
            "patient_ref": patient_ref,
            **result.to_json(),
        }
        task = TaskIn(
            id=task_id,
            modality="text",
            source_uri=f"deid:{patient_ref}/{task_id[:16]}",
            data={"text": result.text, "note_name": safe_name, DEID_KEY: record},
        )
        return DeidentifiedNote(task=task, result=result, source_path=str(note.path.resolve()), original_text=note.text)


def deny_entries(store: Any, scope: str) -> list[DenyEntry]:
    """The deny-list of ``scope`` stored in ``store`` (keyed digests, types, token counts)."""
    return [DenyEntry(r.digest, r.type, r.tokens) for r in store.deny_list(scope)]


def is_deidentified(data: dict[str, Any]) -> bool:
    """Whether a text task's data carries a de-identification record."""
    record = data.get(DEID_KEY)
    return isinstance(record, dict) and bool(record.get("detector"))


def require_deidentified(tasks: list[Any]) -> None:
    """Refuse text tasks without a de-identification record.

    Raises
    ------
    NotDeidentifiedError
        Naming how many tasks failed the check and the first one's id.
    """
    bad = [t.id for t in tasks if t.modality == "text" and not is_deidentified(t.data)]
    if bad:
        raise NotDeidentifiedError(
            f"refusing to push {len(bad)} text task(s) not marked de-identified (e.g. task {bad[0]}); "
            "ingest notes with `cliniloop ingest`, which de-identifies them"
        )


def shareable_data(data: dict[str, Any]) -> dict[str, Any]:
    """Task data as it may leave cliniloop: without the de-identification record."""
    return {k: v for k, v in data.items() if k != DEID_KEY}
