"""What an audit event may hold: ids, counts, versions and short labels, never note text or identifiers.

The audit trail is kept for years and read by people who must not see patient data, so
:func:`check_details` refuses what could carry it: fields named like text or identifiers, long
strings (a sentence of a note), and anything that is not JSON scalars, lists or mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Field names that would hold note text or identifiers (top-level fields, compared lower-case;
#: nested keys are data, e.g. counts per identifier type ``{"NAME": 2}``).
FORBIDDEN_FIELDS = frozenset(
    {
        "text", "note", "notes", "content", "original", "raw", "sentence", "context", "mention",
        "name", "patient", "patient_name", "mrn", "ssn", "phone", "email", "address", "dob",
        "birth_date", "surrogate", "password", "token", "secret",
        "api_key", "authorization",
    }
)  # fmt: skip
#: Longest string value kept (a path, a model version, an error type): longer ones are refused.
MAX_STRING_CHARS = 300


#: Longest actor, action, entity and entity id (the columns' sizes): longer ones are refused.
MAX_FIELD_CHARS = {"actor": 256, "action": 64, "entity": 64, "entity_id": 128}


class AuditDetailError(ValueError):
    """An audit event's details could carry note text, identifiers or secrets."""


def check_event(actor: str, action: str, entity: str, entity_id: str | None) -> None:
    """Raise :class:`AuditDetailError` when an event's own fields are not short strings.

    The columns are bounded (PostgreSQL enforces it, SQLite does not): an oversized value, e.g.
    a 20,000-character request path, is refused on every database rather than stored.
    """
    for key, value in (("actor", actor), ("action", action), ("entity", entity), ("entity_id", entity_id)):
        if value is None and key == "entity_id":
            continue
        if not isinstance(value, str):
            raise AuditDetailError(f"audit field {key!r} is a {type(value).__name__}, not a string")
        if len(value) > MAX_FIELD_CHARS[key]:
            raise AuditDetailError(f"audit field {key!r} is a {len(value)}-character string (at most {MAX_FIELD_CHARS[key]})")


def bounded(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters, the cut marked (for request paths and reasons)."""
    if len(value) <= limit:
        return value
    mark = f"...(+{len(value) - limit} chars)"
    return value[: max(0, limit - len(mark))] + mark


def check_details(details: Mapping[str, Any], *, where: str = "details") -> None:
    """Raise :class:`AuditDetailError` naming the field when ``details`` may not be audited.

    Parameters
    ----------
    details : mapping
        The event's fields.
    where : str
        Path of ``details`` in the event, for the message.
    """
    for key, value in details.items():
        path = f"{where}.{key}"
        if str(key).lower() in FORBIDDEN_FIELDS:
            raise AuditDetailError(f"audit field {path!r} may hold note text, identifiers or secrets")
        _check_value(value, path)


def _check_nested(mapping: Mapping[str, Any], where: str) -> None:
    for key, value in mapping.items():
        _check_value(value, f"{where}.{key}")


def _check_value(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise AuditDetailError(f"audit field {path!r} is a {len(value)}-character string (at most {MAX_STRING_CHARS})")
        return
    if isinstance(value, Mapping):
        _check_nested(value, path)
        return
    if isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]")
        return
    raise AuditDetailError(f"audit field {path!r} is a {type(value).__name__}, not a JSON value")
