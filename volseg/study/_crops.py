"""``volseg study crops``: train every (crop size, crop count, seed) run on dask, score each
on held-out test images, then the statistics and the report. Resumable run by run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from volseg.errors import ConfigError
from volseg.study._config import StudyConfig
from volseg.study._execute import StudyResult, execute_runs, study_lock
from volseg.study._plan import StudyRun, plan_study, study_layout
from volseg.study._task import RunTask
from volseg.study._testset import check_held_out, prepare_test
from volseg.train import load_slices

if TYPE_CHECKING:
    from distributed import Client


def prepare_study(
    config: StudyConfig, *, progress: bool = True
) -> tuple[list[StudyRun], RunTask, dict[str, Any]]:
    """Check the inputs and plan the runs (nothing is trained): the runs, the task that
    trains and scores one, and the layout stored with the ledger.

    Raises
    ------
    ConfigError, InputError
        Bad input, before any training: a crop size larger than the training images, test
        images without labels or shared with the training/validation data, and what the
        config itself refuses (zero crops, duplicate grid entries, unknown budget policy).
    """
    recipe = config.recipe_config()
    train_set = load_slices(recipe.train, in_channels=recipe.in_channels, classes=recipe.classes)
    sets = {"training": train_set}
    if recipe.validation is not None:
        sets["validation"] = load_slices(
            recipe.validation, in_channels=recipe.in_channels, classes=train_set.classes
        )
    runs = plan_study(config, shapes=train_set.shapes)
    test = prepare_test(config.test, Path(config.out), progress=progress)
    check_held_out(test, sets)
    classes = train_set.classes
    test_classes = test.identity["classes"] or []
    if len(test_classes) > len(classes):
        raise ConfigError(
            f"the test labels have classes {test_classes} but the training data "
            f"{classes}; test and training must share their classes"
        )
    scoring = {
        "checkpoint": "best validation IoU of the class of interest (last without validation)",
        "class_of_interest": recipe.class_of_interest,
        "bf1_tolerance_px": recipe.bf1_tolerance,
        "segment": "volseg segment defaults",
    }
    task = RunTask(
        test_store=str(test.store.resolve()),
        slices=test.slices,
        classes=classes,
        tolerance=recipe.bf1_tolerance,
        device=recipe.device,
    )
    return runs, task, study_layout(config, test_identity=test.identity, scoring=scoring)


def run_crop_study(
    config: StudyConfig,
    *,
    progress: bool = True,
    overwrite: bool = False,
    client: Client | None = None,
) -> StudyResult:
    """Run the crop study ``config`` into ``config.out`` and write its report.

    Each (case, seed) is one dask task (with ``{"GPU": 1}`` when the recipe runs on CUDA);
    a finished run is recorded (``runs/<key>/result.json``, then its done marker in the
    ledger) and never trained again. A rerun with a larger grid trains only the new runs; a
    changed recipe, budget, data, test set or scoring is refused, naming what changed
    (``overwrite`` forgets the finished runs instead). A failing run is retried
    ``config.retries`` times, then reported in ``failed`` while the others finish.

    Parameters
    ----------
    config
        The study (:func:`load_study_config` reads it from YAML).
    progress
        Draw progress bars on stderr.
    overwrite
        Forget the finished runs of an earlier study in ``config.out`` and start again.
    client
        A dask client to run the runs on; ``None`` connects to ``config.scheduler``, else
        starts a local cluster of ``config.workers`` processes.

    Returns
    -------
    StudyResult
        The runs planned, the records of the finished ones, the failed runs (key: error),
        the runner's summary, the report's files and the answer.

    Raises
    ------
    RunLockedError
        Another study holds the lock of ``config.out``.
    ResumeMismatchError
        ``config.out`` holds a study with another layout (recipe, budget, data, test set or
        scoring; the message names what changed) and ``overwrite`` is false.
    ConfigError
        Bad inputs, found before anything trains.
    """
    out = Path(config.out)
    # the lock is held from the first file written (the test store) to the report
    with study_lock(out, lambda: prepare_study(config, progress=progress)) as prepared:
        runs, task, layout = prepared

        def report(result: StudyResult, test: Path) -> tuple[dict[str, Path], str]:
            from volseg.study._report import write_study_report  # matplotlib: reporting only

            return write_study_report(config, result, test)

        return execute_runs(
            config,
            [runs],
            task,
            layout,
            report=report,
            progress=progress,
            overwrite=overwrite,
            client=client,
        )
