#!/usr/bin/env bash
# Runs the command on one GPU that no other replica of this compose project holds.
#   docker compose up --scale sam2refiner=N   (N <= GPUs): each replica sees every GPU (compose cannot hand each
#   of N scaled replicas its own) and takes the first one whose lock file in the shared claims folder it can
#   flock. exec keeps the lock's descriptor open in the service process, so a replica that exits frees its GPU.
set -euo pipefail
claims=${GPU_CLAIMS_DIR:-/run/gpu-claims}
count=${GPU_COUNT:-$(find /dev -maxdepth 1 -name 'nvidia[0-9]*' | wc -l)}
if [ "$count" -eq 0 ]; then
    echo "claim-gpu: no GPU is visible (/dev/nvidia*); on a machine without one use: docker compose --profile cpu up" >&2
    exit 1
fi
mkdir -p "$claims"
for ((i = 0; i < count; i++)); do
    exec 9>>"$claims/gpu$i.lock"
    if flock --nonblock 9; then
        export CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=$i
        echo "claim-gpu: this replica runs on GPU $i of $count" >&2
        exec "$@"
    fi
    exec 9>&-
done
echo "claim-gpu: all $count GPUs are held by other replicas: scale to at most $count" >&2
exit 1
