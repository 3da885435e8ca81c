"""Annotation quality: inter-annotator agreement (:mod:`cliniloop.models.quality.agreement`)."""
