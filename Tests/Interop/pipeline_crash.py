#!/usr/bin/env python3
"""Crash test for pipelines: SIGKILL `sluice serve` at random instants while producers write and
pipelines publish, restart it on the same directories, and audit the archive at the end.

    SLUICE_BINARY=.build/debug/sluice python3 Tests/Interop/pipeline_crash.py

`Tests/SluiceServerTests/PipelineCrashTests.swift` runs it from `swift test`. Environment:

- SLUICE_BINARY (required): the `sluice` executable.
- SLUICE_WORK_DIR (optional): an empty directory for pipelines, data, archive and logs (a
  temporary directory, kept for inspection when the audit fails, when unset).
- SLUICE_CRASH_SECONDS (default 25): how long to keep killing and restarting; at least
  SLUICE_CRASH_MIN_CYCLES (default 8) kills happen whatever this says.
- SLUICE_CRASH_PARTITIONS=1: adds a third pipeline on the same stream with a per-second prefix
  and maximumOpenPartitions 2, so most of its records go through error output.
- SLUICE_CRASH_RESHARD=1: UpdateShardCount on the source stream (2 -> 4 -> 2 ...) every third
  cycle, so pipelines cross parent and child shards between kills.
- SLUICE_CRASH_SEED: the seed of the random choices (kill instants, batch sizes, flushes); printed.

Setup: one stream-sourced pipeline (`crash-stream`, stream `crash-clicks`, 2 shards,
createIfMissing) and one directPut pipeline (`crash-direct`, 2 shards), both sizeInMBs 1 and
intervalInSeconds 60, so files are published by size every second or so and by admin flushes
fired at random moments (some right before a kill). Two Kinesis producers (PutRecords) and two
Firehose producers (PutRecordBatch) send 50-500 records of a few hundred bytes, each a JSON line
with a unique id. An id counts as acknowledged only for HTTP 200 and no per-record error; a
connection error, a timeout or an error answer acknowledges nothing, and the id is never sent again.
About one stop in five is a SIGTERM under load instead of a SIGKILL; it must exit 0.

End: restart, flush every pipeline through the admin endpoint until a flush publishes nothing,
SIGTERM (exit 0 expected), then read every published file (data files, and the rawData of
error-output documents). Promises checked: every acknowledged id exactly once; no id more than
once; no id that was never sent; no hidden temporary file left in the archive; every .gz file
complete; records of one partition key in order inside each file. Exit status 0 when they hold.

Only processes this script started are signalled, by PID; every wait is bounded.
"""

import subprocess
import base64
import gzip
import http.client
import json
import os
import random
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from firehose_interop import SluiceServer, install_cleanup, write_pipeline  # noqa: E402

STREAM_PIPELINE, DIRECT_PIPELINE, PARTS_PIPELINE = "crash-stream", "crash-direct", "crash-parts"
# A third reader of the stream with processors and dynamic partitioning: records are reshaped by
# jsonProject and routed by a key taken by metadataExtraction; exactly once must hold there too.
PROCS_PIPELINE = "crash-procs"
SOURCE_STREAM = "crash-clicks"
DIRECT_STREAM = "firehose-" + DIRECT_PIPELINE
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
KEYS_PER_PRODUCER = 5


def log(message):
    sys.stdout.write("[%7.2f] %s\n" % (time.monotonic() - STARTED, message))
    sys.stdout.flush()


STARTED = time.monotonic()


THREAD_FAILURES = []


def guarded(body):
    """Runs a thread's body; an exception is recorded (the run fails) instead of lost."""
    try:
        body()
    except BaseException as error:  # noqa: BLE001 - reported as a failure of the run
        THREAD_FAILURES.append("%s: %r" % (threading.current_thread().name, error))
        raise


class Target:
    """Where the server currently listens (None while it is down)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.api = self.admin = None
        self.generation = 0

    def set(self, api, admin):
        with self.lock:
            self.api, self.admin = api, admin
            self.generation += 1

    def get(self):
        with self.lock:
            return self.api, self.admin, self.generation


class Ledger:
    """What producers sent and what the server acknowledged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = set()
        self.acknowledged = set()
        self.requests = {"ok": 0, "partial": 0, "error-answer": 0, "connection": 0}
        self.protocol_errors = []
        self.error_answers = {}

    def record(self, ids, acknowledged, outcome):
        with self.lock:
            self.sent.update(ids)
            self.acknowledged.update(acknowledged)
            self.requests[outcome] += 1


class Producer(threading.Thread):
    """Sends batches until stopped; counts only what the server acknowledged."""

    def __init__(self, name, kind, target, ledger, seed, stop):
        super().__init__(name=name, daemon=True)
        self.kind, self.target, self.ledger, self.stop = kind, target, ledger, stop
        self.rng = random.Random(seed)
        self.counter = 0
        self.connection = None
        self.connection_generation = -1

    def batch(self):
        size = self.rng.randint(50, 500)
        ids, entries = [], []
        for _ in range(size):
            self.counter += 1
            record_id = "%s-%07d" % (self.name, self.counter)
            key = "%s-k%d" % (self.name, self.counter % KEYS_PER_PRODUCER)
            pad = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(self.rng.randint(150, 400)))
            # Kinesis records name their partition key (the order check uses it); Firehose assigns
            # partition keys itself, so its records carry none and keep no order across shards.
            document = {"id": record_id, "key": key, "pad": pad} if self.kind == "kinesis" else {"id": record_id, "pad": pad}
            data = (json.dumps(document) + "\n").encode("utf-8")
            entry = {"Data": base64.b64encode(data).decode("ascii")}
            if self.kind == "kinesis":
                entry["PartitionKey"] = key
            ids.append(record_id)
            entries.append(entry)
        if self.kind == "kinesis":
            return ids, "Kinesis_20131202.PutRecords", {"StreamName": SOURCE_STREAM, "Records": entries}
        return ids, "Firehose_20150804.PutRecordBatch", {"DeliveryStreamName": DIRECT_PIPELINE, "Records": entries}

    def acknowledged(self, ids, answer):
        """The ids the answer acknowledges, or None if the answer is malformed."""
        entries = answer.get("Records" if self.kind == "kinesis" else "RequestResponses")
        failed = answer.get("FailedRecordCount" if self.kind == "kinesis" else "FailedPutCount")
        if not isinstance(entries, list) or len(entries) != len(ids) or not isinstance(failed, int):
            return None
        good = [record_id for record_id, entry in zip(ids, entries) if "ErrorCode" not in entry]
        if len(ids) - len(good) != failed:
            return None
        return good

    def run(self):
        guarded(self.produce)

    def produce(self):
        while not self.stop.is_set():
            api, _, generation = self.target.get()
            if api is None:
                time.sleep(0.02)
                continue
            if self.connection is None or self.connection_generation != generation:
                if self.connection is not None:
                    self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", api, timeout=15)
                self.connection_generation = generation
            ids, operation, body = self.batch()
            try:
                self.connection.request("POST", "/", body=json.dumps(body).encode("utf-8"), headers={
                    "X-Amz-Target": operation, "Content-Type": JSON_CONTENT_TYPE})
                response = self.connection.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                self.ledger.record(ids, [], "connection")
                self.connection.close()
                self.connection = None
                time.sleep(0.02)
                continue
            if status != 200:
                try:
                    kind = json.loads(payload.decode("utf-8")).get("__type", "?")
                except ValueError:
                    kind = "?"
                with self.ledger.lock:
                    label = "%d %s" % (status, kind)
                    self.ledger.error_answers[label] = self.ledger.error_answers.get(label, 0) + 1
                self.ledger.record(ids, [], "error-answer")
                time.sleep(0.05)
                continue
            try:
                good = self.acknowledged(ids, json.loads(payload.decode("utf-8")))
            except ValueError:
                good = None
            if good is None:
                with self.ledger.lock:
                    self.ledger.protocol_errors.append(payload[:300])
                self.ledger.record(ids, [], "error-answer")
                continue
            self.ledger.record(ids, good, "ok" if len(good) == len(ids) else "partial")


class Flusher(threading.Thread):
    """POSTs /pipelines/NAME/flush at random moments; counts flushes in flight at a kill."""

    def __init__(self, target, seed, stop, names):
        super().__init__(name="flusher", daemon=True)
        self.target, self.stop, self.names = target, stop, names
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.answered = 0

    def flush_once(self, pipeline):
        _, admin, _ = self.target.get()
        if admin is None:
            return
        with self.lock:
            self.in_flight += 1
        try:
            connection = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
            connection.request("POST", "/pipelines/%s/flush" % pipeline, body=b"")
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                with self.lock:
                    self.answered += 1
        except (OSError, http.client.HTTPException):
            pass
        finally:
            with self.lock:
                self.in_flight -= 1

    def run(self):
        guarded(self.flush_at_random)

    def flush_at_random(self):
        while not self.stop.wait(self.rng.uniform(0.2, 1.2)):
            self.flush_once(self.rng.choice(self.names))


def update_shard_count(target, count):
    """UpdateShardCount on the source stream (SLUICE_CRASH_RESHARD=1); returns 'status type'."""
    api, _, _ = target.get()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", api, timeout=10)
        body = {"StreamName": SOURCE_STREAM, "TargetShardCount": count, "ScalingType": "UNIFORM_SCALING"}
        connection.request("POST", "/", body=json.dumps(body).encode("utf-8"), headers={
            "X-Amz-Target": "Kinesis_20131202.UpdateShardCount", "Content-Type": JSON_CONTENT_TYPE})
        response = connection.getresponse()
        answer = json.loads(response.read().decode("utf-8") or "{}")
        connection.close()
        return "%d %s -> %d" % (response.status, answer.get("__type", "ok"), count)
    except (OSError, http.client.HTTPException, ValueError) as error:
        return "failed: %r" % error


def hidden_files(archive_root):
    """Hidden (temporary) files anywhere in the archive, relative to it."""
    return sorted(os.path.relpath(os.path.join(directory, name), archive_root)
                  for directory, _, names in os.walk(archive_root) for name in names if name.startswith("."))


def audit(archive_root, directory):
    """Reads every file of `<archive_root>/<directory>`, data files and error output alike.

    Returns ({id: [file, ...]}, error-output record count, order violations, damaged files, file count).
    """
    found, order_violations, damaged = {}, [], []
    files = error_records = 0
    base = os.path.join(archive_root, directory)
    for folder, _, names in os.walk(base):
        for name in names:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, archive_root)
            if name.startswith("."):
                continue  # counted by hidden_files
            if not name.endswith(".gz"):
                damaged.append((relative, "not a .gz file"))
                continue
            files += 1
            try:
                with gzip.open(path, "rb") as handle:
                    content = handle.read()
            except (OSError, EOFError) as error:
                damaged.append((relative, "gzip: %s" % error))
                continue
            records, is_error_output = [], False
            for line in content.split(b"\n"):
                if not line:
                    continue
                try:
                    document = json.loads(line.decode("utf-8"))
                    if "rawData" in document and "errorCode" in document:
                        # Error output: the record is the document's rawData.
                        is_error_output = True
                        error_records += 1
                        for inner in base64.b64decode(document["rawData"]).split(b"\n"):
                            if inner:
                                records.append(json.loads(inner.decode("utf-8")))
                    else:
                        records.append(document)
                except ValueError:
                    damaged.append((relative, "line is not JSON: %r" % line[:80]))
            last = {}
            for record in records:
                found.setdefault(record["id"], []).append(relative)
                key = record.get("key")
                if key and not is_error_output:
                    number = int(record["id"].rsplit("-", 1)[1])
                    if number <= last.get(key, -1):
                        order_violations.append((relative, key, record["id"]))
                    last[key] = number
    return found, error_records, order_violations, damaged, files


def main():
    install_cleanup()
    binary = os.environ.get("SLUICE_BINARY", "")
    if not binary or not os.access(binary, os.X_OK):
        sys.stderr.write("error: set SLUICE_BINARY to the sluice executable (got %r)\n" % binary)
        return 2
    seconds = float(os.environ.get("SLUICE_CRASH_SECONDS", "25"))
    min_cycles = int(os.environ.get("SLUICE_CRASH_MIN_CYCLES", "8"))
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(random.SystemRandom().randrange(1, 2**31))))
    work = os.environ.get("SLUICE_WORK_DIR") or tempfile.mkdtemp(prefix="sluice-pipeline-crash-")
    work = os.path.realpath(work)
    rng = random.Random(seed)
    log("seed %d, %.0f s of crashes (at least %d cycles), work dir %s" % (seed, seconds, min_cycles, work))

    pipelines = os.path.join(work, "pipelines")
    os.makedirs(pipelines, exist_ok=True)
    write_pipeline(pipelines, STREAM_PIPELINE, {"stream": SOURCE_STREAM, "createIfMissing": True, "shardCount": 2}, "stream",
                   size_mbs=1, interval_seconds=60)
    write_pipeline(pipelines, DIRECT_PIPELINE, {"directPut": {"shardCount": 2}}, "direct", size_mbs=1, interval_seconds=60)
    write_pipeline(pipelines, PROCS_PIPELINE, {"stream": SOURCE_STREAM, "createIfMissing": True, "shardCount": 2}, "procs",
                   size_mbs=1, interval_seconds=60, destination_extra={
                       "prefix": "key=!{partitionKeyFromQuery:key}/!{timestamp:yyyy/MM/dd/HH}/",
                       "errorOutputPrefix": "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"},
                   extra={"processors": [
                       {"type": "metadataExtraction", "parameters": {"keys": "key=.key"}},
                       {"type": "jsonProject", "parameters": {"add": "seen=true"}}]})
    partitioned = os.environ.get("SLUICE_CRASH_PARTITIONS", "0") == "1"
    if partitioned:
        # A second reader of the same stream with one partition per second and at most 2 open:
        # most records go to error output (activePartitionExceeded), which must be exactly once too.
        write_pipeline(pipelines, PARTS_PIPELINE, {"stream": SOURCE_STREAM, "createIfMissing": True, "shardCount": 2}, "parts",
                       size_mbs=1, interval_seconds=60, destination_extra={
                           "prefix": "data/!{timestamp:yyyy/MM/dd/HH/mm/ss}/",
                           "errorOutputPrefix": "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"},
                       extra={"maximumOpenPartitions": 2})
    names = [STREAM_PIPELINE, DIRECT_PIPELINE, PROCS_PIPELINE] + ([PARTS_PIPELINE] if partitioned else [])
    reshard = os.environ.get("SLUICE_CRASH_RESHARD", "0") == "1"
    reshard_answers = []
    archive = os.path.join(work, "archive")
    server = SluiceServer(binary, work, pipelines, os.path.join(work, "data"), archive, label="crash")

    target, ledger, stop = Target(), Ledger(), threading.Event()
    producers = [Producer("k%d" % n, "kinesis", target, ledger, seed * 10 + n, stop) for n in (1, 2)]
    producers += [Producer("f%d" % n, "firehose", target, ledger, seed * 10 + 5 + n, stop) for n in (1, 2)]
    flusher = Flusher(target, seed * 10 + 9, stop, names)

    server.start()
    target.set(server.port, server.admin_port)
    for thread in producers + [flusher]:
        thread.start()

    cycles = kills = kills_during_flush = kills_mid_publish = terms = 0
    bad_terms = []
    restart_seconds = []
    deadline = time.monotonic() + seconds
    try:
        while cycles < min_cycles or time.monotonic() < deadline:
            # Mostly 0.5-3 s of load; sometimes right after the start, while recovery and the backlog run.
            time.sleep(rng.uniform(0.0, 0.3) if rng.random() < 0.15 else rng.uniform(0.5, 3.0))
            if rng.random() < 0.35:
                # Kill right after asking for a flush, so the kill lands while files are sealed and published.
                threading.Thread(target=flusher.flush_once, args=(rng.choice(names),),
                                 daemon=True).start()
                time.sleep(rng.uniform(0.0, 0.06))
            if reshard and cycles % 3 == 1:
                reshard_answers.append(update_shard_count(target, 4 if len(reshard_answers) % 2 == 0 else 2))
            with flusher.lock:
                flushing = flusher.in_flight > 0
            target.set(None, None)
            if rng.random() < 0.2:
                # Now and then a graceful stop under load instead: it must exit 0 and lose nothing.
                status = server.terminate(timeout=60)
                server.kill()  # reaps it; a no-op when it exited
                terms += 1
                how = "SIGTERM under load (exit status %r)" % status
                if status != 0:
                    bad_terms.append((cycles + 1, status))
            else:
                server.kill()
                kills += 1
                kills_during_flush += 1 if flushing else 0
                how = "SIGKILL" + (" during a flush" if flushing else "")
            cycles += 1
            # A hidden temporary file in the archive means the stop interrupted a publication.
            interrupted = hidden_files(archive)
            if interrupted and how.startswith("SIGTERM"):
                bad_terms.append((cycles, "left %s" % interrupted[0]))  # a graceful stop finishes what it publishes
            elif interrupted:
                kills_mid_publish += 1
                how += " mid-publication (%s)" % interrupted[0]
            with ledger.lock:
                acknowledged = len(ledger.acknowledged)
            began = time.monotonic()
            server.start()
            restart_seconds.append(time.monotonic() - began)
            target.set(server.port, server.admin_port)
            log("cycle %d: %s, restarted in %.2f s; %d acknowledged so far" % (cycles, how, restart_seconds[-1], acknowledged))
    finally:
        stop.set()
        for thread in producers + [flusher]:
            thread.join(timeout=30)

    # Drain: everything in the streams goes out, then a clean stop.
    published = {}
    for pipeline in names:
        rounds = server.flush_until_idle(pipeline)
        published[pipeline] = server.statuses()[pipeline]
        log("final flush of %s: %d round(s), status %s" % (pipeline, rounds, json.dumps(published[pipeline])))
    exit_status = server.terminate(timeout=60)
    if exit_status is None:
        server.kill()

    # The operator's audit must agree: `sluice verify` on every pipeline, offline.
    verify_failures = []
    for pipeline in names:
        verify = subprocess.run(
            [binary, "verify", pipeline, "--pipelines", pipelines, "--archive-dir", archive, "--data-dir", os.path.join(work, "data")],
            capture_output=True, text=True, timeout=300)
        last = (verify.stdout.strip().splitlines() or ["(no output)"])[-1]
        log("sluice verify %s: exit %d, %s" % (pipeline, verify.returncode, last))
        if verify.returncode != 0:
            verify_failures.append("%s: %s" % (pipeline, (verify.stdout + verify.stderr)[-2000:]))

    acknowledged, sent = ledger.acknowledged, ledger.sent
    hidden = hidden_files(archive)
    # Which producers feed which destination directory (ids start with the producer's name).
    feeds = {"stream": "k", "direct": "f", "procs": "k"}
    if partitioned:
        feeds["parts"] = "k"
    per_directory, lost, duplicated, unknown, order_violations, damaged = {}, [], {}, [], [], []
    unacknowledged_found = files = found_total = 0
    for directory, producer_prefix in sorted(feeds.items()):
        found, error_records, violations, broken, count = audit(archive, directory)
        expected = {record_id for record_id in acknowledged if record_id.startswith(producer_prefix)}
        sent_here = {record_id for record_id in sent if record_id.startswith(producer_prefix)}
        missing = sorted(expected - set(found))
        doubled = {record_id: paths for record_id, paths in found.items() if len(paths) > 1}
        strangers = sorted(set(found) - sent_here)
        lost += ["%s:%s" % (directory, record_id) for record_id in missing]
        duplicated.update({"%s:%s" % (directory, record_id): paths for record_id, paths in doubled.items()})
        unknown += ["%s:%s" % (directory, record_id) for record_id in strangers]
        order_violations += violations
        damaged += broken
        files += count
        found_total += len(found)
        unacknowledged_found += len(set(found) - expected - set(strangers))
        per_directory[directory] = {"acknowledged": len(expected), "found": len(found), "lost": len(missing),
                                    "duplicated": len(doubled), "errorOutputRecords": error_records, "files": count}
    summary = {
        "seed": seed, "cycles": cycles, "kills": kills, "killsDuringFlush": kills_during_flush,
        "killsMidPublish": kills_mid_publish, "sigterms": terms,
        "restartSeconds": {"max": round(max(restart_seconds or [0]), 2),
                           "mean": round(sum(restart_seconds) / max(1, len(restart_seconds)), 2)},
        "sent": len(sent), "acknowledged": len(acknowledged), "found": found_total, "lost": len(lost),
        "duplicated": len(duplicated), "unacknowledgedFound": unacknowledged_found, "unknown": len(unknown),
        "files": files, "hiddenFiles": len(hidden), "damagedFiles": len(damaged), "orderViolations": len(order_violations),
        "requests": ledger.requests, "errorAnswers": ledger.error_answers, "protocolErrors": len(ledger.protocol_errors),
        "adminFlushesAnswered": flusher.answered, "reshards": reshard_answers, "finalExitStatus": exit_status, "directories": per_directory,
    }
    print("SUMMARY " + json.dumps(summary, sort_keys=True))

    problems = []
    if exit_status != 0:
        problems.append("sluice serve did not exit 0 on SIGTERM: %r" % exit_status)
    if verify_failures:
        problems.append("sluice verify did not hold: %s" % verify_failures)
    if bad_terms:
        problems.append("graceful stops under load that did not exit 0 or left temporary files (cycle, what): %s" % bad_terms)
    if len(acknowledged) < 1000:
        problems.append("only %d records were acknowledged; the run proves little" % len(acknowledged))
    if lost:
        problems.append("%d acknowledged ids are in no file, for example %s" % (len(lost), sorted(lost)[:10]))
    if duplicated:
        sample = dict(list(sorted(duplicated.items()))[:5])
        problems.append("%d ids are in more than one place, for example %s" % (len(duplicated), json.dumps(sample, indent=1)))
    if unknown:
        problems.append("%d ids in the archive were never sent: %s" % (len(unknown), unknown[:10]))
    if hidden:
        problems.append("hidden temporary files left in the archive: %s" % hidden[:10])
    if damaged:
        problems.append("damaged files: %s" % damaged[:10])
    if order_violations:
        problems.append("records of one partition key out of order: %s" % order_violations[:10])
    if THREAD_FAILURES:
        problems.append("driver threads failed: %s" % THREAD_FAILURES)
    if ledger.protocol_errors:
        problems.append("malformed answers: %r" % ledger.protocol_errors[:3])
    for pipeline, status in published.items():
        if not status.get("healthy", False):
            problems.append("pipeline %s unhealthy at the end: %s" % (pipeline, status.get("problem")))
    if problems:
        print("FAILED (work dir kept: %s)" % work)
        for problem in problems:
            print(" - " + problem)
        print("--- server stderr (tail)\n" + server.stderr_tail(12000))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
