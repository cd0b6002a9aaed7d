"""Validation on separate full-size images: loss, accuracy, per-class IoU and BF1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from volseg.metrics import (
    bf1_per_class,
    confusion_matrix,
    mean_ignoring_nan,
    metrics_from_confusion,
)
from volseg.train._data import SliceSet
from volseg.train._normalize import Normalization, normalize
from volseg.train._predict import predict_image


@dataclass(frozen=True)
class Validation:
    """Scores of a model on a validation set.

    ``accuracy`` and ``iou`` come from the confusion matrix summed over all images; ``bf1``
    is per image (2 px tolerance by default), then the mean ignoring NaN, as in the study.
    """

    loss: float
    accuracy: float
    iou: list[float]
    bf1: list[float]
    confusion: np.ndarray


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    data: SliceSet,
    normalization: Normalization,
    *,
    weights: torch.Tensor | None,
    device: torch.device,
    tolerance: float = 2.0,
    max_tile: int = 1024,
) -> Validation:
    """Predict every image of ``data`` whole (tiled when large) and score it."""
    model.eval()
    k = data.num_classes
    cm = np.zeros((k, k), np.int64)
    losses, scores = [], []
    w = weights.float().cpu() if weights is not None else None
    for image, label in zip(data.images, data.labels, strict=True):
        logits = predict_image(
            model, normalize(image, normalization), device=device, max_tile=max_tile
        )
        target = torch.from_numpy(label.astype(np.int64))
        losses.append(float(F.cross_entropy(logits[None], target[None], weight=w)))
        pred = logits.argmax(0).numpy().astype(np.uint8)
        cm += confusion_matrix(pred, label, k)
        scores.append([s.score for s in bf1_per_class(pred, label, k, tolerance=tolerance)])
    m = metrics_from_confusion(cm)
    per_class = np.array(scores, dtype=np.float64).reshape(-1, k)
    return Validation(
        loss=float(np.mean(losses)),
        accuracy=float(m["accuracy"]),
        iou=[float(v) for v in m["iou"]],
        bf1=[mean_ignoring_nan(per_class[:, c]) for c in range(k)],
        confusion=cm,
    )
