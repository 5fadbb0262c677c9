#!/usr/bin/env python3
"""Crash soak: SIGKILL `sluice serve` every 1-5 s while producers write and pipelines publish,
with disk faults, an archive that turns unwritable and back, and an external processor that
crashes at random; restart it on the same directories each time, and audit everything at the end.

    SLUICE_BINARY=.build/debug/sluice python3 Tests/Interop/crash_soak.py

`Tests/SluiceServerTests/CrashSoakTests.swift` runs the short form (about 3 minutes) from
`swift test`. Environment:

- SLUICE_BINARY (required): the `sluice` executable.
- SLUICE_SOAK_MINUTES (default 3): the whole run, crashes plus the final drain and audit; the
  long form is for example SLUICE_SOAK_MINUTES=60. At least SLUICE_SOAK_MIN_CYCLES (default 8)
  kills happen whatever this says.
- SLUICE_SOAK_SEED: the seed of the random choices (kill instants, faults, batches); printed.
- SLUICE_WORK_DIR (optional): an empty directory for pipelines, data, archive and logs (a
  temporary directory, kept for inspection when the audit fails, when unset).

Pipelines (all sizeInMBs 1, intervalInSeconds 60, so files are published by size and by admin
flushes fired at random moments, some right before a kill):
- `crash-stream`: the source stream `crash-clicks` (2 shards, createIfMissing) as it is, with
  retries for 1 s only, so archive faults divert batches to delivery-failed error output;
- `crash-direct`: directPut (2 shards), fed by Firehose PutRecordBatch;
- `crash-procs`: the same stream through metadataExtraction and jsonProject into a
  partitionKeyFromQuery prefix;
- `crash-parts`: the same stream into one partition per second with maximumOpenPartitions 2, so
  most records go through error output (activePartitionExceeded);
- `crash-exec`: the same stream through an `exec` processor (Fixtures/plugins/faulty_plugin.py
  flaky, persistent) that crashes on 5% of its batches at random and on every batch holding a
  poison record (one Kinesis record in 20,000); failed batches are retried for 3 s, then go to
  processing-failed error output.
The source stream is resharded (UpdateShardCount 2 -> 4 -> 2 ...) every third cycle.

Faults, each drawn at random:
- kills: SIGKILL every 1-5 s (sometimes right after a flush request, to land mid-publication);
  about one stop in six is a SIGTERM under load, which must exit 0;
- disk full and read-only archive: when this process may mount a tmpfs (root), the archive lives
  on a tmpfs whose size is cut to what it holds (ENOSPC) now and then, or that is remounted
  read-only (EROFS), for 1-4 s each time, and back;
- the fault-injection seam (SLUICE_FAULTS, see `sluice serve`): some server runs get EIO on a
  small share of writes and syncs in the data directory (stream segments, journals, staging),
  ENOSPC and EIO on archive writes and renames, failing directory syncs in the archive (files in
  place whose publication is unfinished across a kill), or an archive that refuses every open,
  mkdir and rename (EACCES) for the whole run; without a tmpfs these stand in for the disk-full
  and read-only episodes too. A start refused because an injected fault hit the start-up is
  counted and the server started again without faults.

Producers: two Kinesis producers (PutRecords) and two Firehose producers (PutRecordBatch) send
20-300 records with short pauses, each a JSON line with a unique id whose bytes are a function of
the id (`record_line`). An id counts as acknowledged only for HTTP 200 and no per-record error; a
connection error, a timeout or an error answer acknowledges nothing, and the id is never sent
again.

End: faults off, restart, flush every pipeline until it is healthy and a flush publishes nothing,
SIGTERM (exit 0 expected), run `sluice verify` on every pipeline, then read every published file
(data files, and the rawData of error-output documents). Promises checked: every acknowledged id
exactly once; no id more than once (acknowledged or not); no id that was never sent; every
record's bytes as sent (rawData exactly; data records as sent, or as jsonProject made them, in
their key's partition; error documents only under errors/, data records never); every poison
record in error output; no hidden temporary file left in the archive; every .gz file complete;
records of one partition key in order inside each file; the server never exited unless stopped.
It prints the counts (cycles, acknowledged, lost, duplicated), what the run covered (diversions,
processing failures, in-place retries, kills mid-publication) and a SUMMARY JSON line; exit status
0 when the promises hold. A soak of 10 minutes or more also fails if it never reached one of the
fault paths it reports.

Only processes this script started are signalled, by PID; every wait is bounded; the tmpfs is
unmounted at exit.
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
import shutil
import signal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from firehose_interop import SluiceServer, install_cleanup, kill_all_servers, write_pipeline  # noqa: E402

STREAM_PIPELINE, DIRECT_PIPELINE, PARTS_PIPELINE = "crash-stream", "crash-direct", "crash-parts"
# A third reader of the stream with processors and dynamic partitioning: records are reshaped by
# jsonProject and routed by a key taken by metadataExtraction; exactly once must hold there too.
PROCS_PIPELINE = "crash-procs"
EXEC_PIPELINE = "crash-exec"
SOURCE_STREAM = "crash-clicks"
DIRECT_STREAM = "firehose-" + DIRECT_PIPELINE
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
KEYS_PER_PRODUCER = 5
# About one Kinesis record in 20,000 is poison: the exec plugin crashes on every batch holding one,
# so those batches always end in processing-failed error output (whose rawData is audited).
POISON_EVERY = 20000


def record_line(record_id):
    """The exact bytes of a record: a pure function of its id, so the audit can check content.

    Kinesis records (ids k…) name their partition key (the order check uses it); Firehose assigns
    partition keys itself, so its records (ids f…) carry none.
    """
    producer, number = record_id.rsplit("-", 1)
    rng = random.Random(record_id)
    # Words, as in real events: the archive compresses about 4:1, so a tmpfs holds the soak.
    pad = " ".join(rng.choice(PAD_WORDS) for _ in range(rng.randint(12, 40)))
    if producer.startswith("k"):
        document = {"id": record_id, "key": "%s-k%d" % (producer, int(number) % KEYS_PER_PRODUCER), "pad": pad}
        if int(number) % POISON_EVERY == 7:
            document["poison"] = True
    else:
        document = {"id": record_id, "pad": pad}
    return (json.dumps(document) + "\n").encode("utf-8")


PAD_WORDS = ("click view scroll cart checkout search home product detail banner mobile desktop tablet "
             "chrome firefox safari campaign email social organic referral paid session user").split()


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
        size = self.rng.randint(20, 300)
        ids, entries = [], []
        for _ in range(size):
            self.counter += 1
            record_id = "%s-%07d" % (self.name, self.counter)
            data = record_line(record_id)
            key = json.loads(data).get("key")
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
            # A soak, not a benchmark: a steady load that a tmpfs archive can hold for an hour.
            time.sleep(self.rng.uniform(0.1, 0.5))


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
    """UpdateShardCount on the source stream (every third cycle); returns 'status type'."""
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
    """Reads every file of `<archive_root>/<directory>`, data files and error output alike, and
    checks each record's content and place against what was sent (`record_line`).

    Returns (found {id: [file, ...]}, error codes {code: count}, ids found in error output,
    order violations, damaged files, misplaced or altered records, file count).
    """
    found, error_codes, in_errors, order_violations, damaged, wrong = {}, {}, set(), [], [], []
    files = 0
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
            under_errors = "/errors/" in "/" + relative
            records, is_error_output = [], False
            for line in content.split(b"\n"):
                if not line:
                    continue
                try:
                    document = json.loads(line.decode("utf-8"))
                    if "rawData" in document and "errorCode" in document:
                        # Error output: rawData must be the record exactly as sent.
                        is_error_output = True
                        code = document["errorCode"]
                        error_codes[code] = error_codes.get(code, 0) + 1
                        raw = base64.b64decode(document["rawData"])
                        record = json.loads(raw.decode("utf-8"))
                        record_id = record.get("id") if isinstance(record, dict) else None
                        if not isinstance(record_id, str) or "-" not in record_id:
                            wrong.append((relative, repr(raw[:60]), "error document whose rawData is not a sent record"))
                            continue
                        if raw != record_line(record_id):
                            wrong.append((relative, record_id, "rawData differs from the record sent"))
                        if not under_errors:
                            wrong.append((relative, record_id, "error document outside errors/"))
                        in_errors.add(record_id)
                        records.append(record)
                    else:
                        record_id = document.get("id") if isinstance(document, dict) else None
                        if not isinstance(record_id, str) or "-" not in record_id:
                            wrong.append((relative, repr(line[:60]), "data record that was never sent"))
                            continue
                        expected = json.loads(record_line(record_id))
                        if directory == "procs":
                            expected["seen"] = True  # jsonProject's add
                            if "/key=%s/" % expected.get("key") not in "/" + relative:
                                wrong.append((relative, record_id, "in the partition of another key"))
                        if document != expected:
                            wrong.append((relative, record_id, "content differs from the record sent"))
                        if under_errors:
                            wrong.append((relative, record_id, "data record under errors/"))
                        records.append(document)
                except (ValueError, UnicodeDecodeError, AttributeError) as error:
                    damaged.append((relative, "line is not a record: %r (%s)" % (line[:80], error)))
            last = {}
            for record in records:
                found.setdefault(record["id"], []).append(relative)
                key = record.get("key")
                if key and not is_error_output:
                    number = int(record["id"].rsplit("-", 1)[1])
                    if number <= last.get(key, -1):
                        order_violations.append((relative, key, record["id"]))
                    last[key] = number
    return found, error_codes, in_errors, order_violations, damaged, wrong, files


PLUGIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "Fixtures", "plugins", "faulty_plugin.py")


class ArchiveDisk:
    """The archive on a small tmpfs, with episodes of disk full and of read-only.

    Full: the tmpfs is remounted with its size cut to what it holds now, so the next write gets
    ENOSPC (no ballast to write); read-only: remounted `ro` (EROFS). Each episode lasts 1-4 s,
    then the tmpfs is writable at full size again. `mounted` is False when this process may not
    mount one (not root, no CAP_SYS_ADMIN, or mount refused); the seam stands in then.
    """

    def __init__(self, path, megabytes, seed, stop):
        self.path, self.megabytes, self.stop = path, megabytes, stop
        self.rng = random.Random(seed)
        self.mounted = False
        self.why_not = ""
        self.episodes = {"full": 0, "readOnly": 0, "refused": 0}
        self.lock = threading.Lock()
        self.active = None

    def mount(self):
        os.makedirs(self.path, exist_ok=True)
        if os.geteuid() != 0:
            self.why_not = "not root"
            return False
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % self.megabytes, "tmpfs", self.path],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            self.why_not = "mount refused: %s" % (result.stderr.strip() or result.returncode)
            return False
        self.mounted = True
        return True

    def remount(self, options):
        result = subprocess.run(["mount", "-o", "remount," + options, self.path], capture_output=True, text=True, timeout=30)
        return result.returncode == 0

    def heal(self):
        """Ends any episode: writable again, at full size."""
        with self.lock:
            if not self.mounted:
                return
            for _ in range(50):
                if self.remount("rw,size=%dm" % self.megabytes):
                    break
                time.sleep(0.1)
            self.active = None

    def unmount(self):
        if not self.mounted:
            return
        self.heal()
        for _ in range(50):
            if subprocess.run(["umount", self.path], capture_output=True, timeout=30).returncode == 0:
                self.mounted = False
                return
            time.sleep(0.1)

    def run(self):
        guarded(self.episodes_at_random)

    def episodes_at_random(self):
        while not self.stop.wait(self.rng.uniform(2.0, 8.0)):
            kind = self.rng.choice(["full", "readOnly"])
            with self.lock:
                if kind == "full":
                    usage = os.statvfs(self.path)
                    used_kb = (usage.f_blocks - usage.f_bfree) * usage.f_frsize // 1024
                    ok = self.remount("size=%dk" % (used_kb + 8))  # EINVAL if it grew meanwhile: counted as refused
                else:
                    ok = self.remount("ro")  # EBUSY while a file is open for writing
                self.episodes[kind if ok else "refused"] += 1
                self.active = kind if ok else None
            if self.stop.wait(self.rng.uniform(1.0, 4.0)):
                break
            self.heal()
        self.heal()


def seam_faults(rng, data_dir, archive_dir, tmpfs):
    """SLUICE_FAULTS for one server run: (label, rules), or (None, "") for a run without."""
    data, archive = data_dir + "/", archive_dir + "/"
    choices = [
        (0.45, None, ""),
        (0.2, "data-eio", "write@%s=EIO:0.002;sync@%s=EIO:0.002" % (data, data)),
        (0.2, "archive-enospc-eio", "write@%s=ENOSPC:0.3;rename@%s=EIO:0.1;sync@%s=EIO:0.05" % (archive, archive, archive)),
        (0.15, "archive-unwritable", "open@%s=EACCES:1;createDirectory@%s=EACCES:1;rename@%s=EACCES:1" % (archive, archive, archive)),
        # Directory syncs fail after renames: files in place whose publication is not finished,
        # across kills and restarts.
        (0.1, "archive-sync-eio", "sync@%s=EIO:0.6" % archive),
    ]
    if not tmpfs:
        # The seam stands in for the tmpfs episodes too: more runs with archive faults.
        choices[0] = (0.25, None, "")
    draw = rng.random() * sum(weight for weight, _, _ in choices)
    for weight, label, rules in choices:
        draw -= weight
        if draw <= 0:
            return label, rules
    return None, ""


def main():
    install_cleanup()
    holder = {}

    def on_terminate(signum, _frame):
        # The runner's timeout: no server and no tmpfs may outlive this process.
        kill_all_servers()
        if holder.get("disk") is not None:
            holder["disk"].unmount()
        sys.stderr.write("terminated by signal %d; servers killed, tmpfs unmounted\n" % signum)
        os._exit(3)

    signal.signal(signal.SIGTERM, on_terminate)
    status = 1
    try:
        status = soak(holder)
        return status
    finally:
        kill_all_servers()
        disk = holder.get("disk")
        if disk is not None and disk.mounted:
            if status != 0:
                # The tmpfs goes now: keep a copy of the archive with the rest of the work dir.
                shutil.copytree(disk.path, os.path.join(holder["work"], "archive-copy"), dirs_exist_ok=True)
            disk.unmount()


def soak(holder):
    binary = os.environ.get("SLUICE_BINARY", "")
    if not binary or not os.access(binary, os.X_OK):
        sys.stderr.write("error: set SLUICE_BINARY to the sluice executable (got %r)\n" % binary)
        return 2
    minutes = float(os.environ.get("SLUICE_SOAK_MINUTES", "3"))
    # The crash phase leaves about a minute of the run for the final drain, the verify and the audit.
    seconds = max(20.0, minutes * 60 - 60)
    min_cycles = int(os.environ.get("SLUICE_SOAK_MIN_CYCLES", "8"))
    seed = int(os.environ.get("SLUICE_SOAK_SEED", str(random.SystemRandom().randrange(1, 2**31))))
    work = os.environ.get("SLUICE_WORK_DIR") or tempfile.mkdtemp(prefix="sluice-crash-soak-")
    work = os.path.realpath(work)
    rng = random.Random(seed)

    pipelines = os.path.join(work, "pipelines")
    os.makedirs(pipelines, exist_ok=True)
    source = {"stream": SOURCE_STREAM, "createIfMissing": True, "shardCount": 2}
    errors = {"errorOutputPrefix": "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"}
    # Retries for 1 s only: archive faults that last longer divert batches to delivery-failed.
    write_pipeline(pipelines, STREAM_PIPELINE, source, "stream", size_mbs=1, interval_seconds=60, destination_extra=errors,
                   extra={"retry": {"durationInSeconds": 1}})
    write_pipeline(pipelines, DIRECT_PIPELINE, {"directPut": {"shardCount": 2}}, "direct", size_mbs=1, interval_seconds=60)
    write_pipeline(pipelines, PROCS_PIPELINE, source, "procs", size_mbs=1, interval_seconds=60,
                   destination_extra=dict(errors, prefix="key=!{partitionKeyFromQuery:key}/!{timestamp:yyyy/MM/dd/HH}/"),
                   extra={"processors": [
                       {"type": "metadataExtraction", "parameters": {"keys": "key=.key"}},
                       {"type": "jsonProject", "parameters": {"add": "seen=true"}}]})
    # One partition per second and at most 2 open: most records go to error output
    # (activePartitionExceeded), which must be exactly once too.
    write_pipeline(pipelines, PARTS_PIPELINE, source, "parts", size_mbs=1, interval_seconds=60,
                   destination_extra=dict(errors, prefix="data/!{timestamp:yyyy/MM/dd/HH/mm/ss}/"),
                   extra={"maximumOpenPartitions": 2})
    # An external processor that crashes on 5% of its batches; a batch that keeps failing for 3 s
    # goes to processing-failed.
    write_pipeline(pipelines, EXEC_PIPELINE, source, "exec", size_mbs=1, interval_seconds=60, destination_extra=errors,
                   extra={"retry": {"durationInSeconds": 3}, "processors": [{"type": "exec", "parameters": {
                       "command": "python3 %s flaky:0.05 --persistent" % PLUGIN, "mode": "persistent",
                       "timeoutInSeconds": "20"}}]})
    names = [STREAM_PIPELINE, DIRECT_PIPELINE, PROCS_PIPELINE, PARTS_PIPELINE, EXEC_PIPELINE]
    feeds = {"stream": "k", "direct": "f", "procs": "k", "parts": "k", "exec": "k"}
    reshard_answers = []
    data = os.path.join(work, "data")
    archive = os.path.join(work, "archive")
    stop = threading.Event()
    # 48 MB for the short form; the load writes well under 1 MB/s of gzip per minute of soak.
    disk = ArchiveDisk(archive, min(4096, int(48 + 40 * minutes)), seed * 10 + 8, stop)
    holder["disk"], holder["work"] = disk, work
    tmpfs = disk.mount()
    log("seed %d, %.0f s of crashes (at least %d cycles), work dir %s, archive %s" % (
        seed, seconds, min_cycles, work, "on a %d MB tmpfs" % disk.megabytes if tmpfs else "on disk (%s)" % disk.why_not))
    server = SluiceServer(binary, work, pipelines, data, archive, label="soak")

    target, ledger = Target(), Ledger()
    producers = [Producer("k%d" % n, "kinesis", target, ledger, seed * 10 + n, stop) for n in (1, 2)]
    producers += [Producer("f%d" % n, "firehose", target, ledger, seed * 10 + 5 + n, stop) for n in (1, 2)]
    flusher = Flusher(target, seed * 10 + 9, stop, names)
    threads = producers + [flusher]
    if tmpfs:
        threads.append(threading.Thread(target=disk.run, name="disk-faults", daemon=True))

    server.start()
    target.set(server.port, server.admin_port)
    for thread in threads:
        thread.start()

    cycles = kills = kills_during_flush = kills_mid_publish = terms = 0
    seam_runs = {}
    refused_starts = []
    died = []
    bad_terms = []
    restart_seconds = []
    faults_now = None
    deadline = time.monotonic() + seconds
    try:
        while cycles < min_cycles or time.monotonic() < deadline:
            # 1-5 s of load; sometimes a kill right after the start, while recovery and the backlog run.
            time.sleep(rng.uniform(0.0, 0.3) if rng.random() < 0.1 else rng.uniform(1.0, 5.0))
            if rng.random() < 0.35:
                # Kill right after asking for a flush, so the kill lands while files are sealed and published.
                threading.Thread(target=flusher.flush_once, args=(rng.choice(names),), daemon=True).start()
                time.sleep(rng.uniform(0.0, 0.06))
            if cycles % 3 == 1:
                reshard_answers.append(update_shard_count(target, 4 if len(reshard_answers) % 2 == 0 else 2))
            with flusher.lock:
                flushing = flusher.in_flight > 0
            if not server.running:
                died.append("before stop %d: exited by itself with status %r; stderr: %s" % (
                    cycles + 1, server.process.returncode, server.stderr_tail(1500)))
            target.set(None, None)
            if faults_now is None and rng.random() < 0.17:
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
            if interrupted and how.startswith("SIGTERM") and disk.active is None:
                bad_terms.append((cycles, "left %s" % interrupted[0]))  # a graceful stop finishes what it publishes
            elif interrupted:
                kills_mid_publish += 1
                how += " mid-publication (%s)" % interrupted[0]
            with ledger.lock:
                acknowledged = len(ledger.acknowledged)
            faults_now, rules = seam_faults(rng, data, archive, tmpfs)
            server.environment = {"SLUICE_FAULTS": rules, "SLUICE_FAULTS_SEED": str(rng.randrange(1, 2**31))} if rules else {}
            if faults_now:
                seam_runs[faults_now] = seam_runs.get(faults_now, 0) + 1
            began = time.monotonic()
            try:
                server.start()
            except AssertionError as refusal:
                if not rules:
                    raise
                # An injected fault that hits the start-up (a journal or segment write) stops the
                # start with a message naming the file and errno, by design; start again without.
                refused_starts.append("%s: %s" % (faults_now, str(refusal).strip().splitlines()[-1][-300:]))
                server.environment = {}
                faults_now = None
                server.start()
            restart_seconds.append(time.monotonic() - began)
            target.set(server.port, server.admin_port)
            log("cycle %d: %s, restarted in %.2f s%s%s; %d acknowledged so far" % (
                cycles, how, restart_seconds[-1], " with faults " + faults_now if faults_now else "",
                ", archive " + disk.active if disk.active else "", acknowledged))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    disk.heal()

    # Drain without faults: everything in the streams goes out, then a clean stop.
    if not server.running:
        died.append("before the drain: exited by itself with status %r; stderr: %s" % (
            server.process.returncode, server.stderr_tail(1500)))
    target.set(None, None)
    server.kill()
    server.environment = {}
    server.start()
    published = {}
    for pipeline in names:
        # A flush publishes what is buffered; records whose processing failed (the flaky plugin
        # crashes during the drain too) are retried first, so flush again until a flush finds the
        # pipeline healthy and idle.
        drain_deadline = time.monotonic() + 120
        rounds = 0
        while True:
            rounds += server.flush_until_idle(pipeline, rounds=80)
            published[pipeline] = server.statuses()[pipeline]
            if published[pipeline].get("healthy") or time.monotonic() > drain_deadline:
                break
            time.sleep(0.5)
        log("final flush of %s: %d round(s), status %s" % (pipeline, rounds, json.dumps(published[pipeline])))
    if not server.running:
        died.append("during the drain: exited by itself with status %r; stderr: %s" % (
            server.process.returncode, server.stderr_tail(1500)))
    exit_status = server.terminate(timeout=60)
    if exit_status is None:
        server.kill()

    # The operator's audit must agree: `sluice verify` on every pipeline, offline.
    verify_failures = []
    for pipeline in names:
        verify = subprocess.run(
            [binary, "verify", pipeline, "--pipelines", pipelines, "--archive-dir", archive, "--data-dir", data],
            capture_output=True, text=True, timeout=300)
        last = (verify.stdout.strip().splitlines() or ["(no output)"])[-1]
        log("sluice verify %s: exit %d, %s" % (pipeline, verify.returncode, last))
        if verify.returncode != 0:
            verify_failures.append("%s: %s" % (pipeline, (verify.stdout + verify.stderr)[-2000:]))

    acknowledged, sent = ledger.acknowledged, ledger.sent
    hidden = hidden_files(archive)
    per_directory, lost, duplicated, unknown, order_violations, damaged, altered = {}, [], {}, [], [], [], []
    unacknowledged_found = files = found_total = 0
    error_codes_by_directory = {}
    for directory, producer_prefix in sorted(feeds.items()):
        found, error_codes, in_errors, violations, broken, misplaced, count = audit(archive, directory)
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
        altered += misplaced
        files += count
        found_total += len(found)
        unacknowledged_found += len(set(found) - expected - set(strangers))
        error_codes_by_directory[directory] = error_codes
        if directory == "exec":
            # Every batch holding a poison record makes the plugin crash: it must end in error output.
            poison = {record_id for record_id in expected if int(record_id.rsplit("-", 1)[1]) % POISON_EVERY == 7}
            altered += [("exec", record_id, "poison record not in processing-failed error output")
                        for record_id in sorted(poison - in_errors)[:20]]
        per_directory[directory] = {"acknowledged": len(expected), "found": len(found), "lost": len(missing),
                                    "duplicated": len(doubled), "errorOutputRecords": sum(error_codes.values()), "files": count}
    plugin_crashes = in_place_retries = 0
    try:
        with open(server.stderr_path, "rb") as handle:
            log_text = handle.read()
        plugin_crashes = log_text.count(b"exec stderr: boom: crashing on purpose")
        in_place_retries = log_text.count(b"cannot sync the directory of a file published before a stop")
    except OSError:
        pass
    summary = {
        "seed": seed, "minutes": minutes, "cycles": cycles, "kills": kills, "killsDuringFlush": kills_during_flush,
        "killsMidPublish": kills_mid_publish, "sigterms": terms, "seamRuns": seam_runs, "startsRefusedUnderFaults": len(refused_starts),
        "archiveTmpfs": disk.megabytes if tmpfs else ("no: " + disk.why_not), "archiveEpisodes": disk.episodes,
        "pluginCrashes": plugin_crashes, "inPlaceSyncRetriesAtStart": in_place_retries, "errorCodes": error_codes_by_directory,
        "altered": len(altered), "diedUnasked": len(died),
        "restartSeconds": {"max": round(max(restart_seconds or [0]), 2),
                           "mean": round(sum(restart_seconds) / max(1, len(restart_seconds)), 2)},
        "sent": len(sent), "acknowledged": len(acknowledged), "found": found_total, "lost": len(lost),
        "duplicated": len(duplicated), "unacknowledgedFound": unacknowledged_found, "unknown": len(unknown),
        "files": files, "hiddenFiles": len(hidden), "damagedFiles": len(damaged), "orderViolations": len(order_violations),
        "requests": ledger.requests, "errorAnswers": ledger.error_answers, "protocolErrors": len(ledger.protocol_errors),
        "adminFlushesAnswered": flusher.answered, "reshards": reshard_answers, "finalExitStatus": exit_status, "directories": per_directory,
    }
    for refusal in refused_starts:
        log("start refused under injected faults: %s" % refusal)
    print("cycles %d, records acknowledged %d, lost %d, duplicated %d" % (cycles, len(acknowledged), len(lost), len(duplicated)))
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
    if altered:
        problems.append("%d records altered, misplaced or missing from error output: %s" % (len(altered), altered[:10]))
    if died:
        problems.append("sluice serve exited without being stopped: %s" % died[:3])
    # What the run covered. The long form must reach every fault path; the short one reports it.
    delivery_failed = sum(count for code, count in error_codes_by_directory.get("stream", {}).items() if code.startswith("Destination."))
    processing_failed = sum(error_codes_by_directory.get("exec", {}).values())
    coverage = {"deliveryFailed": delivery_failed, "processingFailed": processing_failed,
                "inPlaceSyncRetriesAtStart": in_place_retries, "killsMidPublish": kills_mid_publish,
                "archiveEpisodes": sum(disk.episodes.values()) - disk.episodes["refused"] if tmpfs else None}
    log("coverage: %s" % json.dumps(coverage))
    if minutes >= 10:
        uncovered = [name for name, value in coverage.items() if value == 0]
        if uncovered:
            problems.append("a %g-minute soak never reached: %s" % (minutes, ", ".join(uncovered)))
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
