#!/usr/bin/env bash
# Issue 16's GPU measurement in one call (within 8 minutes on an H100/H200): install the
# wheels shipped beside the checkout (benchmarks/gpu_wheels.sh makes .whl/), run the
# gpu-marked tests, then the GPU benchmarks, writing their JSON, tables and logs into
# RESULTS (and RESULTS.tgz, one file to fetch).
#   benchmarks/gpu_check.sh RESULTS            # on the GPU machine
#   benchmarks/gpu_check.sh RESULTS --smoke    # dry run on the CPU (small sizes, minutes)
set -uo pipefail
out=$(realpath -m "${1:?usage: benchmarks/gpu_check.sh RESULTS [--smoke]}")
smoke=${2:-}
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
if [ -z "$smoke" ] && compgen -G ".whl/*.whl" > /dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/volseg-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/volseg-site
fi
export PYTHONPATH=$PWD/benchmarks:$PWD${PYTHONPATH:+:$PYTHONPATH}
status=0
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, keep going on failure
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  echo "== $name"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  rc=$?
  tail -n 25 "$out/$name.log"
  echo "== $name: exit $rc in $((SECONDS - t0)) s"
  [ "$rc" -eq 0 ] || status=1
}
{ nvidia-smi; $py -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } \
  > "$out/machine.txt" 2>&1
cat "$out/machine.txt"
step gpu_tests 180 $py -m pytest -o addopts="" -p no:cacheprovider -W default -m gpu -q -rs \
  tests/infer
if [ -n "$smoke" ]; then
  step bench_gpu 300 $py benchmarks/bench_gpu.py --smoke --out "$out"
  step bench_gpu_segment 300 $py benchmarks/bench_gpu_segment.py --smoke --out "$out"
  step bench_train 300 $py benchmarks/bench_train.py --smoke --device cpu --out "$out"
else
  # extra options for a re-measurement within the same lease, e.g. SEGMENT_ARGS="--models segnet"
  step bench_gpu_segment 200 $py benchmarks/bench_gpu_segment.py --out "$out" ${SEGMENT_ARGS:-}
  step bench_gpu 140 $py benchmarks/bench_gpu.py --device cuda --deadline 80 --out "$out" \
    ${SLICE_ARGS:-}
  [ -n "${SKIP_TRAIN:-}" ] ||
    step bench_train 40 $py benchmarks/bench_train.py --device cuda --batch 32 --out "$out"
fi
tar czf "$out.tgz" -C "$(dirname "$out")" "$(basename "$out")"
exit $status
