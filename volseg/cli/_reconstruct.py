"""``volseg reconstruct``: objects, object table, meshes and skeletons of a segmentation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import ShowProgress, app, parse_triple
from volseg.cli._output import AsJson, emit


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


@app.command()
def reconstruct(
    labels_store: Annotated[
        Path, typer.Argument(help="A segmented store (volseg segment's OUT.zarr, or any store).")
    ],
    out: Annotated[Path, typer.Option(help="Output folder (objects, tables, meshes).")],
    labels: Annotated[str, typer.Option(help="Label image of class ids.")] = "segmentation",
    classes: Annotated[
        str | None, typer.Option(help="Classes making the objects, e.g. soma (default: soma).")
    ] = None,
    connectivity: Annotated[int, typer.Option(help="6, 18 or 26.")] = 26,
    block: Annotated[
        str | None, typer.Option(help="Block shape Z,Y,X (whole chunks; default: derived).")
    ] = None,
    min_voxels: Annotated[int, typer.Option(help="Drop smaller objects (dust).")] = 0,
    border: Annotated[
        str, typer.Option(help="keep or drop objects touching the volume border.")
    ] = "keep",
    meshes: Annotated[bool, typer.Option(help="Write a mesh per object.")] = True,
    formats: Annotated[str, typer.Option(help="Mesh formats: any of ply,obj,stl,glb.")] = "ply,glb",
    skeletons: Annotated[
        str, typer.Option(help="SWC skeletons of: elongated, all or none objects.")
    ] = "elongated",
    min_elongation: Annotated[
        float, typer.Option(help="Elongation from which an object is skeletonized.")
    ] = 3.0,
    smooth: Annotated[int, typer.Option(help="Taubin smoothing iterations.")] = 10,
    simplify: Annotated[
        float | None, typer.Option(help="Keep this fraction of mesh faces (e.g. 0.25).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Existing dask scheduler address or scheduler file, or a SLURM config "
            "(.yaml: workers as SLURM jobs) (default: local)."
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier run's outputs.")] = False,
    progress: ShowProgress = True,
    as_json: AsJson = False,
) -> None:
    """3D objects of a segmentation: labels, table, meshes (µm) and SWC skeletons."""
    from volseg.config import validated
    from volseg.reconstruct import ReconstructConfig
    from volseg.reconstruct import reconstruct as run_reconstruct

    values = {
        "labels": labels,
        "classes": _names(classes),
        "connectivity": connectivity,
        "block_shape": parse_triple(block, "--block"),
        "min_voxels": min_voxels,
        "border": border,
        "meshes": meshes,
        "formats": _names(formats) or [],
        "skeletons": skeletons,
        "min_elongation": min_elongation,
        "smooth_iterations": smooth,
        "simplify": simplify,
    }
    # built and checked once, before a cluster starts; the cluster only once the inputs
    # are checked and the output's lock is held
    config = validated(ReconstructConfig, values, what="reconstruct options", style="flag")
    result = run_reconstruct(
        labels_store,
        out,
        config,
        scheduler=scheduler,
        n_workers=workers,
        progress=progress,
        overwrite=overwrite,
    )
    c = result.components
    labels_path = f"{c.store}/labels/{c.labels_name}"
    text = [
        f"{c.n_objects} objects ({c.n_removed} removed by the filters) in {result.seconds:.1f} s",
        f"  objects   {labels_path}  ({c.dtype})",
        f"  table     {c.parquet}  {c.csv}",
    ]
    summary: dict[str, object] = {
        "out": c.out_dir,
        "objects": c.n_objects,
        "removed": c.n_removed,
        "seconds": result.seconds,
        "store": c.store,
        "labels": labels_path,
        "dtype": c.dtype,
        "table": {"parquet": c.parquet, "csv": c.csv},
        "scenes": {},
        "meshes": 0,
        "mesh_folder": None,
        "skeletons": 0,
        "skeleton_folder": None,
    }
    if result.export is not None:
        ex = result.export
        summary["scenes"] = ex.scene_files
        for fmt, path in ex.scene_files.items():
            text.append(f"  scene     {path}  ({fmt})")
        if ex.mesh_files:
            summary["meshes"] = len(ex.mesh_files)
            summary["mesh_folder"] = c.out_dir / "meshes"
            text.append(f"  meshes    {len(ex.mesh_files)} objects in {c.out_dir / 'meshes'}")
        if ex.skeleton_files:
            n_swc = len(ex.skeleton_files)
            summary["skeletons"] = n_swc
            summary["skeleton_folder"] = c.out_dir / "skeletons"
            text.append(f"  skeletons {n_swc} SWC files in {c.out_dir / 'skeletons'}")
    text.append(f"open in napari: napari --plugin napari-ome-zarr {c.store}")
    text.append(f"or in neuroglancer: volseg view {c.store}")
    emit(summary, text, as_json=as_json)
