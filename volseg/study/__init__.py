"""Studies that choose how to train and run the network.

``study crops``: one network per (training crop size, crop count, seed), trained on dask
under an explicit budget policy, scored on held-out test images through the shipped
``segment`` + ``evaluate`` path, with statistics over seeds and a report.
``study tiles``: the inference side: tile size x overlap x window on the user's volume and
device, the fastest setting within a stated tolerance (``volseg segment --tile auto``).

Examples
--------
>>> from volseg.study import load_study_config, run_crop_study
>>> config = load_study_config("pipelines/study_crops_tomography.yaml")  # doctest: +SKIP
>>> result = run_crop_study(config)                                      # doctest: +SKIP
>>> print(result.answer)                                                 # doctest: +SKIP
"""

from volseg.study._config import (
    DEFAULT_COUNTS,
    DEFAULT_SIZES,
    BudgetPolicy,
    StudyConfig,
    load_study_config,
    make_study_config,
)
from volseg.study._crops import prepare_study, run_crop_study
from volseg.study._execute import StudyResult
from volseg.study._inputs import (
    InputStudyConfig,
    load_input_study_config,
    plan_inputs,
    prepare_inputs,
    run_input_study,
)
from volseg.study._paired import Metric, metrics_for, paired_answer, paired_comparison
from volseg.study._plan import Budget, Case, StudyRun, budget, plan_study, study_layout
from volseg.study._tile_rule import (
    DEFAULT_IOU_TOLERANCE,
    DEFAULT_TOLERANCE,
    choose_tiling,
    default_tiles,
    sample_slices,
)
from volseg.study._tiles import TileStudy, study_tiles

__all__ = [
    "DEFAULT_COUNTS",
    "DEFAULT_IOU_TOLERANCE",
    "DEFAULT_SIZES",
    "DEFAULT_TOLERANCE",
    "Budget",
    "BudgetPolicy",
    "Case",
    "InputStudyConfig",
    "Metric",
    "StudyConfig",
    "StudyResult",
    "StudyRun",
    "TileStudy",
    "budget",
    "choose_tiling",
    "default_tiles",
    "load_input_study_config",
    "load_study_config",
    "make_study_config",
    "metrics_for",
    "paired_answer",
    "paired_comparison",
    "plan_inputs",
    "plan_study",
    "prepare_inputs",
    "prepare_study",
    "run_crop_study",
    "run_input_study",
    "sample_slices",
    "study_layout",
    "study_tiles",
]
