"""De-identification of clinical notes (HIPAA Safe Harbor identifiers).

Detection (Presidio with clinical recognizers and an offline spaCy pipeline), surrogates that
are consistent per patient (names, per-patient date shift, "90+" ages), and an offset map
between original and de-identified text. Importing this package loads no model.
"""

from .types import PHI_TYPES, PhiSpan

__all__ = ["PHI_TYPES", "PhiSpan"]
