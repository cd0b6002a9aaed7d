"""A shaded 3D picture of object meshes (matplotlib; no GPU or display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from volseg.viz._figures import save_figure

if TYPE_CHECKING:
    import trimesh

__all__ = ["render_meshes"]

_LIGHT = np.array([0.4, -0.5, 0.75]) / np.linalg.norm([0.4, -0.5, 0.75])


def render_meshes(
    meshes: Mapping[int, trimesh.Trimesh],
    path: str | Path,
    *,
    title: str = "",
    max_faces: int = 200_000,
    view: tuple[float, float] = (25.0, -60.0),
    colours: Mapping[int, Sequence[float]] | None = None,
    legend: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Draw ``meshes`` (µm, x-y-z vertices) in one shaded 3D view and save it as a PNG.

    Each object gets its colour from ``colours`` (RGB in 0..1, by object id; e.g. by
    class, with ``legend`` naming the colours), else one of the tab20 cycle by id, shaded
    by the angle of its faces to a fixed light. When the meshes hold more than ``max_faces``
    faces, the largest objects are drawn first until the budget is spent (matplotlib draws
    polygons one by one).
    Axes are in µm with equal scale; z (the slice axis) points up.
    """
    import matplotlib as mpl

    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    cmap = mpl.colormaps["tab20"]
    order = sorted(meshes, key=lambda i: -len(meshes[i].faces))
    spent, drawn = 0, 0
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for object_id in order:
        mesh = meshes[object_id]
        if spent + len(mesh.faces) > max_faces and drawn:
            continue
        tris = mesh.vertices[mesh.faces]
        shade = 0.35 + 0.65 * np.clip(mesh.face_normals @ _LIGHT, 0.0, 1.0)
        colour = np.array(
            colours[object_id][:3] if colours is not None else cmap(object_id % 20)[:3]
        )
        faces = Poly3DCollection(tris, linewidths=0)
        faces.set_facecolor(np.clip(shade[:, None] * colour, 0, 1))
        ax.add_collection3d(faces)
        lo, hi = np.minimum(lo, mesh.bounds[0]), np.maximum(hi, mesh.bounds[1])
        spent, drawn = spent + len(mesh.faces), drawn + 1
    if drawn:
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6)
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
            setter(c - half, c + half)
    if legend:
        from matplotlib.patches import Patch

        handles = [Patch(color=(c[0], c[1], c[2]), label=name) for name, c in legend.items()]
        ax.legend(handles=handles, loc="upper left")
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=view[0], azim=view[1])
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_zlabel("z (µm)")
    shown = f"{drawn} of {len(meshes)} objects" if drawn < len(meshes) else f"{drawn} objects"
    ax.set_title(f"{title}\n{shown}" if title else shown)
    return save_figure(fig, path, dpi=110)
