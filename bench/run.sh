#!/usr/bin/env bash
# Forecourt and nginx side by side: the same origin, the same wrk load, one after the
# other, through the shared harness (../shared/bench/proxybench.py). Prints requests/s,
# p99 latency and proxy CPU microseconds per request, with ratios to nginx.
#
#   bench/run.sh [SCENARIO] [-- extra proxybench args]
#     SCENARIO: small (default) | close | large | all
#   e.g. bench/run.sh all -- --threads 1 --cpus 0:1:1 --rounds 3
#        bench/run.sh small -- --threads 4 --cpus 0-3:4-7:8-15   (a 16-core machine)
#
# Needs: apt-get install -y wrk nginx-light haproxy nghttp2-client
set -euo pipefail
cd "$(dirname "$0")/.."
harness="${PROXYBENCH:-../shared/bench/proxybench.py}"
scenario="${1:-small}"
shift || true
[ "${1:-}" = "--" ] && shift
cargo build --release --quiet
# (In a variable first: inside ${VAR:-...} the braces of the placeholders would end it.)
default_cmd="$PWD/target/release/forecourt proxy --from {listen} --to http://{upstream} --workers {threads}"
export OURS_CMD="${OURS_CMD:-$default_cmd}"
extra=("$@")
scenarios=("$scenario")
[ "$scenario" = all ] && scenarios=(small close large)
for s in "${scenarios[@]}"; do
  python3 "$harness" --scenario "$s" "${extra[@]}" nginx ours
done
