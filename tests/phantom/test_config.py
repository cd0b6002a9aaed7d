from __future__ import annotations

import pydantic
import pytest

from volseg.errors import ConfigError
from volseg.phantom import CLASS_NAMES, PhantomConfig


def test_defaults_and_presets():
    assert CLASS_NAMES == ("background", "soma", "vessel")
    assert PhantomConfig().shape == (64, 512, 512)
    full = PhantomConfig.preset("full", seed=3)
    assert full.shape == (1800, 2300, 1920)
    assert full.seed == 3
    assert PhantomConfig.preset("small").shape == (64, 512, 512)
    assert full.fov_diameter == 1920
    assert full.n_angles == round(3.141592653589793 / 2 * 1920)


def test_config_is_frozen_and_hashable_by_value():
    a = PhantomConfig(seed=1)
    with pytest.raises(pydantic.ValidationError):
        a.seed = 2  # type: ignore[misc]
    assert a == PhantomConfig(seed=1)
    assert a != PhantomConfig(seed=2)
    assert PhantomConfig.model_validate_json(a.model_dump_json()) == a


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (0, 64, 64)}, "positive on every axis"),
        ({"shape": (4, 8, 64)}, "at least 16"),
        ({"voxel_size": (1.0, -1.0, 1.0)}, "voxel_size"),
        ({"mode": "radon"}, "fast"),
        ({"dtype": "int8"}, "uint8"),
        ({"soma_fraction": 0.9}, "less than or equal"),
        ({"soma_diameter_range": (40.0, 20.0)}, "low < high"),
        ({"soma_median_diameter": 200.0}, "outside soma_diameter_range"),
        ({"seed": -1}, "greater than or equal"),
        ({"ct_angles": 2}, "greater than or equal"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_invalid_options_name_the_problem(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PhantomConfig(**kwargs)


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown phantom preset 'huge'"):
        PhantomConfig.preset("huge")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fixes the shape"):
        PhantomConfig.preset("small", shape=(4, 64, 64))
