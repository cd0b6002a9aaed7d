"""Make the mesh picture of docs/reconstruct.md from a `volseg demo` output folder.

python docs/scripts/mesh_figure.py [DEMO_DIR]     # default out/demo; writes docs/images/
"""

from __future__ import annotations

import sys
from pathlib import Path

import trimesh

from volseg.viz import render_meshes

IMAGES = Path(__file__).resolve().parents[1] / "images"


def main() -> None:
    demo = Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo")
    files = sorted((demo / "reconstruction" / "meshes").glob("object_*.ply"))
    if not files:
        raise SystemExit(f"no meshes in {demo}/reconstruction/meshes; run `volseg demo` first")
    meshes = {int(f.stem.split("_")[1]): trimesh.load_mesh(f) for f in files}
    out = render_meshes(
        meshes, IMAGES / "reconstruction_meshes.png", title="somas segmented by volseg demo"
    )
    print(out)


if __name__ == "__main__":
    main()
