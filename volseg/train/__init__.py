"""Training data for the SegNet: annotated slices, random crops, class weights, augmentation.

Examples
--------
>>> from volseg.train import (
...     Augmentation, CropDataset, class_frequencies, class_weights, fit_normalization,
...     load_folder, sample_crops)
>>> train = load_folder("tomography/train")                        # doctest: +SKIP
>>> norm = fit_normalization(train)                                 # doctest: +SKIP
>>> weights = class_weights(class_frequencies(train))               # doctest: +SKIP
>>> specs = sample_crops(train.shapes, size=224, count=1000, seed=0)  # doctest: +SKIP
>>> data = CropDataset(train, specs, augmentation=Augmentation(),
...                    normalization=norm, seed=0)                  # doctest: +SKIP
"""

from volseg.train._augment import Augmentation
from volseg.train._config import (
    AugmentationConfig,
    DataConfig,
    TrainConfig,
    load_config,
    make_config,
)
from volseg.train._crops import CropSpec, extract, sample_crops
from volseg.train._data import SliceSet, load_folder, load_store
from volseg.train._dataset import CropDataset
from volseg.train._inputs import InputConfig, fill_value, region_masks, segment_inputs
from volseg.train._loop import TrainResult, load_slices, train
from volseg.train._normalize import Normalization, fit_normalization, normalize
from volseg.train._validate import Validation, logit_offsets, validate
from volseg.train._weights import class_frequencies, class_weights, store_class_frequencies

__all__ = [
    "Augmentation",
    "AugmentationConfig",
    "CropDataset",
    "CropSpec",
    "DataConfig",
    "InputConfig",
    "Normalization",
    "SliceSet",
    "TrainConfig",
    "TrainResult",
    "Validation",
    "class_frequencies",
    "class_weights",
    "extract",
    "fill_value",
    "fit_normalization",
    "load_config",
    "load_folder",
    "load_slices",
    "load_store",
    "logit_offsets",
    "make_config",
    "normalize",
    "region_masks",
    "sample_crops",
    "segment_inputs",
    "store_class_frequencies",
    "train",
    "validate",
]
