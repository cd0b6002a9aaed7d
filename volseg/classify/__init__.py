"""Soma vs vessel: classify the 3D objects of a segmentation.

In one slice a vessel's cross-section looks like a soma; in 3D a vessel is a long, thin,
branching tube and a soma a compact ellipsoid. :func:`classify` turns the union of the
object classes into 3D objects (block-wise connected components), cuts objects that a
segmentation merged at their necks (:func:`split_object`), measures each piece
(:func:`piece_features`) and names it with a trained :class:`ObjectClassifier`;
:func:`train_classifier` learns that classifier from a segmentation and (sparse) ground
truth.

Examples
--------
>>> trained = train_classifier("train_seg.zarr", "train.zarr", "clf.vsclf",
...                            slices=range(0, 64, 4))  # doctest: +SKIP
>>> result = classify("seg.zarr", "clf.vsclf", "out/classified")  # doctest: +SKIP
>>> result.table[["id", "class", "class_probability"]].head()  # doctest: +SKIP
"""

from volseg.classify._apply import (
    CLASSIFIED,
    CLASSIFIED_STORE,
    INSTANCES,
    ClassifyResult,
    classify,
)
from volseg.classify._features import FEATURES, piece_features
from volseg.classify._file import load_classifier, save_classifier
from volseg.classify._measure import MeasuredObjects, measure_objects
from volseg.classify._model import (
    CLASSIFIER_FORMAT,
    ObjectClassifier,
    content_sha256,
    fit_classifier,
)
from volseg.classify._options import ObjectOptions
from volseg.classify._report import (
    ObjectAccuracy,
    class_colours,
    foreground_store,
    object_accuracy,
    render_classified,
)
from volseg.classify._split import DEFAULT_NECK_RATIO, split_object
from volseg.classify._train import TrainedClassifier, train_classifier, training_labels

__all__ = [
    "CLASSIFIED",
    "CLASSIFIED_STORE",
    "CLASSIFIER_FORMAT",
    "DEFAULT_NECK_RATIO",
    "FEATURES",
    "INSTANCES",
    "ClassifyResult",
    "MeasuredObjects",
    "ObjectAccuracy",
    "ObjectClassifier",
    "ObjectOptions",
    "TrainedClassifier",
    "class_colours",
    "classify",
    "content_sha256",
    "fit_classifier",
    "foreground_store",
    "load_classifier",
    "measure_objects",
    "object_accuracy",
    "piece_features",
    "render_classified",
    "save_classifier",
    "split_object",
    "train_classifier",
    "training_labels",
]
