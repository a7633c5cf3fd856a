"""What the page needs to draw its form: the SCM's features, a short name for the model, an example record."""

from __future__ import annotations

from typing import Any

from milp_recourse.errors import InputError


def feature_schema(scm) -> list[dict[str, Any]]:
    """Name, type, domain (or levels), actionability and description of each feature, in SCM order."""
    out = []
    for v in scm.variables:
        item = {"name": v.name, "type": v.kind, "domain": [float(v.lower), float(v.upper)],
                "actionability": v.actionability, "description": v.description or None}
        if v.levels:   # categorical / ordinal: the names to show, the codes the API takes
            item["levels"], item["codes"] = list(v.levels), list(range(len(v.levels)))
        elif v.kind in ("binary", "integer") and v.upper - v.lower <= 20:
            item["levels"] = [int(k) for k in range(int(v.lower), int(v.upper) + 1)]
        out.append(item)
    return out


def describe_classifier(classifier) -> str:
    """The estimator's class name (a Pipeline's steps joined by ' > '; a level-reading wrapper shows its estimator)."""
    from milp_recourse.models.categorical_input import LeveledModel

    if isinstance(classifier, LeveledModel):
        classifier = classifier.estimator
    steps = getattr(classifier, "steps", None)
    if steps:
        return " > ".join(type(s).__name__ for _, s in steps)
    return type(classifier).__name__


def example_individual(scm, classifier) -> dict[str, float] | None:
    """The first person a fresh SCM sample's model denies (as `milp-recourse demo` picks), or None."""
    from milp_recourse.models.recipes import first_denied

    try:
        person = first_denied(scm, classifier)
    except InputError:
        return None
    return {n: float(person[n]) for n in scm.names}


__all__ = ["feature_schema", "describe_classifier", "example_individual"]
