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


def next_level(carbon_g: int, levels: Sequence[Level]) -> Level | None:
    """The next level to reach: the lowest threshold still above the citizen's lifetime carbon."""
    ahead = [lv for lv in levels if lv.min_carbon_g > carbon_g]
    return min(ahead, key=lambda lv: lv.min_carbon_g) if ahead else None
