from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


@pytest.fixture
def seeded() -> None:
    """Seed torch so models built in the test get the same initial weights every run."""
    torch.manual_seed(0)


def _smooth_image(n: int, c: int, h: int, w: int) -> torch.Tensor:
    """A deterministic, smooth, non-symmetric test image (no RNG involved)."""
    y = torch.arange(h, dtype=torch.float32).view(h, 1)
    x = torch.arange(w, dtype=torch.float32).view(1, w)
    planes = [
        torch.sin(0.21 * y * (k + 1) + 0.13 * x) * torch.cos(0.07 * x * (i + 1) - 0.05 * y)
        for i in range(n)
        for k in range(c)
    ]
    return torch.stack(planes).view(n, c, h, w)


@pytest.fixture
def smooth_image() -> Callable[[int, int, int, int], torch.Tensor]:
    """``smooth_image(n, c, h, w)``: a deterministic smooth test image (no RNG involved)."""
    return _smooth_image
