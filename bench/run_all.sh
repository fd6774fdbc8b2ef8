#!/usr/bin/env bash
# Re-runs every benchmark on the current checkout, one after the other (never two at once:
# they share the machine's cores), each writing its own section of docs/benchmarks.md.
# Run it on a quiet machine: nothing else using the CPU. Takes about an hour on 2 cores.
#   bash bench/run_all.sh [name ...]     # all, or only the named ones (e.g. gateway events)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
declare -A RUN=(
  [gateway]="-m bench.bench_gateway --seconds 5 --rounds 3 --sends 200"
  [events]="-m bench.bench_events --messages 200 --backlog 300"
  [metrics]="-m bench.bench_metrics"
  [stats]="-m bench.bench_stats"
  [export]="-m bench.bench_export"
  [media]="-m bench.bench_media"
  [profiles]="-m bench.bench_profiles --rounds 3"
  [soak]="-m bench.soak"
  [dashboard]="-m bench.bench_dashboard"
  [memory]="-m bench.memory --clients 5"
  [memory-heavy]="-m bench.memory --clients 50 --baseline 3 --weight heavy"
  [ray]="-m bench.bench_ray --clients 10 --placement 5 --nodes 3"
  [restore]="-m bench.bench_restore --clients 100"
  [scale]="-m bench.bench_scale --clients 200 --idle-at 100 --rate 50 100 --seconds 60 --baseline 8"
)
ORDER=(gateway memory memory-heavy restore scale ray events metrics stats export media profiles soak dashboard)
[ $# -gt 0 ] && ORDER=("$@")
failed=()
for name in "${ORDER[@]}"; do
  [ -n "${RUN[$name]:-}" ] || { echo "unknown benchmark: $name" >&2; exit 2; }
  echo "=== $name: $PY ${RUN[$name]}  ($(date -u +%H:%M:%S))"
  start=$SECONDS
  # shellcheck disable=SC2086
  if ! $PY ${RUN[$name]}; then failed+=("$name"); fi
  echo "=== $name took $((SECONDS - start)) s"
done
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
