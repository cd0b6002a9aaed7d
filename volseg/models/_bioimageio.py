"""Export a checkpoint as a bioimage.io model package (format 0.5), TorchScript included."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import volseg
from volseg.errors import ConfigError, InputNotFoundError, StoreExistsError
from volseg.models._bioimageio_files import (
    channel_names,
    cover_image,
    normalization,
    package_input,
    readme,
)
from volseg.models._checkpoint import CHECKPOINT_FORMAT, Checkpoint, load_checkpoint, state_bytes
from volseg.models._package import NETWORK_CALLABLE, NETWORK_MODULE
from volseg.models._packaged import ClassProbabilities
from volseg.tiling import derive_context

__all__ = ["export_bioimageio"]

_STATE_DICT = "weights.pt"
_TORCHSCRIPT = "weights_torchscript.pt"
_INPUT, _OUTPUT = "raw", "probabilities"
# The paper of each registered architecture: (citation, DOI).
_PAPERS = {
    "segnet": (
        "Badrinarayanan V, Kendall A, Cipolla R. SegNet: a deep convolutional encoder-decoder "
        "architecture for image segmentation. IEEE TPAMI 39(12), 2017.",
        "10.1109/TPAMI.2016.2644615",
    ),
    "unet": (
        "Ronneberger O, Fischer P, Brox T. U-Net: convolutional networks for biomedical "
        "image segmentation. MICCAI 2015.",
        "10.1007/978-3-319-24574-4_28",
    ),
}


def _check_out(out: Path, overwrite: bool) -> None:
    if out.suffix != ".zip":
        raise ConfigError(
            f"the package path {out} must end in .zip (a bioimage.io package is a zip); "
            f"use e.g. {out.with_suffix('.zip').name}"
        )
    if out.exists() and not overwrite:
        raise StoreExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if out.is_dir():
        raise ConfigError(f"{out} is a folder; give a file path ending in .zip")


def _sizes(alignment: int) -> tuple[int, int]:
    """Halo (volseg's default tile context) and the smallest input edge that keeps at least
    one aligned step after cropping the halo on both sides."""
    halo = derive_context(alignment=alignment)
    return halo, (2 * halo // alignment + 1) * alignment


def _name(checkpoint: Checkpoint, classes: list[str]) -> str:
    text = f"volseg {checkpoint.architecture} ({' '.join(classes)})"
    # bioimage.io names allow letters, digits, spaces and _+-() only
    return re.sub(r"[^A-Za-z0-9_+\-() ]", "-", text)[:128]


def _torchscript(network: ClassProbabilities, path: Path) -> None:
    with warnings.catch_warnings():
        # TorchScript is deprecated in torch but is the format bioimage.io tools run
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated", category=Warning)
        torch.jit.script(network).save(str(path))


def _write_files(
    checkpoint: Checkpoint, folder: Path, sample: str | os.PathLike[str] | None
) -> dict[str, Any]:
    raw = state_bytes(checkpoint.model)
    if hashlib.sha256(raw).hexdigest() != checkpoint.sha256:
        raise ConfigError(f"{checkpoint.path}: its weights do not serialize to their own hash")
    (folder / _STATE_DICT).write_bytes(raw)
    network = ClassProbabilities(checkpoint.model, checkpoint.info.logit_offsets)
    network.eval()
    _torchscript(network, folder / _TORCHSCRIPT)
    halo, min_size = _sizes(checkpoint.alignment)
    image = package_input(checkpoint, min_size, checkpoint.alignment, sample)
    mean, std = normalization(checkpoint)
    with torch.no_grad():  # provisional: replaced by bioimageio.core's own output
        x = (torch.from_numpy(image) - mean) / std
        probabilities = network(x).numpy()
    np.save(folder / "test_input.npy", image)
    np.save(folder / "test_output.npy", probabilities)
    cover_image(folder / "cover.png", image, probabilities)
    return {"halo": halo, "min_size": min_size, "sha256": checkpoint.sha256}


def _reference_output(descr: Any) -> np.ndarray:
    """The test output as bioimageio.core's reproduction test computes it (its
    normalization, the whole test image in one pass, on the CPU), so the package's test
    passes bit for bit wherever that computation is repeated."""
    from bioimageio.core import create_prediction_pipeline
    from bioimageio.core.digest_spec import get_test_input_sample

    sample = get_test_input_sample(descr)
    with create_prediction_pipeline(
        bioimageio_model=descr, devices=["cpu"], weight_format="pytorch_state_dict"
    ) as pipeline:
        pipeline.apply_preprocessing(sample)
        result = pipeline.predict_sample_without_blocking(
            sample,
            skip_preprocessing=True,
            skip_postprocessing=True,
            skip_input_padding=True,
            skip_output_cropping=True,
        )
    return np.asarray(result.members[_OUTPUT].data, dtype=np.float32)


def _description(
    checkpoint: Checkpoint,
    folder: Path,
    files: dict[str, Any],
    *,
    name: str | None,
    authors: Sequence[str],
    license: str,
) -> Any:
    from bioimageio.spec.model import v0_5 as bio

    meta = checkpoint.metadata
    classes = list(checkpoint.info.classes)
    title = name or _name(checkpoint, classes)
    halo, min_size, step = files["halo"], files["min_size"], checkpoint.alignment
    (folder / "README.md").write_text(
        readme(checkpoint, name=title, halo=halo, min_size=min_size, classes=classes)
    )
    mean, std = normalization(checkpoint)
    raw_id, out_id = bio.TensorId(_INPUT), bio.TensorId(_OUTPUT)
    size = bio.ParameterizedSize(min=min_size, step=step)
    inputs = bio.InputTensorDescr(
        id=raw_id,
        description="raw intensities; the package normalizes them with the training data's "
        "mean and std",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=channel_names(checkpoint.in_channels)),
            bio.SpaceInputAxis(id=bio.AxisId("y"), size=size),
            bio.SpaceInputAxis(id=bio.AxisId("x"), size=size),
        ],
        test_tensor=bio.FileDescr(source=folder / "test_input.npy"),
        preprocessing=[
            bio.FixedZeroMeanUnitVarianceDescr(
                kwargs=bio.FixedZeroMeanUnitVarianceKwargs(mean=mean, std=std)
            )
        ],
    )
    outputs = bio.OutputTensorDescr(
        id=out_id,
        description="class probabilities, corrected for training's class weights; "
        "their argmax is volseg's label",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=classes),
            *(
                bio.SpaceOutputAxisWithHalo(
                    id=bio.AxisId(a),
                    halo=halo,
                    size=bio.SizeReference(tensor_id=raw_id, axis_id=bio.AxisId(a)),
                )
                for a in ("y", "x")
            ),
        ],
        test_tensor=bio.FileDescr(source=folder / "test_output.npy"),
        data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
    )
    version = bio.Version(torch.__version__.split("+")[0])
    kwargs = {
        "architecture": checkpoint.architecture,
        "arguments": checkpoint.arguments,
        "logit_offsets": (
            None if checkpoint.info.logit_offsets is None else list(checkpoint.info.logit_offsets)
        ),
    }
    weights = bio.WeightsDescr(
        pytorch_state_dict=bio.PytorchStateDictWeightsDescr(
            source=folder / _STATE_DICT,
            sha256=bio.Sha256(files["sha256"]),
            architecture=bio.ArchitectureFromLibraryDescr(
                import_from=NETWORK_MODULE, callable=bio.Identifier(NETWORK_CALLABLE), kwargs=kwargs
            ),
            pytorch_version=version,
            comment="the checkpoint's weights, byte for byte (same sha256)",
        ),
        torchscript=bio.TorchscriptWeightsDescr(
            source=folder / _TORCHSCRIPT,
            parent="pytorch_state_dict",
            pytorch_version=version,
            comment="torch.jit.script of volseg.models.bioimageio_network; needs no volseg",
        ),
    )
    family = "unet" if checkpoint.architecture.startswith("unet") else "segnet"
    text, doi = _PAPERS[family]
    return bio.ModelDescr(
        name=title,
        description=f"2D semantic segmentation ({', '.join(classes)}) of tomography slices: "
        f"{checkpoint.architecture} trained with volseg {meta.get('volseg_version', '')}",
        authors=[bio.Author(name=a) for a in authors],
        cite=[bio.CiteEntry(text=text, doi=bio.Doi(doi))],
        license=bio.LicenseId(license),
        documentation=bio.FileDescr(source=folder / "README.md"),
        covers=[bio.FileDescr(source=folder / "cover.png")],
        tags=["volseg", "semantic-segmentation", "2d", "pytorch", "tomography", family],
        inputs=[inputs],
        outputs=[outputs],
        weights=weights,
        config=bio.Config(
            volseg={
                "format": CHECKPOINT_FORMAT,
                "architecture": checkpoint.architecture,
                "arguments": checkpoint.arguments,
                "weights_sha256": checkpoint.sha256,
                "metadata": meta,
                "exported_by": volseg.__version__,
            }
        ),
    )


def export_bioimageio(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    sample: str | os.PathLike[str] | None = None,
    authors: Sequence[str] = (),
    license: str = "CC-BY-4.0",
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a checkpoint as a bioimage.io model package (format 0.5): ``OUT.zip``.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A checkpoint from `volseg train` (or a package volseg exported).
    out : str or os.PathLike
        The package to write; must end in ``.zip``. Written atomically.
    sample : str or os.PathLike, optional
        Images for the test tensors and the cover: a slice stack as `volseg ingest` reads
        it (its middle slices' centre is used). Default: smooth synthetic blobs with the
        checkpoint's mean and std. Give real data for a meaningful test and cover.
    authors : sequence of str
        Names of the people who trained the model (bioimage.io uploads need at least one).
    license : str, default "CC-BY-4.0"
        SPDX identifier of the weights' license.
    name : str, optional
        Model name (letters, digits, spaces, ``_+-()``); default from the architecture and
        classes.
    overwrite : bool, default False
        Replace an existing ``out``.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    InputNotFoundError, CheckpointError
        As :func:`volseg.models.load_checkpoint`; also a checkpoint without a normalization.
    ConfigError
        ``out`` not ending in ``.zip``, or a description bioimage.io rejects (the message
        lists the fields).
    StoreExistsError
        ``out`` exists and ``overwrite`` is false.

    Notes
    -----
    The package holds ``pytorch_state_dict`` weights (the checkpoint's weight bytes, so the
    same sha256; built by ``volseg.models.bioimageio_network``) and TorchScript weights
    (need no volseg), both computing class probabilities; the input's fixed normalization
    as ``fixed_zero_mean_unit_variance``; y/x sizes ``min + n * alignment`` with the halo
    volseg's tiler uses as context; test tensors; a cover; a README; and the checkpoint's
    metadata under ``config.volseg``. ``volseg segment --model OUT.zip`` runs it.
    """
    target = Path(out)
    _check_out(target, overwrite)
    source = Path(checkpoint)
    if not source.is_file():
        raise InputNotFoundError(f"checkpoint not found: {source} does not exist or is not a file")
    ckpt = load_checkpoint(source)
    normalization(ckpt)  # refused before any work
    from bioimageio.spec import ValidationContext, save_bioimageio_package

    with tempfile.TemporaryDirectory(prefix=".volseg-export-", dir=target.parent) as tmp:
        folder = Path(tmp).resolve()  # the description resolves relative paths against it
        files = _write_files(ckpt, folder, sample)

        def describe() -> Any:
            with ValidationContext(root=folder, perform_io_checks=True):
                try:
                    return _description(
                        ckpt, folder, files, name=name, authors=authors, license=license
                    )
                except ValueError as exc:  # pydantic's ValidationError
                    raise ConfigError(f"bioimage.io rejects the description: {exc}") from None

        output = _reference_output(describe())
        np.save(folder / "test_output.npy", output)
        cover_image(folder / "cover.png", np.load(folder / "test_input.npy"), output)
        descr = describe()
        package = folder / "package.zip"
        save_bioimageio_package(descr, output_path=package)
        os.replace(package, target)
    return target
