"""``volseg export-model``: a checkpoint as a bioimage.io model package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volseg.cli._app import app


@app.command("export-model")
def export_model(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint (.pt) written by volseg train.")],
    out: Annotated[Path, typer.Argument(help="The package to write (OUT.zip).")],
    sample: Annotated[
        Path | None,
        typer.Option(
            help="Images for the test tensors and cover: a folder of TIFF/PNG slices, a TIFF, "
            ".npy or zarr (default: synthetic blobs with the checkpoint's mean and std)."
        ),
    ] = None,
    author: Annotated[
        list[str] | None,
        typer.Option(help="Who trained the model (repeat for several; bioimage.io needs one)."),
    ] = None,
    license: Annotated[
        str, typer.Option(help="SPDX license identifier of the weights.")
    ] = "CC-BY-4.0",
    name: Annotated[
        str | None, typer.Option(help="Model name (default: from architecture and classes).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Write CHECKPOINT as a bioimage.io model package (format 0.5: TorchScript and
    pytorch_state_dict weights, normalization, test tensors, cover, README) that
    bioimage.io tools run and `volseg segment --model OUT.zip` accepts."""
    from volseg.models import export_bioimageio

    path = export_bioimageio(
        checkpoint,
        out,
        sample=sample,
        authors=author or (),
        license=license,
        name=name,
        overwrite=overwrite,
    )
    size = path.stat().st_size / 2**20
    typer.echo(f"wrote {path} ({size:.1f} MiB); test it with `bioimageio test {path}`")
