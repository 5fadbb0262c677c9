#!/usr/bin/env python3
"""A test plugin for the exec processor that behaves well or badly on request.

    python3 faulty_plugin.py [BEHAVIOUR] [--persistent] [--pid-file PATH]

Each event is handled with BEHAVIOUR (default "echo"), unless the data of its first record is
"@<behaviour>", which picks the behaviour for that event only. With --persistent it reads one
event per line and answers one line each (the exec processor's persistent mode); otherwise it
reads one event and exits. --pid-file writes the process id first (for zombie checks).

Behaviours:
  echo              Ok with the same data, partition keys describing the event (see below);
                    records whose data starts with "fail" are ProcessingFailed, "drop" Dropped
  stderr            echo, after writing one stderr line per record ("saw <recordId>")
  stderr-flood      echo, after writing 200 KiB to stderr
  slow              echo after 0.3 s
  crash             writes "boom: crashing on purpose" to stderr and exits with status 3
  hang              writes "hanging" to stderr and sleeps 30 s
  garbage           answers "this is not json"
  not-object        answers [1, 2]
  oversize          answers 7 MB (more than Lambda's 6 MB response limit)
  missing-id        leaves out the last record
  duplicated-id     answers the first record twice
  unknown-id        answers an id that was not sent
  bad-base64        answers data that is not base64
  missing-data      answers records without data
  unknown-result    answers result "Maybe"
  bad-partition-key answers a partition key whose value is a number
  two-lines         answers, then writes a second line (persistent mode)
  exit-after        answers, then exits 0 (persistent mode: dies between batches)
  barrier:DIR:N     echo, once N invocations (of any process) have reached the barrier: each
                    adds a file to DIR and waits up to 10 s for N files there, else writes
                    "barrier timed out" to stderr and exits with status 4 (proves that
                    invocations run at once)
  flaky[:RATE]      crashes like crash with probability RATE (default 0.05) per event, and on
                    every event holding a record with `"poison": true`; else echo (the crash
                    soak's external processor)

Partition keys of echo: invocation (the invocationId), count (records in the event), eventBytes
(size of the event JSON), region, deliveryStreamArn, sourceKinesisStreamArn, and per record
shardId, partitionKey, sequenceNumber, subsequenceNumber, arrival (both timestamps, which must
agree).
"""

import base64
import json
import os
import random
import sys
import time


def echo_record(event, record, size):
    data = base64.b64decode(record["data"], validate=True)
    metadata = record["kinesisRecordMetadata"]
    if data.startswith(b"fail"):
        return {"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]}
    if data.startswith(b"drop"):
        return {"recordId": record["recordId"], "result": "Dropped", "data": record["data"]}
    keys = {
        "invocation": event["invocationId"],
        "count": str(len(event["records"])),
        "eventBytes": str(size),
        "region": event["region"],
        "deliveryStreamArn": event["deliveryStreamArn"],
        "sourceKinesisStreamArn": event.get("sourceKinesisStreamArn", ""),
        "shardId": metadata["shardId"],
        "partitionKey": metadata["partitionKey"],
        "sequenceNumber": metadata["sequenceNumber"],
        "subsequenceNumber": str(metadata["subsequenceNumber"]),
        "arrival": "%d/%d" % (record["approximateArrivalTimestamp"], metadata["approximateArrivalTimestamp"]),
    }
    return {"recordId": record["recordId"], "result": "Ok", "data": record["data"], "metadata": {"partitionKeys": keys}}


def echo(event, size):
    return {"records": [echo_record(event, record, size) for record in event["records"]]}


def respond(out, line, event, behaviour, persistent):
    """The response bytes for one event (None: nothing to write)."""
    records = event["records"]
    if behaviour == "echo":
        return json.dumps(echo(event, len(line))).encode()
    if behaviour == "stderr":
        for record in records:
            sys.stderr.write("saw %s\n" % record["recordId"])
        sys.stderr.flush()
        return json.dumps(echo(event, len(line))).encode()
    if behaviour == "stderr-flood":
        sys.stderr.write(("x" * 99 + "\n") * 2048)
        sys.stderr.flush()
        return json.dumps(echo(event, len(line))).encode()
    if behaviour == "slow":
        time.sleep(0.3)
        return json.dumps(echo(event, len(line))).encode()
    if behaviour.startswith("barrier:"):
        directory, count = behaviour[len("barrier:"):].rsplit(":", 1)
        with open(os.path.join(directory, "%d-%s" % (os.getpid(), event["invocationId"])), "w"):
            pass
        deadline = time.monotonic() + 10
        while len(os.listdir(directory)) < int(count):
            if time.monotonic() > deadline:
                sys.stderr.write("barrier timed out\n")
                sys.stderr.flush()
                os._exit(4)
            time.sleep(0.01)
        return json.dumps(echo(event, len(line))).encode()
    if behaviour.startswith("flaky"):
        rate = float(behaviour.split(":", 1)[1]) if ":" in behaviour else 0.05
        poisoned = any(b'"poison": true' in base64.b64decode(record["data"]) for record in records)
        behaviour = "crash" if poisoned or random.random() < rate else "echo"
        if behaviour == "echo":
            return json.dumps(echo(event, len(line))).encode()
    if behaviour == "crash":
        sys.stderr.write("boom: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    if behaviour == "hang":
        sys.stderr.write("hanging\n")
        sys.stderr.flush()
        time.sleep(30)
        return None
    if behaviour == "garbage":
        return b"this is not json"
    if behaviour == "not-object":
        return b"[1, 2]"
    if behaviour == "oversize":
        return b'{"records": [], "padding": "' + b"x" * (7 << 20) + b'"}'
    answers = [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in records]
    if behaviour == "missing-id":
        answers = answers[:-1]
    elif behaviour == "duplicated-id":
        answers.append(answers[0])
    elif behaviour == "unknown-id":
        answers[-1]["recordId"] = "not-sent"
    elif behaviour == "bad-base64":
        answers[0]["data"] = "not base64!"
    elif behaviour == "missing-data":
        for answer in answers:
            del answer["data"]
    elif behaviour == "unknown-result":
        answers[0]["result"] = "Maybe"
    elif behaviour == "bad-partition-key":
        answers[0]["metadata"] = {"partitionKeys": {"year": 2024}}
    elif behaviour == "two-lines":
        return json.dumps({"records": answers}).encode() + b"\n" + json.dumps({"records": answers}).encode()
    elif behaviour == "exit-after":
        out.write(json.dumps({"records": answers}).encode() + b"\n")
        out.flush()
        os._exit(0)
    elif behaviour != "ok":
        sys.stderr.write("faulty_plugin.py: unknown behaviour %r\n" % behaviour)
        os._exit(64)
    return json.dumps({"records": answers}).encode()


def handle(out, line, default, persistent):
    event = json.loads(line)
    behaviour = default
    first = base64.b64decode(event["records"][0]["data"]) if event["records"] else b""
    if first.startswith(b"@"):
        behaviour = first[1:].decode()
    response = respond(out, line.rstrip(b"\n"), event, behaviour, persistent)
    if response is not None:
        out.write(response + (b"\n" if persistent else b""))
        out.flush()


def main(argv):
    persistent = "--persistent" in argv
    argv = [argument for argument in argv if argument != "--persistent"]
    if "--pid-file" in argv:
        index = argv.index("--pid-file")
        with open(argv[index + 1], "w") as file:
            file.write(str(os.getpid()))
        del argv[index : index + 2]
    default = argv[0] if argv else "echo"
    out = sys.stdout.buffer
    if persistent:
        for line in sys.stdin.buffer:
            handle(out, line, default, persistent)
    else:
        handle(out, sys.stdin.buffer.read(), default, persistent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
