#!/bin/sh
# deepcee against PyTorch on the same machine, in one run (issue 12): for each network, deepcee's
# training step and detection (build/bench_train, one GEMM route: the engine's own choice unless
# --route), then the same network in PyTorch (bench/torch_peer.py, built from the layer tables and
# the configuration bench_train writes, with as many threads as the OpenCL device has compute
# units), back to back; with --rounds R the pair is repeated R times (alternating). Then the table:
# network, phase, deepcee ms, torch ms, ratio torch / deepcee (> 1: deepcee faster).
#
#   bench/peer.sh [--build DIR] [--nets "demo paper"] [--rounds R] [--route auto|host|clblast]
#                 [--demo-steps N] [--demo-detect D] [--paper-steps N] [--paper-detect D]
#                 [--threads T] [--omp "default PASSIVE"] [--tf-same] [--out DIR]
#
# Run from the source folder with deepcee built (cmake -S . -B build; make -C build bench_train
# deepcee). PyTorch is a benchmark-only dependency (Debian 12: apt-get install -y python3-torch
# python3-torchvision), used through Debian's /usr/bin/python3 (DEEPCEE_PEER_PYTHON overrides).
# Steps: the first of each run is not timed, so N steps give N - 1 timed; D detections are timed
# after one untimed. Defaults: demo 21 steps and 20 detections, paper 4 steps and 3 detections,
# 1 round, results in BUILD/peer-out/.
#
# torch runs once per OpenMP wait policy in --omp (default: libgomp's default, then
# OMP_WAIT_POLICY=PASSIVE). On a machine whose cores are shared with other jobs, libgomp's
# spin-waiting threads made torch's 2-thread step up to 10x slower than with PASSIVE (measured here,
# bench/README.md); the table gives both and its ratio takes the faster, so that the comparison
# does not rest on torch's worst case.
set -eu

BUILD=build
NETS="demo paper"
ROUNDS=1
ROUTE=auto
DEMO_STEPS=21
DEMO_DET=20
PAPER_STEPS=4
PAPER_DET=3
THREADS=
TF_SAME=
OMP="default PASSIVE"
OUT=
PY=${DEEPCEE_PEER_PYTHON:-/usr/bin/python3}

usage() {
    sed -n '9,11p' "$0" | sed 's/^# *//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$2; shift 2 ;;
        --nets) NETS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --route) ROUTE=$2; shift 2 ;;
        --demo-steps) DEMO_STEPS=$2; shift 2 ;;
        --demo-detect) DEMO_DET=$2; shift 2 ;;
        --paper-steps) PAPER_STEPS=$2; shift 2 ;;
        --paper-detect) PAPER_DET=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --tf-same) TF_SAME=--tf-same; shift ;;
        --omp) OMP=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) usage ;;
    esac
done

die() {
    echo "bench/peer.sh: $*" >&2
    exit 2
}

# PyTorch first: a clear message, not a traceback
if ! command -v "$PY" >/dev/null 2>&1; then
    die "no Python at $PY; the PyTorch peer needs Debian's python3 with PyTorch: apt-get install -y python3-torch python3-torchvision"
fi
if ! "$PY" -c 'import torch, torchvision' >/dev/null 2>&1; then
    die "PyTorch is not installed for $PY (a benchmark-only dependency; Debian 12): apt-get install -y python3-torch python3-torchvision"
fi
[ -x "$BUILD/bench_train" ] || die "$BUILD/bench_train is missing: cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=RelWithDebInfo && make -C $BUILD bench_train deepcee"
[ -x "$BUILD/deepcee" ] || die "$BUILD/deepcee is missing: make -C $BUILD deepcee"
[ -f bench/torch_peer.py ] || die "run from the source folder (bench/torch_peer.py not found)"

# The engine's threads: PoCL runs one per compute unit and the host GEMM route gives OpenBLAS as
# many, unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say otherwise; both are unset below.
DEVICES=$("$BUILD/deepcee" devices 2>&1) || die "deepcee devices failed: $DEVICES"
if [ -z "$THREADS" ]; then
    THREADS=$(printf '%s\n' "$DEVICES" | sed -n 's/.*compute units: \([0-9]*\).*/\1/p' | head -n 1)
    [ -n "$THREADS" ] || die "cannot read the device's compute units from 'deepcee devices'; pass --threads"
fi

[ -n "$OUT" ] || OUT="$BUILD/peer-out"
mkdir -p "$OUT"
echo "== deepcee against PyTorch, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
echo "device (first listed; DEEPCEE_DEVICE=${DEEPCEE_DEVICE:-unset}):"
printf '%s\n' "$DEVICES" | sed -n '1,3p' | sed 's/^/  /'
echo "threads: deepcee = the device's compute units ($THREADS), torch.set_num_threads($THREADS)"
echo "deepcee route: $ROUTE; torch: $("$PY" -c 'import torch, torchvision; print(torch.__version__, "/ torchvision", torchvision.__version__)')"
echo "load before: $(uptime)"

RESULTS=
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for net in $NETS; do
        case "$net" in
            demo) steps=$DEMO_STEPS; det=$DEMO_DET ;;
            paper) steps=$PAPER_STEPS; det=$PAPER_DET ;;
            *) steps=$DEMO_STEPS; det=$DEMO_DET ;;
        esac
        dj="$OUT/$net.r$r.deepcee.json"
        echo "-- round $r, $net: deepcee (bench_train --net $net --steps $steps --reps 1 --detect $det --route $ROUTE)"
        if ! env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS "$BUILD/bench_train" --net "$net" --steps "$steps" \
            --reps 1 --detect "$det" --route "$ROUTE" --json "$dj" > "$OUT/$net.r$r.deepcee.txt" 2>&1; then
            cat "$OUT/$net.r$r.deepcee.txt" >&2
            die "bench_train failed for $net"
        fi
        cat "$OUT/$net.r$r.deepcee.txt"
        for pol in $OMP; do
            tj="$OUT/$net.r$r.torch-$pol.json"
            if [ "$pol" = default ]; then wait_env="-u OMP_WAIT_POLICY"; else wait_env="OMP_WAIT_POLICY=$pol"; fi
            echo "-- round $r, $net: torch, OpenMP wait policy $pol"
            # shellcheck disable=SC2086
            env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS $wait_env "$PY" bench/torch_peer.py --deepcee "$dj" \
                --threads "$THREADS" --steps "$steps" --detect "$det" --out "$tj" $TF_SAME || \
                die "torch_peer.py failed for $net (exit $?)"
            RESULTS="$RESULTS $tj"
        done
    done
    r=$((r + 1))
done
echo "load after: $(uptime)"
echo
# shellcheck disable=SC2086
"$PY" bench/torch_peer.py --table $RESULTS
