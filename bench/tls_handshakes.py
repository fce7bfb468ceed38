#!/usr/bin/env python3
"""New TLS handshakes per second: the shared harness's `tls` scenario (same certificate,
same origin, same wrk load for every candidate) with `Connection: close` on every
request, so that each request is a new TCP connection and a full TLS handshake (wrk does
not resume sessions). requests/s is then handshakes/s; CPU µs per request is the cost of
a handshake plus one request.

usage: bench/tls_handshakes.py [proxybench options] nginx ours
  e.g. OURS_CMD='target/release/forecourt proxy --from {listen} --to http://{upstream} \\
         --workers {threads} --cert {cert} --key {key}' \\
       bench/tls_handshakes.py --rounds 3 --duration 5 --cpus 0:1:1 nginx ours
The harness is ../shared/bench/proxybench.py (or $PROXYBENCH).
"""
import importlib.util, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
path = os.environ.get("PROXYBENCH", os.path.join(HERE, "..", "..", "shared", "bench", "proxybench.py"))
spec = importlib.util.spec_from_file_location("proxybench", path)
proxybench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxybench)

# The harness closes connections only in its plain `close` scenario; here, over TLS too.
measure = proxybench.load
proxybench.load = lambda args, work, tls, close: measure(args, work, tls, True)
sys.argv = [sys.argv[0], "--scenario", "tls"] + [a for a in sys.argv[1:]]
proxybench.main()
