"""The request body's shape for the OpenAPI page at /docs (documentation only: request.py validates)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE = {"individual": {"G": 0, "A": 19.035, "E": -0.116448, "L": -3.24515, "D": -3.92459, "I": 0.409958,
                          "S": -11.4737},
           "actionable": ["E", "L", "S"], "directions": {"S": "up"}, "bounds": {"L": [-5, None]},
           "ranking": ["S", "L", "E"]}


class SolveRequest(BaseModel):
    """One person's question: their record, hard constraints and soft preferences (give at most one of
    ranking, scores, weights)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    individual: dict[str, float] = Field(description="the person's record, {feature: value} for every feature")
    actionable: Optional[list[str]] = Field(None, description="features the person can change (default: the "
                                                              "spec's actionable features)")
    bounds: dict[str, tuple[Optional[float], Optional[float]]] = Field(
        default_factory=dict, description="allowed new values, {feature: [lo, hi]}; either end may be null")
    directions: dict[str, Literal["up", "down"]] = Field(default_factory=dict,
                                                         description="{feature: 'up' | 'down'}: only increase / "
                                                                     "decrease")
    max_changes: Optional[int] = Field(None, description="at most this many features intervened on")
    ranking: Optional[list[str]] = Field(None, description="features from easiest to hardest to change")
    scores: Optional[dict[str, float]] = Field(None, description="difficulty 1 (easy) .. 5 (hard) per feature")
    weights: Optional[dict[str, float]] = Field(None, description="cost weight per feature (default 1)")
    preferred: dict[str, tuple[float, float]] = Field(default_factory=dict,
                                                      description="preferred value ranges, penalised outside")
    ranking_map: Literal["rank", "exponential", "reciprocal-rank"] = Field("rank", description="ranking -> weight")
    score_map: Literal["identity", "normalized"] = Field("identity", description="scores -> weight")
    range_penalty: float = Field(1.0, description="cost per unit outside a preferred range")
    cost_p: Literal[1, 2] = Field(1, description="cost exponent p")


def request_body_doc() -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is read by hand but documented as SolveRequest."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": SolveRequest.model_json_schema()}}}}


__all__ = ["SolveRequest", "request_body_doc", "EXAMPLE"]
