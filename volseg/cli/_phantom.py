"""``volseg phantom``: a synthetic spinal-cord tomography volume with exact labels."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from volseg.cli._app import (
    Chunks,
    Levels,
    OutStore,
    Overwrite,
    ShowProgress,
    VoxelSize,
    Workers,
    app,
    command_line,
    parse_triple,
)
from volseg.config import validated
from volseg.errors import ConfigError


@app.command()
def phantom(
    out: OutStore,
    shape: Annotated[
        str | None, typer.Option(help="Volume shape Z,Y,X in voxels (default 64,512,512).")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="'small' (64,512,512) or 'full' (1800,2300,1920).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the scene and the noise.")] = 0,
    mode: Annotated[
        str,
        typer.Option(
            help="'fast' (statistical CT look) or 'ct' (simulated "
            "projections + filtered back-projection, slow)."
        ),
    ] = "fast",
    dtype: Annotated[str, typer.Option(help="uint8, uint16 or float32.")] = "uint8",
    voxel_size: VoxelSize = "1,1,1",
    soma_fraction: Annotated[float, typer.Option(help="Soma voxel fraction in the cord.")] = 0.04,
    nuclei: Annotated[bool, typer.Option(help="Draw nuclei inside somas.")] = True,
    chunks: Chunks = None,
    levels: Levels = 1,
    workers: Workers = None,
    overwrite: Overwrite = False,
    progress: ShowProgress = True,
) -> None:
    """Write a synthetic spinal-cord tomography volume (labels: 0 background, 1 soma, 2 vessel)."""
    from volseg.io import describe, format_info
    from volseg.phantom import PhantomConfig, generate_phantom

    options: dict[str, Any] = {
        "seed": seed,
        "mode": mode,
        "dtype": dtype,
        "soma_fraction": soma_fraction,
        "nuclei": nuclei,
        "voxel_size": parse_triple(voxel_size, "--voxel-size", float),
    }
    if preset is not None and shape is not None:
        raise ConfigError("give either --shape or --preset, not both")
    if preset is not None:
        values = {"name": preset, **options}
        config = validated(PhantomConfig.preset, values, what="phantom options", style="flag")
    else:
        values = {"shape": parse_triple(shape or "64,512,512", "--shape"), **options}
        config = validated(PhantomConfig, values, what="phantom options", style="flag")
    store = generate_phantom(
        out,
        config,
        chunks=parse_triple(chunks, "--chunks"),
        levels=levels,
        overwrite=overwrite,
        num_workers=workers,
        progress=progress,
        command=command_line(),
    )
    typer.echo(format_info(describe(store.path)))
