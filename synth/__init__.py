"""Synthetic customs worlds to develop and test the pipeline on (never read by the pipeline).

Two profiles, drawn independently of each other:

- ``default`` (:mod:`synth.world`): the documented world the pipeline was built beside;
- ``foreign`` (:mod:`synth.foreign`): another administration's data, designed without looking at
  the feature code: its own national codes, packing habits, hubs, name spellings, data habits
  and inspection regime. Its seeds 1000 and up are held out: develop on seeds below 1000 only.

``generate_world(..., profile=...)`` builds a :class:`World` in memory; ``write_world`` writes
the bundle layout of the data contract with the truth beside it.
"""

from __future__ import annotations

from synth.world import TRUTH_COLUMNS, TYPOLOGIES, World, WorldKnobs, write_world
from synth.world import generate_world as _generate_default

PROFILES = ("default", "foreign")


def generate_world(
    seed: int = 1,
    days: int = 180,
    rows_per_day: int = 2000,
    start: str = "2026-05-01",
    knobs: object | None = None,
    profile: str = "default",
) -> World:
    """Generate a synthetic world of ``profile`` (``default`` or ``foreign``); same seed, same world.

    ``knobs`` is the profile's own knobs object (``WorldKnobs`` or ``synth.foreign.ForeignKnobs``).
    """
    if profile == "default":
        return _generate_default(seed=seed, days=days, rows_per_day=rows_per_day, start=start, knobs=knobs)
    if profile == "foreign":
        from synth.foreign import generate_foreign_world

        return generate_foreign_world(
            seed=seed, days=days, rows_per_day=rows_per_day, start=start, knobs=knobs
        )
    raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")


__all__ = ["PROFILES", "TRUTH_COLUMNS", "TYPOLOGIES", "World", "WorldKnobs", "generate_world", "write_world"]
