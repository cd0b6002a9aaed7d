"""The pipelines volseg is compared with, on equal terms: a naive loop over slices and
tiles, and MONAI's ``sliding_window_inference``, each with the model, tile, overlap,
gaussian window (σ = tile / 8), normalization, logit offsets and arithmetic (bf16 autocast
on CUDA, float32 on the CPU) volseg uses. Shared by ``bench_segment.py`` and
``bench_gpu.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from volseg.models import autocast, load_checkpoint


def gaussian(tile: int) -> np.ndarray:
    """MONAI's gaussian importance map (σ = 0.125 × tile), the window volseg uses too."""
    r = np.arange(tile, dtype=np.float64) - (tile - 1) / 2
    g = np.exp(-0.5 * (r / (0.125 * tile)) ** 2)
    w = np.outer(g, g)
    return (w / w.max()).astype(np.float32)


def starts(n: int, tile: int, step: int) -> list[int]:
    """Tile starts covering ``n`` px, the last one flush with the end (as MONAI)."""
    first = list(range(0, max(n - tile, 0) + 1, step))
    if first[-1] + tile < n:
        first.append(n - tile)
    return first


def field_of_view(shape: tuple[int, ...]) -> np.ndarray:
    """The phantom's circular field of view (diameter: the smaller slice side)."""
    ny, nx = shape[-2:]
    yy, xx = np.ogrid[:ny, :nx]
    r = min(ny, nx) / 2
    return (yy - (ny - 1) / 2) ** 2 + (xx - (nx - 1) / 2) ** 2 <= r * r


class Reference:
    """Slice-by-slice references with one model, normalization and logit offsets."""

    def __init__(
        self,
        model: torch.nn.Module,
        normalization: tuple[float, float],
        offsets: list[float] | None,
        tile: int,
        overlap: int,
        device: str = "cpu",
    ) -> None:
        self.mean, self.std = (float(v) for v in normalization)
        self.device = torch.device(device)
        self.offsets = (
            None if offsets is None else torch.tensor(offsets, device=self.device)[:, None, None]
        )
        self.model = model.eval().to(self.device)
        self.tile, self.overlap = tile, overlap

    @classmethod
    def from_checkpoint(cls, path: Path, tile: int, overlap: int, device: str) -> Reference:
        ckpt = load_checkpoint(path)
        norm = ckpt.metadata["normalization"]
        offsets = ckpt.metadata.get("logit_offsets")
        return cls(ckpt.model, (norm["mean"], norm["std"]), offsets, tile, overlap, device=device)

    def _decide(self, probs: torch.Tensor) -> np.ndarray:
        """Labels ``argmax(log p + offsets)`` on the device, then to the host."""
        scores = probs if self.offsets is None else torch.log(probs) + self.offsets
        return scores.argmax(0).to(torch.uint8).cpu().numpy()

    def _normalized(self, image: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        return (x.float() - self.mean) / self.std

    def naive(self, image: np.ndarray, model: torch.nn.Module | None = None) -> np.ndarray:
        """One tile at a time, blending in numpy on the host: the obvious implementation."""
        model = self.model if model is None else model
        x = self._normalized(image)
        ny, nx = x.shape
        t, step = self.tile, self.tile - self.overlap
        w = gaussian(t)
        acc: np.ndarray | None = None
        wsum = np.zeros((ny, nx), np.float32)
        with torch.inference_mode(), autocast(self.device):
            for y0 in starts(ny, t, step):
                for x0 in starts(nx, t, step):
                    logits = model(x[None, None, y0 : y0 + t, x0 : x0 + t])
                    p = torch.softmax(logits.float(), 1)[0].cpu().numpy()
                    if acc is None:
                        acc = np.zeros((p.shape[0], ny, nx), np.float32)
                    acc[:, y0 : y0 + t, x0 : x0 + t] += p * w
                    wsum[y0 : y0 + t, x0 : x0 + t] += w
        assert acc is not None
        return self._decide(torch.from_numpy(acc / wsum).to(self.device))

    def monai(
        self, image: np.ndarray, model: torch.nn.Module, channels_last: bool, batch: int
    ) -> np.ndarray:
        """MONAI's sliding window over the whole slice on the device, decided there."""
        from monai.inferers import sliding_window_inference

        def predictor(t: torch.Tensor) -> torch.Tensor:
            if channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            return torch.softmax(model(t).float(), 1)

        x = self._normalized(image)[None, None]
        with torch.inference_mode(), autocast(self.device):
            p = sliding_window_inference(
                x,
                roi_size=(self.tile, self.tile),
                sw_batch_size=batch,
                predictor=predictor,
                overlap=self.overlap / self.tile,
                mode="gaussian",
                sigma_scale=0.125,
            )
        return self._decide(p[0].float())
