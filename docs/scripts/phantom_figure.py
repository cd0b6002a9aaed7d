"""Make the phantom pictures of docs/phantom.md.

python docs/scripts/phantom_figure.py            # writes docs/images/phantom_*.png
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from volseg.io import open_labels, open_volume
from volseg.phantom import PhantomConfig, generate_phantom

IMAGES = Path(__file__).resolve().parents[1] / "images"
COLOURS = np.array([[0, 0, 0, 0], [255, 60, 60, 150], [60, 160, 255, 170]], np.uint8)


def _overlay(ax, image, labels, title):
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.imshow(COLOURS[labels], interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _grey(ax, image, title):
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="volseg-fig-"))
    config = PhantomConfig(shape=(96, 512, 512), seed=1)
    generate_phantom(work / "fast.zarr", config, progress=False)
    vol = open_volume(work / "fast.zarr").values
    lab = open_labels(work / "fast.zarr").values
    z = config.shape[0] // 2

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), constrained_layout=True)
    _grey(axes[0], vol[z], f"slice z={z} (fast mode)")
    _overlay(axes[1], vol[z], lab[z], "labels: soma (red), vessel (blue)")
    y = int(np.argmax((lab[:, :, :] == 2).sum(axis=(0, 2))))
    _overlay(axes[2], vol[:, y, :], lab[:, y, :], f"x-z section at y={y}: vessels run along z")
    axes[2].set_aspect("auto")
    fig.savefig(IMAGES / "phantom_slice.png", dpi=110)
    plt.close(fig)

    zs = np.linspace(0, config.shape[0] - 1, 4).astype(int)
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.8), constrained_layout=True)
    for i, zz in enumerate(zs):
        _grey(axes[0, i], vol[zz], f"z={zz}")
        _overlay(axes[1, i], vol[zz], lab[zz], f"z={zz} labels")
    fig.savefig(IMAGES / "phantom_stack.png", dpi=100)
    plt.close(fig)

    small = PhantomConfig(shape=(1, 384, 384), seed=1)
    generate_phantom(work / "f.zarr", small, progress=False)
    generate_phantom(work / "c.zarr", small.model_copy(update={"mode": "ct"}), progress=False)
    fast, ct = open_volume(work / "f.zarr")[0].values, open_volume(work / "c.zarr")[0].values
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), constrained_layout=True)
    _grey(axes[0], ct, "ct mode: projections, Poisson noise, gain errors, FBP")
    _grey(axes[1], fast, "fast mode: the same scene, statistical CT look")
    c = slice(130, 250)
    _grey(axes[2], np.hstack([ct[c, c], fast[c, c]]), "detail: ct | fast")
    fig.savefig(IMAGES / "phantom_ct_vs_fast.png", dpi=110)
    plt.close(fig)
    print(f"wrote {sorted(p.name for p in IMAGES.glob('phantom_*.png'))}")


if __name__ == "__main__":
    main()
