#!/usr/bin/env bash
# Download into .whl/ (ignored by git) the wheels that the GPU machine's image lacks, for its
# Python 3.12 on x86-64, at the versions this checkout's virtualenv runs; gpu_check.sh
# installs them there. The image already holds torch, numpy, scipy, scikit-image, numba,
# pandas, pyarrow, xarray, tifffile, matplotlib, rich, click, pyyaml, psutil, toolz,
# cloudpickle, msgpack, fsspec, jinja2 and pytest; a second copy of any of those would
# shadow the image's build, so they are not downloaded.
#   benchmarks/gpu_wheels.sh [PYTHON]      # default: .venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-.venv/bin/python}
version() { "$py" -c "import importlib.metadata as m; print(m.version('$1'))"; }
packages=(dask distributed zarr numcodecs donfig google-crc32c pydantic pydantic-core
  annotated-types typing-inspection typing-extensions tblib zict locket partd tornado
  monai typer)
specs=()
for p in "${packages[@]}"; do specs+=("$p==$(version "$p")"); done
rm -rf .whl && mkdir .whl
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 --platform any -d .whl "${specs[@]}"
du -sh .whl
