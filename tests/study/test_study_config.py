"""The crop study's config and plan: grid, budget policies, and bad input refused before any
training starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from volseg.errors import ConfigError, InputError
from volseg.study import (
    DEFAULT_COUNTS,
    DEFAULT_SIZES,
    Case,
    budget,
    load_study_config,
    make_study_config,
    plan_study,
    prepare_study,
)


def _config(**values):
    base = {"train": "t", "test": "x", "recipe": {"batch_size": 8}}
    return make_study_config({**base, **values})


def test_the_default_grid_spans_the_original_range():
    cfg = _config()
    assert list(DEFAULT_SIZES) == [100, 224, 400, 800, "full"] == cfg.sizes
    assert list(DEFAULT_COUNTS) == [250, 500, 1000, 2000] == cfg.counts
    assert cfg.seeds == 3 and cfg.budget == "epochs"


def test_epochs_budget_is_the_original_protocol_more_crops_more_steps():
    cfg = _config(epochs=3)
    b = budget(cfg, Case(224, 1000), batch_size=8, crop_pixels=224**2)
    assert (b.steps, b.epochs, b.crops_seen) == (375, 3, 3000)
    assert b.pixels_seen == 3000 * 224**2 and b.validate_every is None
    assert budget(cfg, Case(224, 250), batch_size=8, crop_pixels=224**2).steps == 96


def test_steps_budget_gives_every_case_the_same_steps_with_a_partial_last_epoch():
    cfg = _config(budget="steps", steps=100, validations=4)
    small = budget(cfg, Case(100, 250), batch_size=8, crop_pixels=100**2)
    large = budget(cfg, Case(800, 2000), batch_size=8, crop_pixels=800**2)
    assert small.steps == large.steps == 100
    assert small.epochs == 4  # 32 steps per epoch: 3 whole + 4 steps
    assert small.crops_seen == 3 * 250 + 4 * 8
    assert large.epochs == 1 and large.crops_seen == 800
    assert small.validate_every == large.validate_every == 25


def test_pixels_budget_gives_every_case_the_same_pixels():
    cfg = _config(budget="pixels", pixels=8 * 224**2 * 100)
    a = budget(cfg, Case(224, 1000), batch_size=8, crop_pixels=224**2)
    b = budget(cfg, Case(448, 1000), batch_size=8, crop_pixels=448**2)
    assert (a.steps, b.steps) == (100, 25)
    assert a.pixels_seen == b.pixels_seen == 8 * 224**2 * 100


def test_plan_has_one_run_per_case_and_seed_with_stable_ids(tmp_path: Path):
    cfg = _config(
        sizes=[64, "full"], counts=[4, 8], seeds=2, out=str(tmp_path), recipe={"batch_size": 1}
    )
    runs = plan_study(cfg, shapes=[(160, 160), (160, 200)])
    assert [r.key for r in runs[:3]] == ["s64-n4-r0", "s64-n4-r1", "s64-n8-r0"]
    assert len(runs) == 8 and len({r.id for r in runs}) == 8
    full = [r for r in runs if r.case.size == "full"]
    assert all(r.config.crop_size is None and r.config.crops == r.case.count for r in full)
    assert full[0].config.seed == 0 and full[1].config.seed == 1
    again = plan_study(cfg.model_copy(update={"counts": [8]}), shapes=[(160, 160), (160, 200)])
    assert {r.key: r.id for r in again} == {r.key: r.id for r in runs if r.case.count == 8}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"counts": [250, 0]}, r"crop count 0: every run needs at least 1 crop"),
        ({"counts": [250, 250]}, r"crop count 250 is listed twice"),
        ({"sizes": [224, 224, "full"]}, r"crop size 224 is listed twice"),
        ({"budget": "time"}, r"budget: Input should be 'epochs', 'steps' or 'pixels'"),
        ({"budget": "pixels"}, r"budget: pixels needs pixels: N"),
        ({"recipe": {"crop_size": 64}}, r"crop_size is set by the study for each run"),
        ({"recipe": {"lr": -1}}, r"study recipe.*lr"),
        ({"seeds": 0}, r"seeds: Input should be greater than or equal to 1"),
    ],
)
def test_bad_config_is_one_clear_error(values, message):
    with pytest.raises(ConfigError, match=message):
        _config(**values)


def test_a_crop_size_larger_than_the_images_is_refused_before_training(study_yaml):
    cfg = load_study_config(study_yaml(sizes=[64, 200]))
    with pytest.raises(ConfigError, match=r"crop size 200 px is larger than the training images"):
        prepare_study(cfg, progress=False)
    assert not (Path(cfg.out) / "runs").exists()


def test_test_images_without_labels_are_refused(study_yaml, study_data: Path, tmp_path: Path):
    bare = tmp_path / "bare"
    (bare / "images").mkdir(parents=True)
    for f in (study_data / "test" / "images").iterdir():
        (bare / "images" / f.name).write_bytes(f.read_bytes())
    cfg = load_study_config(study_yaml(test=str(bare)))
    with pytest.raises(InputError, match=r"have no labels/ folder; the test images must be"):
        prepare_study(cfg, progress=False)


def test_test_images_shared_with_training_are_refused(study_yaml, study_data: Path):
    cfg = load_study_config(study_yaml(test=str(study_data / "val")))
    with pytest.raises(ConfigError, match=r"is also validation image .*must be held out"):
        prepare_study(cfg, progress=False)
    cfg = load_study_config(study_yaml(test=str(study_data / "train")))
    with pytest.raises(ConfigError, match=r"is also training image"):
        prepare_study(cfg, progress=False)


def test_a_recipe_file_supplies_the_shared_options(study_yaml, tmp_path: Path, study_data):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"train: {study_data / 'train'}\nmodel: segnet-lite\nlr: 0.0005\ncrop_size: 224\n"
        "crops: 400\nepochs: 9\nout: elsewhere\n"
    )
    path = study_yaml(recipe="recipe.yaml")
    cfg = load_study_config(path)
    assert cfg.recipe == {"model": "segnet-lite", "lr": 0.0005}
    assert cfg.recipe_config().lr == 0.0005


def test_whole_images_of_different_shapes_need_batch_1(tmp_path: Path):
    cfg = _config(sizes=["full"], out=str(tmp_path))
    with pytest.raises(ConfigError, match=r"'full' with batch_size 8.*set recipe batch_size: 1"):
        plan_study(cfg, shapes=[(160, 160), (160, 200)])
    assert len(plan_study(cfg, shapes=[(160, 160), (160, 160)])) == 4 * 3


def test_the_layout_holds_only_recipe_options_that_differ_from_the_defaults():
    from volseg.study._plan import recipe_layout

    plain = _config().recipe_config()
    explicit = _config(recipe={"batch_size": 8, "lr": 0.001, "optimizer": "adam"}).recipe_config()
    assert recipe_layout(plain, exclude=()) == recipe_layout(explicit, exclude=())
    changed = _config(recipe={"batch_size": 8, "lr": 0.01}).recipe_config()
    assert recipe_layout(changed, exclude=("train",))["lr"] == 0.01
    assert "train" not in recipe_layout(changed, exclude=("train",))


def test_test_slices_of_a_store_are_copied_out_with_their_ground_truth(study_data, tmp_path):
    import numpy as np

    from volseg.io import VolumeStore, ingest
    from volseg.study._testset import prepare_test
    from volseg.train import DataConfig

    source = tmp_path / "vol.zarr"
    ingest(study_data / "train", source, classes=["bg", "dendrite"], progress=False)
    test = prepare_test(DataConfig(source=str(source), slices=[1, 4]), tmp_path / "out")
    assert test.slices is None and test.depth == 2 and test.identity["slices"] == [1, 4]
    got, src = VolumeStore.open(test.store), VolumeStore.open(source)
    assert np.array_equal(got.image(0)[:], src.image(0)[[1, 4]])
    assert np.array_equal(got.labels("ground_truth")[:], src.labels("ground_truth")[[1, 4]])
    assert got.classes("ground_truth") == ["bg", "dendrite"]
    with pytest.raises(ConfigError, match=r"test slice 9 is outside"):
        prepare_test(DataConfig(source=str(source), slices=[9]), tmp_path / "out")
