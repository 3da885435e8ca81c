"""Errors of the Label Studio JSON conversion, shared by :mod:`cliniloop.connectors.label_studio.convert` and
the per-modality codecs it imports (:mod:`cliniloop.connectors.label_studio.image`), so no codec imports the
converter."""

from __future__ import annotations


class ConversionError(ValueError):
    """A Label Studio result item could not be turned into a region."""


class UnsupportedRegion(ConversionError):
    """A region kind that this connector cannot encode as Label Studio JSON."""
