#!/usr/bin/env python3
"""Differential test: one seeded stream of operations against two servers, compared step by step.

    tests/interop/differential.py --seed 7 --ops 500 --a 127.0.0.1:21801 --b 127.0.0.1:21802

Runs creates of every mode (persistent, ephemeral, sequential, container; TTL with --ttl), deletes,
setData with and without versions, getData/exists/getChildren with and without watches, multi
(some built to fail), session closes and new sessions, persistent and persistent-recursive watches,
removeWatches/checkWatches, getEphemerals and getAllChildrenNumber, from several sessions at once,
through kazoo. After every step each session's notifications are collected behind a sync and
compared along with the results (see zkdiff/execute.py for what is compared and what is not).

Exit status: 0 when the servers agreed on every step, 1 at the first disagreement (the step, the
operation, both results and both event sets are printed), 2 on bad usage or an unreachable server.
Run it with the same server on both sides first (two ZooKeepers): that must pass, and shows the
stream is deterministic.
"""

import argparse
import logging
import os
import pprint
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zkdiff.runner import Runner  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--ops", type=int, required=True, help="number of steps")
    parser.add_argument("--a", required=True, metavar="HOST:PORT", help="server A")
    parser.add_argument("--b", required=True, metavar="HOST:PORT", help="server B")
    parser.add_argument("--sessions", type=int, default=4, help="concurrent sessions (default 4)")
    parser.add_argument("--ttl", action="store_true", help="also create TTL nodes (both support)")
    parser.add_argument("--verbose", action="store_true", help="print every step as it agrees")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 16:
        parser.error("--sessions must be between 1 and 16")
    if args.ops < 1:
        parser.error("--ops must be positive")
    return args


def _pretty(value):
    return pprint.pformat(value, width=96).replace("\n", "\n      ")


def print_mismatch(mismatch, args):
    out = sys.stdout
    print("differential: MISMATCH at step %d (seed %d)" % (mismatch.step, args.seed), file=out)
    print("  root R = %s" % mismatch.root, file=out)
    print("  operation: %s" % mismatch.op.describe(mismatch.root), file=out)
    print("  A %s: %s" % (args.a, _pretty(mismatch.result_a)), file=out)
    print("  B %s: %s" % (args.b, _pretty(mismatch.result_b)), file=out)
    if mismatch.events_a != mismatch.events_b:
        print("  events A: %s" % _pretty(mismatch.events_a), file=out)
        print("  events B: %s" % _pretty(mismatch.events_b), file=out)
    else:
        print("  events (equal): %s" % _pretty(mismatch.events_a), file=out)
    print("  earlier steps on the same path, then the last steps (as both answered):", file=out)
    for entry in mismatch.context:
        print("    ", end="", file=out)
        print_step(*entry)


def print_step(step, description, result, events):
    print("%d: %s -> %r; events %r" % (step, description, result, events), flush=True)


def print_summary(runner, args):
    stats = runner.stats
    ops = ", ".join("%s %d" % item for item in sorted(stats.ops.items()))
    errors = ", ".join("%s %d" % item for item in sorted(stats.errors.items())) or "none"
    print(
        "differential: seed %d: %d steps agree between %s and %s"
        % (args.seed, stats.steps, args.a, args.b)
    )
    print("  operations: %s" % ops)
    print("  errors (equal on both): %s" % errors)
    print("  notifications compared: %d" % stats.events)


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # kazoo's connection chatter is not results
    root = "/differential-%d-%s" % (args.seed, uuid.uuid4().hex[:8])
    trace = print_step if args.verbose else None
    runner = Runner(args.seed, args.a, args.b, root, args.sessions, args.ttl, trace)
    try:
        mismatch = runner.run(args.ops)
    except Exception as exc:  # e.g. a server that cannot be reached to create the root
        print("differential: could not run: %r" % (exc,))
        return 2
    if mismatch is not None:
        print_mismatch(mismatch, args)
        return 1
    print_summary(runner, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
