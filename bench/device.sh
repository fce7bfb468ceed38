#!/usr/bin/env bash
# The TLS comparisons on a lent machine with no package registry: `pack` (here) puts the
# release build, the harness and its origin, and Debian's nginx, wrk and h2load with
# their libraries into .devbench/ (git-ignored, carried); `run` (there) runs scenarios
# with 4 proxy workers on CPUs 0-3, the origin on 4-7 and the load on 8-15.
#
#   bench/device.sh pack
#   SCENARIOS="tls h2 hs hs12 hs13 hsfull hsfull12 hsfull13" bench/device.sh run
#     tls, h2: the harness's scenarios; hs*: bench/tls_handshakes.py, resumed (hs) or full
#     (hsfull), nginx as the harness runs it, --tls12 (12) or --nginx-tls13 (13).
#   SCENARIOS="hits13 hits100k hits100k-011 gzip attack" bench/device.sh run
#     the cache and edge comparisons, one worker as their issues judge them:
#     bench/cache.py (hits of the 13-byte or 100 KiB object, nginx proxy_cache and
#     Forecourt; the proxy on CPU 0, the origin on 1, the load on 2 — or on 1, as on the
#     2-core machine, for -011; Varnish is not carried: it compiles its VCL with the
#     system's C compiler), and bench/attack.py (nginx, HAProxy, Forecourt; the attackers
#     on CPUs 2-7, ATTACK_S (15) seconds a phase).
#   ROUNDS (3) and DUR (5 s) set the rounds; LOAD_PROCS (1) splits the hs* load among
#   that many wrk processes; OURS_FLAGS adds flags to Forecourt's command line (say
#   --session-tickets); results also go to $OUT/bench.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$PWD/.devbench
case "${1:-}" in
pack)
  grep -qx "/.devbench/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/.devbench/" >>.git/info/exclude; }
  rm -rf "$D" && mkdir -p "$D/real" "$D/lib" "$D/bin"
  cargo build --release --quiet
  cargo build --release --quiet --manifest-path ../shared/bench/origin/Cargo.toml --target-dir /tmp/proxybench-origin
  cp target/release/forecourt /tmp/proxybench-origin/release/origin "$D/real/"
  cp ../shared/bench/proxybench.py /etc/nginx/mime.types "$D/"
  for exe in /usr/sbin/nginx /usr/bin/wrk /usr/bin/h2load /usr/sbin/haproxy /usr/bin/slowhttptest; do
    name=$(basename "$exe")
    cp "$exe" "$D/real/"
    # Their own libraries only for them: the other machine's Python keeps its OpenSSL.
    printf '#!/bin/sh\nD=$(dirname "$(readlink -f "$0")")/..\nLD_LIBRARY_PATH=$D/lib exec $D/real/%s "$@"\n' "$name" >"$D/bin/$name"
    chmod +x "$D/bin/$name"
    ldd "$exe" | awk '$3 ~ /^\// && $1 !~ /^lib(c|m|pthread|gcc_s|stdc\+\+)\.so/ {print $3}' | xargs -r cp -L -t "$D/lib/"
  done
  du -sh "$D"
  ;;
run)
  export PATH=$D/bin:$PATH PYTHONUNBUFFERED=1 ORIGIN_BIN=$D/real/origin PROXYBENCH=$D/proxybench.py
  export FORECOURT=$D/real/forecourt NGINX_MIME_TYPES=$D/mime.types
  export OURS_CMD="$D/real/forecourt proxy --from {listen} --to http://{upstream} --workers {threads} --cert {cert} --key {key} ${OURS_FLAGS:-}"
  C=(--rounds "${ROUNDS:-3}" --duration "${DUR:-5}" --threads 4 --origin-threads 4 --load-threads 8 --conns 256 --cpus 0-3:4-7:8-15)
  H=(python3 bench/tls_handshakes.py --load-procs "${LOAD_PROCS:-1}")
  K=(python3 bench/cache.py --rounds "${ROUNDS:-3}" --duration "${DUR:-5}")
  for s in ${SCENARIOS:-tls h2 hs hs12 hs13 hsfull}; do
    echo "== $s"
    case $s in
      hs) "${H[@]}" "${C[@]}" nginx ours ;;
      hs12) "${H[@]}" --tls12 "${C[@]}" nginx ours ;;
      hs13) "${H[@]}" --nginx-tls13 "${C[@]}" nginx ours ;;
      hsfull) "${H[@]}" --full "${C[@]}" nginx ours ;;
      hsfull12) "${H[@]}" --full --tls12 "${C[@]}" nginx ours ;;
      hsfull13) "${H[@]}" --full --nginx-tls13 "${C[@]}" nginx ours ;;
      hits13) "${K[@]}" --scenario hits --size 13 --cpus "${CACHE_CPUS:-0:1:2}" nginx ours ;;
      hits100k) "${K[@]}" --scenario hits --size 102400 --cpus "${CACHE_CPUS:-0:1:2}" nginx ours ;;
      hits100k-011) "${K[@]}" --scenario hits --size 102400 --cpus 0:1:1 nginx ours ;;
      gzip) "${K[@]}" --scenario gzip --cpus "${CACHE_CPUS:-0:1:2}" nginx ours ;;
      attack) python3 bench/attack.py --cpus "${ATTACK_CPUS:-0:1:2-7}" --seconds "${ATTACK_S:-15}" nginx haproxy ours ;;
      *) python3 "$D/proxybench.py" --scenario "$s" "${C[@]}" nginx ours ;;
    esac || echo "== $s failed: rc=$?"  # the next scenarios still run: device time is scarce
  done 2>&1 | tee "${OUT:-/tmp}/bench.txt"
  ;;
*)
  sed -n "2,20p" "$0"
  exit 2
  ;;
esac
