from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image


@pytest.fixture(scope="module")
def study_data(tomography: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small folders cut from the real tomography: train (6), val (2), test (3) images of
    160 x 160 px with their labels."""
    out = tmp_path_factory.mktemp("study_data")
    names = sorted((tomography / "train" / "images").glob("*.png"))[:11]
    for i, f in enumerate(names):
        part = "train" if i < 6 else "val" if i < 8 else "test"
        for sub in ("images", "labels"):
            (out / part / sub).mkdir(parents=True, exist_ok=True)
            a = np.array(Image.open(tomography / "train" / sub / f.name))
            Image.fromarray(a[300:460, 300:460]).save(out / part / sub / f.name)
    return out


@pytest.fixture
def study_yaml(study_data: Path, tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny study config (2 sizes x 2 counts x 2 seeds, one epoch) with overrides."""

    def write(**overrides: Any) -> Path:
        values: dict[str, Any] = {
            "train": str(study_data / "train"),
            "validation": str(study_data / "val"),
            "test": str(study_data / "test"),
            "out": str(tmp_path / "out"),
            "sizes": [64, 96],
            "counts": [4, 8],
            "seeds": 2,
            "budget": "epochs",
            "epochs": 1,
            "retries": 0,
            "recipe": {"model": "segnet-lite", "batch_size": 4, "classes": ["bg", "dendrite"]},
        }
        values.update(overrides)
        path = tmp_path / "study.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    return write
