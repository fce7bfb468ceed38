#!/usr/bin/env python3
"""New TLS handshakes per second: the shared harness's `tls` scenario (same certificate,
same origin, same wrk load for every candidate) with `Connection: close` on every
request, so that each request is a new TCP connection and a full TLS handshake (wrk does
not resume sessions). requests/s is then handshakes/s; CPU µs per request is the cost of
a handshake plus one request.

Debian 12's nginx (1.22) speaks TLS 1.2 only unless told otherwise, and Forecourt
prefers TLS 1.3; with `--nginx-tls13` nginx gets `ssl_protocols TLSv1.2 TLSv1.3` so that
both run the same protocol (on 2 cores wrk shares a core with the origin and is what
limits the rate, and a TLS 1.3 handshake costs the client more than a TLS 1.2 one).

usage: bench/tls_handshakes.py [--nginx-tls13] [proxybench options] nginx ours
  e.g. OURS_CMD='target/release/forecourt proxy --from {listen} --to http://{upstream} \\
         --workers {threads} --cert {cert} --key {key}' \\
       bench/tls_handshakes.py --rounds 5 --duration 5 --cpus 0:1:1 nginx ours
The harness is ../shared/bench/proxybench.py (or $PROXYBENCH).
"""
import importlib.util, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
path = os.environ.get("PROXYBENCH", os.path.join(HERE, "..", "..", "shared", "bench", "proxybench.py"))
spec = importlib.util.spec_from_file_location("proxybench", path)
proxybench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxybench)

# The harness closes connections only in its plain `close` scenario; here, over TLS too.
measure = proxybench.load
proxybench.load = lambda args, work, tls, close: measure(args, work, tls, True)

args = sys.argv[1:]
if "--nginx-tls13" in args:
    args.remove("--nginx-tls13")

    class Subprocess:
        """The harness's subprocess module, but nginx starts with TLS 1.3 enabled."""

        def __getattr__(self, name):
            return getattr(subprocess, name)

        def Popen(self, cmd, *a, **kw):
            if "nginx" in cmd:
                after = cmd[cmd.index("nginx"):]  # past taskset's own -c
                conf = after[after.index("-c") + 1]
                text = open(conf).read()
                open(conf, "w").write(re.sub(r"(ssl_certificate_key [^;]+;)", r"\1 ssl_protocols TLSv1.2 TLSv1.3;", text))
            return subprocess.Popen(cmd, *a, **kw)

    proxybench.subprocess = Subprocess()
sys.argv = [sys.argv[0], "--scenario", "tls"] + args
proxybench.main()
