"""The coders' Label Studio project: one task per (mention, context), candidates as dynamic choices.

Task data
---------
``mention``      the mention text
``context``      its sentence (or a window of the note), where the coder reads it
``candidates``   ``[{"value": "<system>:<code>", "html": "<code> — <display> (<system>, <score>)"}]``,
                 rendered by ``<Choices value="$candidates">`` (Label Studio's dynamic choices)
``meta``         ids that bring a verdict back to its mention (task id, offsets, systems' versions)
``sentence``     the whole sentence (same text as ``context``)
``section``      the note section the mention is in ("" when unknown)
``assertion``    the mention's assertion (present, absent, possible, family, historical, ...)
``mention_type`` its label (Problem, Test, ...)
``where_html``   what the coder sees above the candidates: type, section, assertion and the
                 sentence with the mention in ``<mark>``

A coder ticks the candidates that are right (several systems may each have one), sets a verdict
(accept / reject all / needs review) and may type an alternative code as ``<system>:<code>`` or a
bare code (taken as ICD-10-CM when it looks like one, SNOMED CT when it is all digits).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CONTEXT_TAG = "context"
CANDIDATE_TAG = "candidate"
VERDICT_TAG = "verdict"
ALTERNATIVE_TAG = "alternative"
#: Verdict choice values (what the coder sees) → stored verdicts.
VERDICT_VALUES = {"accept": "accept", "reject all": "reject", "needs review": "needs_review"}
SYSTEM_NAMES = {"icd10cm": "ICD-10-CM", "snomed": "SNOMED CT", "icd10pcs": "ICD-10-PCS"}
_PCS_SHAPE = re.compile(r"^[0-9][0-9A-HJ-NP-Z]{6}$", re.IGNORECASE)
_ICD_SHAPE = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$", re.IGNORECASE)


class CodingResultError(ValueError):
    """A coder annotation that cannot be read (the message names the field)."""


def coder_label_config() -> str:
    """The coders' project config (XML)."""
    verdicts = "".join(f'<Choice value="{v}"/>' for v in VERDICT_VALUES)
    return (
        "<View>"
        '<Header value="$mention"/>'
        '<HyperText name="where" value="$where_html" inline="true"/>'
        # the results' target; hidden: the sentence is already shown above with the mention marked
        f'<View style="display: none"><Text name="{CONTEXT_TAG}" value="$context"/></View>'
        '<Header value="Candidate codes (tick every right one)" size="6"/>'
        f'<Choices name="{CANDIDATE_TAG}" toName="{CONTEXT_TAG}" choice="multiple" value="$candidates"/>'
        f'<Choices name="{VERDICT_TAG}" toName="{CONTEXT_TAG}" choice="single-radio" required="true">{verdicts}</Choices>'
        f'<TextArea name="{ALTERNATIVE_TAG}" toName="{CONTEXT_TAG}" maxSubmissions="1" rows="1" '
        'placeholder="alternative code, e.g. icd10cm:E11.65 or snomed:44054006"/>'
        "</View>"
    )


def candidate_value(system: str, code: str) -> str:
    """The choice value of a candidate: ``"<system>:<code>"``."""
    return f"{system}:{code}"


def coder_task_payload(
    mention: str,
    context: str,
    candidates: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any],
    section: str | None = None,
    assertion: str | None = None,
    label: str | None = None,
    sentence_html: str | None = None,
) -> dict[str, Any]:
    """Label Studio task JSON for one mention.

    Parameters
    ----------
    mention, context : str
        The mention and the text the coder reads it in.
    candidates : sequence of mappings
        Each with ``system``, ``code``, ``display`` and ``score`` (best first, any systems).
    meta : mapping
        Stored on the task as ``data.meta`` (task id, mention offsets, taxonomy versions).
    section, assertion, label : str or None
        Where the mention is, what is asserted of it, its type: shown to the coder.
    sentence_html : str or None
        The sentence as HTML with the mention in ``<mark>`` (default: the escaped context with the
        first occurrence of the mention marked).
    """
    choices = [
        {
            "value": candidate_value(c["system"], c["code"]),
            "html": (
                f"<b>{html.escape(c['code'])}</b> — {html.escape(c.get('display', ''))} "
                f"<small>({SYSTEM_NAMES.get(c['system'], c['system'])}, {float(c.get('score', 0.0)):.2f})</small>"
            ),
        }
        for c in candidates
    ]
    if sentence_html is None:
        i = context.find(mention) if mention else -1
        sentence_html = html.escape(context) if i < 0 else (
            html.escape(context[:i]) + f"<mark>{html.escape(mention)}</mark>" + html.escape(context[i + len(mention):])
        )  # fmt: skip
    facts = " · ".join(
        f"<b>{name}</b>: {html.escape(str(value))}"
        for name, value in (("Type", label), ("Section", section), ("Assertion", assertion))
        if value
    )
    where = (f"<p>{facts}</p>" if facts else "") + f"<p>{sentence_html}</p>"
    if not choices:  # "no good candidate" is an answer: say so rather than show an empty list
        where += (
            "<p><i>No candidate code scored above the offer threshold. Type the right code below, "
            "or choose “reject all” when the mention needs none.</i></p>"
        )
    return {
        "data": {
            "mention": mention, "context": context, "sentence": context, "section": section or "",
            "assertion": assertion or "", "mention_type": label or "", "where_html": where,
            "candidates": choices, "meta": dict(meta),
        }  # fmt: skip
    }


@dataclass
class CoderResult:
    """What a coder said about one mention.

    Attributes
    ----------
    verdict : str
        ``accept``, ``reject`` or ``needs_review``.
    chosen : list of (system, code)
        Ticked candidates.
    alternative : (system, code) or None
        The typed alternative, split into system and code (not yet checked against the system).
    """

    verdict: str
    chosen: list[tuple[str, str]] = field(default_factory=list)
    alternative: tuple[str, str] | None = None


def parse_alternative(text: str) -> tuple[str, str] | None:
    """``"icd10cm:E11.65"``, ``"snomed:44054006"`` or a bare code → ``(system, code)``; blank → None.

    A bare code is ICD-10-CM when it has the ICD-10 shape, SNOMED CT when it is all digits,
    ICD-10-PCS when it is seven characters starting with a digit and not all digits ("0DTJ0ZZ");
    anything else is returned with system ``"unknown"`` so the pull step can flag it.
    """
    text = (text or "").strip()
    if not text:
        return None
    if ":" in text:
        system, code = (p.strip() for p in text.split(":", 1))
        system = system.lower().replace("-", "").replace(" ", "")
        system = {"icd10": "icd10cm", "icd10cm": "icd10cm", "snomed": "snomed", "snomedct": "snomed", "sct": "snomed", "pcs": "icd10pcs"}.get(system, system)
        return system, code
    if text.isdigit():
        return "snomed", text
    if _PCS_SHAPE.match(text):  # seven characters starting with a digit: ICD-10-PCS ("0DTJ0ZZ")
        return "icd10pcs", text.upper()
    if _ICD_SHAPE.match(text):
        return "icd10cm", text
    return "unknown", text


def coder_result(result: Sequence[Mapping[str, Any]]) -> CoderResult:
    """Read a coder annotation's ``result`` list.

    Raises
    ------
    CodingResultError
        Without a verdict, or with a verdict value this config does not have.
    """
    verdict = None
    chosen: list[tuple[str, str]] = []
    alternative = None
    for item in result:
        value = item.get("value") or {}
        name = item.get("from_name")
        if name == VERDICT_TAG:
            picked = value.get("choices") or []
            if len(picked) != 1 or picked[0] not in VERDICT_VALUES:
                raise CodingResultError(f"verdict: expected one of {sorted(VERDICT_VALUES)}, got {picked}")
            verdict = VERDICT_VALUES[picked[0]]
        elif name == CANDIDATE_TAG:
            for v in value.get("choices") or []:
                system, _, code = str(v).partition(":")
                if code:
                    chosen.append((system, code))
        elif name == ALTERNATIVE_TAG:
            texts = value.get("text") or []
            alternative = parse_alternative(texts[0] if texts else "")
    if verdict is None:
        raise CodingResultError("verdict: the annotation has no verdict")
    return CoderResult(verdict=verdict, chosen=chosen, alternative=alternative)


def coder_result_json(verdict: str, chosen: Sequence[tuple[str, str]] = (), alternative: str | None = None) -> list[dict[str, Any]]:
    """Build a coder annotation ``result`` (what the Label Studio editor saves): for tests and imports."""
    label = {v: k for k, v in VERDICT_VALUES.items()}[verdict]
    out: list[dict[str, Any]] = [
        {"from_name": VERDICT_TAG, "to_name": CONTEXT_TAG, "type": "choices", "value": {"choices": [label]}}
    ]
    if chosen:
        out.append(
            {"from_name": CANDIDATE_TAG, "to_name": CONTEXT_TAG, "type": "choices",
             "value": {"choices": [candidate_value(s, c) for s, c in chosen]}}
        )  # fmt: skip
    if alternative:
        out.append({"from_name": ALTERNATIVE_TAG, "to_name": CONTEXT_TAG, "type": "textarea", "value": {"text": [alternative]}})
    return out
