#!/usr/bin/env python3
"""New TLS handshakes per second: the shared harness's `tls` scenario (same certificate,
same origin, same wrk load for every candidate) with `Connection: close` on every
request, so that each request is a new TCP connection and a new TLS handshake.
requests/s is then handshakes/s; CPU µs per request is the cost of a handshake plus one
request.

wrk resumes sessions: it reuses each connection's SSL object (SSL_clear keeps the
session), so after the first handshake on a connection slot every handshake is an
abbreviated one, by ticket. A TLS 1.2 resumption has no key exchange at all; a TLS 1.3
one still has an X25519 exchange on both sides (psk_dhe_ke, the only mode OpenSSL offers).
Debian 12's nginx (1.22) speaks TLS 1.2 only unless told otherwise, and Forecourt prefers
TLS 1.3, so by default the two run different protocols.

  --nginx-tls13  nginx gets `ssl_protocols TLSv1.2 TLSv1.3`: both run TLS 1.3.
  --tls12        Forecourt offers TLS 1.2 only (`--tls-protocols 1.2`), as the harness's
                 nginx does: both run TLS 1.2.
  --full         no resumption on either side (nginx `ssl_session_tickets off;
                 ssl_session_cache off;`, Forecourt `--no-session-resumption`): every
                 handshake is a full one, as for a client's first visit.

usage: bench/tls_handshakes.py [--nginx-tls13 | --tls12] [--full] [proxybench options] nginx ours
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
nginx_lines = []
if "--nginx-tls13" in args:
    args.remove("--nginx-tls13")
    nginx_lines.append("ssl_protocols TLSv1.2 TLSv1.3;")
if "--tls12" in args:
    args.remove("--tls12")
    os.environ["OURS_CMD"] = os.environ.get("OURS_CMD", "") + " --tls-protocols 1.2"
if "--full" in args:
    args.remove("--full")
    nginx_lines.append("ssl_session_tickets off; ssl_session_cache off;")
    os.environ["OURS_CMD"] = os.environ.get("OURS_CMD", "") + " --no-session-resumption"

if nginx_lines:

    class Subprocess:
        """The harness's subprocess module, but nginx starts with `nginx_lines` added to
        its TLS server block."""

        def __getattr__(self, name):
            return getattr(subprocess, name)

        def Popen(self, cmd, *a, **kw):
            if "nginx" in cmd:
                after = cmd[cmd.index("nginx"):]  # past taskset's own -c
                conf = after[after.index("-c") + 1]
                text = open(conf).read()
                extra = " ".join(nginx_lines)
                open(conf, "w").write(re.sub(r"(ssl_certificate_key [^;]+;)", lambda m: m.group(1) + " " + extra, text))
            return subprocess.Popen(cmd, *a, **kw)

    proxybench.subprocess = Subprocess()
sys.argv = [sys.argv[0], "--scenario", "tls"] + args
proxybench.main()
