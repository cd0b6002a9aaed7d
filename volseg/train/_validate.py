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


def logit_offsets(weights: torch.Tensor) -> torch.Tensor:
    """Offsets that undo class weighting at decision time: ``-log(weight)`` per class.

    A network trained with class-weighted cross-entropy learns scores whose softmax is
    proportional to ``weight_c * p(c | x)``, so its argmax favours heavily weighted (rare)
    classes and dilates them. Adding ``-log(weight_c)`` to the logits before the argmax
    (logit adjustment) decides on ``p(c | x)`` again; classes with weight 0 are never
    chosen.
    """
    return -torch.log(weights.float().clamp_min(1e-12))


def decide(logits: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
    """Class ids from ``(K, H, W)`` logits, after adding per-class ``offsets`` if given."""
    if offsets is not None:
        logits = logits + offsets.to(logits.device, logits.dtype)[:, None, None]
    return logits.argmax(0)


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
    logit_offsets: torch.Tensor | None = None,
) -> Validation:
    """Predict every image of ``data`` whole (tiled when large) and score it.

    The loss is computed on the raw logits (as in training); the labels scored are
    ``argmax(logits + logit_offsets)`` (see :func:`decide`).
    """
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
        pred = decide(logits, logit_offsets).numpy().astype(np.uint8)
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
