"""Validation on separate full-size images, predicted by the predictor ``volseg segment``
runs: loss, accuracy, per-class IoU and BF1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from volseg._options import DEFAULT_OVERLAP, DEFAULT_SKIP, DEFAULT_WINDOW
from volseg.geometry import Box
from volseg.infer import BlockPredictor, InferencePlan
from volseg.metrics import (
    bf1_per_class,
    confusion_matrix,
    mean_ignoring_nan,
    metrics_from_confusion,
)
from volseg.tiling import Device
from volseg.train._data import SliceSet
from volseg.train._normalize import Normalization

#: Probabilities are clamped to the smallest float16 (the predictor's storage) before the
#: log: a 0 there means "below what float16 holds", not certainty.
P_MIN = 2.0**-24


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
    chosen. The predictor applies them (:class:`volseg.infer.BlockPredictor`).
    """
    return -torch.log(weights.float().clamp_min(1e-12))


def as_volume(image: np.ndarray) -> tuple[np.ndarray, Box]:
    """A validation image as the ``(z, y, x)`` volume the predictor reads, and the box of
    the annotated slice in it.

    A 2D ``(H, W)`` image is a volume of one slice. A 2.5D ``(C, H, W)`` image already
    stacks slices ``z - C//2 .. z + C//2`` of its store (the edge slice repeated beyond the
    volume, as the predictor does), so it is the volume and its centre slice is predicted:
    the predictor gathers exactly these ``C`` slices for it.
    """
    volume = image[None] if image.ndim == 2 else image
    z = volume.shape[0] // 2
    _, h, w = volume.shape
    return volume, Box((z, 0, 0), (z + 1, h, w))


def validation_plan(
    model: torch.nn.Module,
    volume_shape: tuple[int, int, int],
    normalization: Normalization,
    *,
    device: Device,
    logit_offsets: torch.Tensor | None = None,
    block: Box | None = None,
) -> InferencePlan:
    """The plan ``volseg segment`` resolves, at its defaults, for a checkpoint of ``model``
    with this normalization and these logit offsets on a volume of ``volume_shape``.

    The numbers are those of :meth:`volseg.infer.InferencePlan.resolve` with the defaults
    of :class:`volseg.segment.SegmentConfig` (tile and overlap 0.25 from
    :func:`volseg.tiling.derive_tiling` on ``device``, derived context, gaussian window,
    derived batch size at most the tiles of ``block``, empty tiles skipped), taken from the
    in-memory model instead of a checkpoint file; the outputs are labels and float16
    probabilities.
    """
    return InferencePlan.for_model(
        model,
        normalization=(normalization.mean, normalization.std),
        logit_offsets=None if logit_offsets is None else logit_offsets.tolist(),
        volume_shape=volume_shape,
        device=device,
        overlap=DEFAULT_OVERLAP,
        window=DEFAULT_WINDOW,
        block=block,
        outputs=frozenset({"labels", "probabilities"}),
        skip=DEFAULT_SKIP,
        compiled=False,  # the weights change every validation: compiling would not pay
    )


def predict_slice(
    predictor: BlockPredictor, volume: np.ndarray, block: Box
) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(H, W)`` uint8 and blended probabilities ``(K, H, W)`` float16 of one
    validation image, predicted as the slice ``block`` of its :func:`as_volume`."""
    data_box = Box.from_shape(volume.shape)
    result = predictor.predict(block, volume, data_box)
    assert result.probabilities is not None
    return result.labels[0], result.probabilities[:, 0]


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    data: SliceSet,
    normalization: Normalization,
    *,
    weights: torch.Tensor | None,
    device: torch.device,
    tolerance: float = 2.0,
    logit_offsets: torch.Tensor | None = None,
) -> Validation:
    """Predict every image of ``data`` as ``volseg segment`` would and score it.

    Each image is predicted by :class:`volseg.infer.BlockPredictor` with the plan
    ``volseg segment`` resolves at its defaults (:func:`validation_plan`): the same tiles,
    context, gaussian blending, skipping and decision, so the checkpoint kept as best is
    the best one for what ships. One predictor is built per image shape (it folds
    BatchNorm into its own copy of ``model``, which is left as it is).

    Parameters
    ----------
    model
        The network being trained.
    data
        Validation images (raw intensities) and labels; 2.5D images are predicted from
        their stacked slices (:func:`as_volume`).
    normalization
        The training's input normalization.
    weights
        Class weights of the loss (``None``: unweighted).
    device
        Where the predictor runs (``"cuda"`` or ``"cpu"`` plan).
    tolerance
        BF1 boundary tolerance in px.
    logit_offsets
        Per-class offsets the predictor adds before its decision (prior correction).

    Returns
    -------
    Validation
        ``loss`` is the mean over images of the class-weighted negative log-likelihood
        of the predictor's blended probabilities (float16, clamped to :data:`P_MIN` before
        the log): there are no logits after blending, and with one tile it equals the
        weighted cross-entropy of training up to the float16 rounding. ``accuracy``,
        ``iou`` and ``bf1`` score the predictor's labels (its decision applies
        ``logit_offsets``).
    """
    k = data.num_classes
    cm = np.zeros((k, k), np.int64)
    losses, scores = [], []
    w = weights.float().cpu() if weights is not None else None
    plan_device: Device = "cuda" if device.type == "cuda" else "cpu"
    predictors: dict[tuple[int, ...], BlockPredictor] = {}
    for image, label in zip(data.images, data.labels, strict=True):
        volume, block = as_volume(image)
        shape = tuple(int(s) for s in volume.shape)
        if shape not in predictors:
            plan = validation_plan(
                model,
                shape,  # type: ignore[arg-type]
                normalization,
                device=plan_device,
                logit_offsets=logit_offsets,
                block=block,
            )
            predictors[shape] = BlockPredictor(model, plan)
        pred, probs = predict_slice(predictors[shape], volume, block)
        p = torch.from_numpy(probs.astype(np.float32)).clamp_min(P_MIN)
        target = torch.from_numpy(label.astype(np.int64))
        losses.append(float(F.nll_loss(p.log()[None], target[None], weight=w)))
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
