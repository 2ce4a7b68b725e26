"""Citizen levels by lifetime carbon saved (thresholds are seed data)."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    name: str
    min_carbon_g: int


def level_for(carbon_g: int, levels: Sequence[Level]) -> Level | None:
    """The highest level whose threshold the citizen's lifetime carbon reaches."""
    reached = [lv for lv in levels if carbon_g >= lv.min_carbon_g]
    return max(reached, key=lambda lv: lv.min_carbon_g) if reached else None
