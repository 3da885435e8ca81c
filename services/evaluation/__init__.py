"""Evaluation against reference data: one module per ``cliniloop eval ...`` command, and the
synthetic de-identification corpus (:mod:`cliniloop.services.evaluation.synthetic_notes`).

Evaluation sits in ``services`` because it reads corpora (``connectors``) and scores models
(``models``); nothing in ``models`` or ``connectors`` imports it.
"""
