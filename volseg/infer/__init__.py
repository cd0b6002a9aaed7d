"""Block inference: read region → global tiles → batched forward → blend → crop.

:class:`InferencePlan` holds every number of a prediction, derived once
(:meth:`InferencePlan.resolve`); :class:`BlockPredictor` predicts one block of a volume
from the voxels of its read region with it, on the global tile grid of
:mod:`volseg.tiling`, so the labels never depend on how the volume is split into blocks;
:func:`worker_predictor` builds one predictor per worker process and reuses it;
:func:`tiling_disagreement` measures how much tiling changes a model's labels;
:class:`TileChoice` is the tiling ``volseg study tiles`` chose for a checkpoint and device,
cached for ``volseg segment --tile auto`` (:func:`store_tile_choice`,
:func:`lookup_tile_choice`).

Examples
--------
>>> import numpy as np, torch
>>> from volseg.geometry import Box
>>> from volseg.models import segnet
>>> _ = torch.manual_seed(0)
>>> volume = np.random.default_rng(0).random((2, 100, 90), dtype=np.float32)
>>> plan = InferencePlan(volume_shape=(2, 100, 90), tile=64, overlap=32, context=16,
...                      batch_size=4, normalization=(0.5, 0.3))
>>> predictor = BlockPredictor(segnet(width=4), plan)
>>> block = Box((0, 0, 0), (2, 64, 64))
>>> region = predictor.read_region(block)
>>> result = predictor.predict(block, volume[region.slices], region)
>>> result.labels.shape, result.labels.dtype, result.stats.tiles_run
((2, 64, 64), dtype('uint8'), 8)
"""

from volseg.infer._blend import ProbabilityDtype
from volseg.infer._disagreement import (
    predict_volume,
    single_pass_tile,
    tiling_disagreement,
)
from volseg.infer._plan import InferencePlan, SkipPolicy
from volseg.infer._predictor import BlockPredictor, prepare_model
from volseg.infer._result import BlockResult, BlockStats, Output
from volseg.infer._tile_cache import (
    CACHE_ENV,
    PLANE_BUCKET,
    TileChoice,
    device_name,
    lookup_tile_choice,
    plane_bucket,
    store_tile_choice,
    tile_cache_path,
)
from volseg.infer._worker import worker_predictor
from volseg.models import autocast, resolve_device

__all__ = [
    "CACHE_ENV",
    "PLANE_BUCKET",
    "BlockPredictor",
    "BlockResult",
    "BlockStats",
    "InferencePlan",
    "Output",
    "ProbabilityDtype",
    "SkipPolicy",
    "TileChoice",
    "autocast",
    "device_name",
    "lookup_tile_choice",
    "plane_bucket",
    "predict_volume",
    "prepare_model",
    "resolve_device",
    "single_pass_tile",
    "store_tile_choice",
    "tile_cache_path",
    "tiling_disagreement",
    "worker_predictor",
]
