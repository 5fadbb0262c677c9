#!/usr/bin/env python3
"""Runs a Firehose data-transformation Lambda handler under Sluice's `exec` processor.

    python3 sluice_exec.py HANDLER [--persistent]

HANDLER is `path/to/file.py:function` or `package.module:function`: an ordinary Firehose
transformation handler `function(event, context)` that returns `{"records": [...]}`.

- Batch mode (processor `"mode": "batch"`, the default): reads one event JSON from standard
  input, writes the handler's response JSON to standard output, exits 0.
- Persistent mode (`--persistent`, processor `"mode": "persistent"`): reads one event JSON per
  line and writes one response JSON per line, until standard input ends.

What the handler prints goes to standard error, which Sluice logs, so it cannot corrupt the
protocol on standard output. An exception prints its traceback and exits 1; Sluice fails the
batch with Lambda.FunctionError, retries it, and restarts a persistent process.
Python 3 standard library only.
"""

import importlib
import importlib.util
import json
import os
import sys
import time


class Context:
    """The parts of Lambda's context object that transformation handlers use."""

    def __init__(self, event):
        self._started = time.monotonic()
        self.aws_request_id = event.get("invocationId", "")
        self.function_name = "sluice-exec"
        self.function_version = "$LATEST"
        self.invoked_function_arn = event.get("deliveryStreamArn", "")
        self.memory_limit_in_mb = "0"
        self.log_group_name = "sluice"
        self.log_stream_name = "exec"

    def get_remaining_time_in_millis(self):
        # Sluice does not pass its timeout; Lambda's maximum for Firehose is 5 minutes.
        return max(0, 300_000 - int((time.monotonic() - self._started) * 1000))


def load(spec):
    """The function named by `file.py:function` or `module:function`."""
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise SystemExit(f"sluice_exec.py: HANDLER must be file.py:function or module:function, got {spec!r}")
    if target.endswith(".py") or os.sep in target:
        path = os.path.abspath(target)
        sys.path.insert(0, os.path.dirname(path))  # the handler may import its neighbours
        module_name = os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, name)


def main(argv):
    persistent = "--persistent" in argv
    arguments = [argument for argument in argv if argument != "--persistent"]
    if len(arguments) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    handler = load(arguments[0])
    protocol = sys.stdout.buffer
    sys.stdout = sys.stderr  # print() in the handler must not reach the protocol stream

    def answer(line):
        event = json.loads(line)
        response = handler(event, Context(event))
        protocol.write(json.dumps(response, separators=(",", ":")).encode() + b"\n")
        protocol.flush()

    # Events are often hundreds of KiB: read them through a 1 MiB buffer (the default 8 KiB one
    # makes a line dozens of reads).
    events = open(sys.stdin.fileno(), "rb", buffering=1 << 20, closefd=False)
    if persistent:
        for line in events:
            if not line.isspace():  # stops at the first character that is not blank
                answer(line)
    else:
        answer(events.read())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
