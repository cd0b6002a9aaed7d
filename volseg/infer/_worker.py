"""The predictor of a worker process: built once per (weights, plan), reused by its blocks."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from volseg.infer._plan import InferencePlan
from volseg.infer._predictor import BlockPredictor
from volseg.models import load_checkpoint

__all__ = ["worker_predictor"]

_LOCK = threading.Lock()
# The one predictor of this process and its key (weights sha256, plan hash). A new key
# (another run on a long-lived cluster) replaces it: a worker never holds two models.
_CURRENT: tuple[tuple[str, str], BlockPredictor] | None = None
#: Predictors this process has built (tests check that blocks share one).
BUILDS = 0


def worker_predictor(
    checkpoint: str | os.PathLike[str], sha256: str, plan: InferencePlan
) -> BlockPredictor:
    """The predictor this process runs for ``plan`` with the weights ``sha256``.

    The first block of a run on a worker loads the checkpoint (refusing a file whose
    weights are not ``sha256``: a replaced checkpoint never mixes into a run), prepares
    the model once (:func:`~volseg.infer.prepare_model`: the loaded copy is dropped, no
    second copy stays on the device) and builds the predictor; every later block of the
    run gets the same object. Thread-safe: threads of one worker share it (its
    :meth:`~BlockPredictor.predict` runs one block at a time).

    Parameters
    ----------
    checkpoint
        The checkpoint file the run was planned with.
    sha256
        Its weights hash, as recorded in the run.
    plan
        The run's resolved :class:`InferencePlan`.

    Raises
    ------
    InputNotFoundError, CheckpointError
        As :func:`volseg.models.load_checkpoint`.
    """
    global _CURRENT, BUILDS
    key = (sha256.strip().lower(), plan.hash)
    with _LOCK:
        if _CURRENT is not None and _CURRENT[0] == key:
            return _CURRENT[1]
        _CURRENT = None  # free the old model before loading the new one
        loaded = load_checkpoint(Path(checkpoint), expected_sha256=key[0], map_location="cpu")
        predictor = BlockPredictor(loaded.model, plan)
        _CURRENT = (key, predictor)
        BUILDS += 1
        return predictor
