"""``volseg phantom``: a synthetic spinal-cord tomography volume with exact labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from volseg.cli._app import app, command_line, parse_triple
from volseg.errors import ConfigError


@app.command()
def phantom(
    out: Annotated[Path, typer.Argument(help="The OME-Zarr store to write (OUT.zarr).")],
    shape: Annotated[
        str | None, typer.Option(help="Volume shape Z,Y,X in voxels [default: 64,512,512].")
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
    voxel_size: Annotated[
        str, typer.Option("--voxel-size", help="Voxel size Z,Y,X in µm.")
    ] = "1,1,1",
    soma_fraction: Annotated[float, typer.Option(help="Soma voxel fraction in the cord.")] = 0.04,
    nuclei: Annotated[bool, typer.Option(help="Draw nuclei inside somas.")] = True,
    chunks: Annotated[str | None, typer.Option(help="Chunk shape Z,Y,X.")] = None,
    levels: Annotated[int, typer.Option(help="Pyramid levels for viewing (1 = none).")] = 1,
    workers: Annotated[
        int | None, typer.Option(help="Parallel threads (default: all CPUs).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it is a volseg store.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Write a synthetic spinal-cord tomography volume (labels: 0 background, 1 soma, 2 vessel)."""
    from volseg.io import describe, format_info
    from volseg.phantom import PhantomConfig, generate_phantom

    options: dict[str, Any] = {
        "seed": seed, "mode": mode, "dtype": dtype, "soma_fraction": soma_fraction,
        "nuclei": nuclei, "voxel_size": parse_triple(voxel_size, "--voxel-size", float),
    }  # fmt: skip
    try:
        if preset is not None:
            if shape is not None:
                raise ConfigError("give either --shape or --preset, not both")
            config = PhantomConfig.preset(preset, **options)  # type: ignore[arg-type]
        else:
            config = PhantomConfig(shape=parse_triple(shape or "64,512,512", "--shape"), **options)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid phantom options: {problems}") from None
    store = generate_phantom(
        out, config, chunks=parse_triple(chunks, "--chunks"), levels=levels, overwrite=overwrite,
        num_workers=workers, progress=progress, command=command_line(),
    )  # fmt: skip
    typer.echo(format_info(describe(store.path)))
