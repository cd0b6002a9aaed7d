"""volseg: large-volume streaming segmentation of tomography volumes.

The entry points behind every ``volseg`` command are importable from here
(``volseg.segment``, ``volseg.evaluate_volumes``, ``volseg.reconstruct``, ...). Names are
imported on first use (PEP 562), so ``import volseg`` stays fast and does not import torch,
dask.distributed or numba until an entry point that needs them is touched.
The subpackages (``volseg.io``, ``volseg.segment``, ...) hold the rest of the public API.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from volseg._version import __version__

if TYPE_CHECKING:  # static view for type checkers and the API docs; runtime is lazy
    from volseg.classify import classify, train_classifier
    from volseg.demo import run_demo
    from volseg.errors import VolsegError
    from volseg.evaluate import evaluate_volumes, open_label_volume, write_report
    from volseg.io import VolumeStore, describe, ingest, open_labels, open_volume, verify_store
    from volseg.models import export_bioimageio
    from volseg.phantom import PhantomConfig, generate_phantom
    from volseg.reconstruct import ReconstructConfig, reconstruct
    from volseg.runtime import connect
    from volseg.segment import SegmentConfig, make_segment_config, segment
    from volseg.study import (
        load_input_study_config,
        load_study_config,
        run_crop_study,
        run_input_study,
        study_tiles,
    )
    from volseg.train import TrainConfig, train
    from volseg.train import load_config as load_train_config
    from volseg.view import serve_store

# public name -> (module, attribute); one row per entry point, grouped by command
_EXPORTS: dict[str, tuple[str, str]] = {
    # volseg ingest / info, and reading stores
    "ingest": ("volseg.io", "ingest"),
    "describe": ("volseg.io", "describe"),
    "open_volume": ("volseg.io", "open_volume"),
    "open_labels": ("volseg.io", "open_labels"),
    "VolumeStore": ("volseg.io", "VolumeStore"),
    # volseg verify
    "verify_store": ("volseg.io", "verify_store"),
    # volseg phantom
    "PhantomConfig": ("volseg.phantom", "PhantomConfig"),
    "generate_phantom": ("volseg.phantom", "generate_phantom"),
    # volseg train
    "TrainConfig": ("volseg.train", "TrainConfig"),
    "load_train_config": ("volseg.train", "load_config"),
    "train": ("volseg.train", "train"),
    # volseg segment
    "SegmentConfig": ("volseg.segment", "SegmentConfig"),
    "make_segment_config": ("volseg.segment", "make_segment_config"),
    "segment": ("volseg.segment", "segment"),
    # volseg evaluate
    "open_label_volume": ("volseg.evaluate", "open_label_volume"),
    "evaluate_volumes": ("volseg.evaluate", "evaluate_volumes"),
    "write_report": ("volseg.evaluate", "write_report"),
    # volseg reconstruct
    "ReconstructConfig": ("volseg.reconstruct", "ReconstructConfig"),
    "reconstruct": ("volseg.reconstruct", "reconstruct"),
    # volseg classify train / volseg classify
    "train_classifier": ("volseg.classify", "train_classifier"),
    "classify": ("volseg.classify", "classify"),
    # volseg study crops / inputs / tiles
    "load_study_config": ("volseg.study", "load_study_config"),
    "run_crop_study": ("volseg.study", "run_crop_study"),
    "load_input_study_config": ("volseg.study", "load_input_study_config"),
    "run_input_study": ("volseg.study", "run_input_study"),
    "study_tiles": ("volseg.study", "study_tiles"),
    # volseg view
    "serve_store": ("volseg.view", "serve_store"),
    # volseg export-model
    "export_bioimageio": ("volseg.models", "export_bioimageio"),
    # volseg demo
    "run_demo": ("volseg.demo", "run_demo"),
    # a dask cluster shared by several calls (their ``client=``)
    "connect": ("volseg.runtime", "connect"),
    # the base of every error volseg raises
    "VolsegError": ("volseg.errors", "VolsegError"),
}

__all__ = [
    "PhantomConfig",
    "ReconstructConfig",
    "SegmentConfig",
    "TrainConfig",
    "VolsegError",
    "VolumeStore",
    "__version__",
    "classify",
    "connect",
    "describe",
    "evaluate_volumes",
    "export_bioimageio",
    "generate_phantom",
    "ingest",
    "load_input_study_config",
    "load_study_config",
    "load_train_config",
    "make_segment_config",
    "open_label_volume",
    "open_labels",
    "open_volume",
    "reconstruct",
    "run_crop_study",
    "run_demo",
    "run_input_study",
    "segment",
    "serve_store",
    "study_tiles",
    "train",
    "train_classifier",
    "verify_store",
    "write_report",
]


class _Package(types.ModuleType):
    """volseg's module type: an entry point named like its subpackage keeps that name.

    Importing a subpackage binds it on its parent (``volseg.segment`` = the module). The
    entry points ``segment``, ``train``, ``reconstruct`` and ``classify`` share their
    subpackage's name, and ``volseg.segment(...)`` must be the function whatever was
    imported first; the subpackages stay importable (``from volseg.segment import ...``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _EXPORTS:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'volseg' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
