#!/usr/bin/env python3
"""Two (or more) Forecourt builds side by side, with nginx, through the shared harness.

The harness (../shared/bench/proxybench.py) knows one Forecourt, `ours`; this runs it with
any number of named Forecourt commands, each started in turn in every round like the
harness's own candidates, so that a change is judged against the build before it on the
same origin, load and CPU pinning, in one run:

    bench/ab.py --ours before='/tmp/forecourt-old proxy --from {listen} --to http://{upstream} --workers {threads}' \
                --ours after='target/release/forecourt proxy --from {listen} --to http://{upstream} --workers {threads}' \
                --ours after10='target/release/forecourt proxy --from {listen} --to http://{upstream} --workers {threads} --noop-filters 10' \
                -- --scenario small --threads 1 --cpus 0:1:1 --rounds 5 nginx before after after10

Everything after `--` goes to the harness; names given with --ours are candidates there.
Ratios are printed against the first candidate.
"""
import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.environ.get("PROXYBENCH", os.path.join(HERE, "..", "..", "shared", "bench", "proxybench.py"))


def load_harness():
    spec = importlib.util.spec_from_file_location("proxybench", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--ours", action="append", default=[], metavar="NAME=COMMAND",
                    help="a Forecourt command, with the harness's OURS_CMD placeholders")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    commands = {}
    for entry in args.ours:
        name, _, command = entry.partition("=")
        if not command:
            ap.error(f"--ours {entry}: write NAME=COMMAND")
        commands[name] = command
    harness = load_harness()
    start = harness.Candidate.start

    def start_named(self):
        if self.name not in commands:
            return start(self)
        # The harness starts `ours` from $OURS_CMD: each named command in its turn.
        os.environ["OURS_CMD"] = commands[self.name]
        name, self.name = self.name, "ours"
        try:
            start(self)
        finally:
            self.name = name

    harness.Candidate.start = start_named
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    sys.argv = [HARNESS] + rest
    harness.main()


if __name__ == "__main__":
    main()
