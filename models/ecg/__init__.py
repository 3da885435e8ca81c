"""ECG models: beat detection (:mod:`cliniloop.models.ecg.detect`) and beat classification.

Importing this package loads nothing (neurokit2, wfdb and scikit-learn are imported by the
functions that need them); import the submodules directly.
"""
