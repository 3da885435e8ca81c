"""Clinical-text pre-annotation: rule-based medspaCy pipeline (lexicons, sections, ConText).

Public API: :class:`ClinicalTextAnnotator`, :class:`Mention`, :data:`LABELS`, :data:`ASSERTIONS`
(the NegEx evaluation is :func:`cliniloop.services.evaluation.negex.evaluate_negex`). Importing this package loads no spaCy model
and reads no rule file; :meth:`ClinicalTextAnnotator.fit` does.
"""

from .annotator import ClinicalTextAnnotator
from .mention import ASSERTIONS, LABELS, Mention

__all__ = ["ASSERTIONS", "LABELS", "ClinicalTextAnnotator", "Mention"]
