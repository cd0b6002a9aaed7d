"""Shared small phantoms: drawn once per session, they are pure and read-only."""

from __future__ import annotations

import pytest

from volseg.phantom import PhantomConfig, Scene, draw_scene

SMALL = (8, 96, 128)


@pytest.fixture(scope="session")
def small_config() -> PhantomConfig:
    return PhantomConfig(shape=SMALL, seed=7)


@pytest.fixture(scope="session")
def small_scene(small_config: PhantomConfig) -> Scene:
    return draw_scene(small_config)


@pytest.fixture(scope="session")
def default_scene() -> Scene:
    """The default-size volume (64, 512, 512)."""
    return draw_scene(PhantomConfig(seed=11))
