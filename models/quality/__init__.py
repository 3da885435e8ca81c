"""Annotation quality: inter-annotator agreement (:mod:`models.quality.agreement`)."""
