#!/usr/bin/env bash
# Build the study inputs under ${OUT:-out}: the shared real tomography (train/validate) as
# volseg stores with labels, a small phantom and, with FULL=1, the full-size phantom.
set -euo pipefail
OUT=${OUT:-out}
SHARED=${SHARED:-$(dirname "$0")/../../shared/data/tomography}
VOLSEG=${VOLSEG:-volseg}
for split in train validate; do
  "$VOLSEG" ingest "$SHARED/$split" "$OUT/tomography_$split.zarr" \
    --classes background,dendrite --overwrite --no-progress
done
"$VOLSEG" phantom "$OUT/phantom_small.zarr" --preset small --levels 3 --overwrite --no-progress
"$VOLSEG" phantom "$OUT/phantom_validate.zarr" --preset small --seed 1 --overwrite --no-progress
if [ "${FULL:-0}" = 1 ]; then
  "$VOLSEG" phantom "$OUT/phantom_full.zarr" --preset full --levels 4 --overwrite
fi
