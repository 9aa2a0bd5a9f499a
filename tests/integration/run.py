#!/usr/bin/python3
"""Runs the Sluice integration tests: real processes ($SLUICE_BIN, default
build/) against a throw-away PostgreSQL and sluice-devkafka.

    tests/integration/run.py [-v] [--keep] [FILTER...]

A FILTER keeps the tests whose id (module.Class.test) contains it. Each module
gets its own stack. After a module, its processes' logs are scanned for
sanitizer reports (any report fails the module); on failure the log tails are
printed and the stack's directory is kept. Ends with "N passed, N failed".
"""
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness  # noqa: E402


class Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from flatten(item)
        else:
            yield item


def main(argv):
    verbose = "-v" in argv
    keep = "--keep" in argv or os.environ.get("SLUICE_IT_KEEP") == "1"
    filters = [a for a in argv if not a.startswith("-")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    loader = unittest.TestLoader()
    modules = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    print(f"integration: binaries from {harness.BIN}", flush=True)
    passed = failed = 0
    started = time.monotonic()
    try:
        for name in modules:
            tests = [t for t in flatten(loader.loadTestsFromName(name))
                     if not filters or any(f in t.id() for f in filters)]
            if not tests:
                continue
            print(f"\n== {name} ({len(tests)} tests)", flush=True)
            t0, first_stack = time.monotonic(), len(harness.STACKS)
            result = Result(unittest.runner._WritelnDecorator(sys.stdout), descriptions=False, verbosity=2 if verbose else 1)
            unittest.TestSuite(tests).run(result)
            result.printErrors()
            mod_failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)

            stacks = harness.STACKS[first_stack:]
            for stack in stacks:
                stack.stop()
                for problem in stack.problems:
                    print(f"FAIL: {name}: process exit: {problem}")
                    mod_failed += 1
                for path, report in stack.sanitizer_reports():
                    print(f"FAIL: {name}: sanitizer report in {path}:\n{report}\n")
                    mod_failed += 1
            if mod_failed:
                for stack in stacks:
                    print(stack.tail_logs())
                    print(f"(kept {stack.dir} for inspection)")
            elif not keep:
                for stack in stacks:
                    stack.cleanup()
            else:
                for stack in stacks:
                    print(f"(kept {stack.dir})")
            passed += result.passed
            failed += mod_failed
            print(f"== {name}: {result.passed} passed, {mod_failed} failed in "
                  f"{time.monotonic() - t0:.1f}s", flush=True)
    finally:
        for stack in harness.STACKS:  # interrupted: stop whatever still runs
            stack.stop()
    print(f"\nintegration: {time.monotonic() - started:.1f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
