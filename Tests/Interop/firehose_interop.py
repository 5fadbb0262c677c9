#!/usr/bin/env python3
"""Firehose interoperability tests: unmodified boto3 and the aws CLI against `sluice serve` pipelines.

Unlike kinesis_interop.py, this module starts its own `sluice serve` processes, because it needs
pipeline files, an archive directory, the admin endpoint and a SIGTERM in the middle:

    SLUICE_BINARY=.build/debug/sluice python3 Tests/Interop/firehose_interop.py -v

`Tests/SluiceServerTests/FirehoseInteropTests.swift` runs it from `swift test`. Environment:

- SLUICE_BINARY (required): the `sluice` executable.
- SLUICE_WORK_DIR (optional): an empty directory for pipelines, data, archives and logs; a
  temporary directory (removed at the end) when unset.

Every server listens on `127.0.0.1:0` (API and admin), so ports never collide; the ports are read
from the `sluice admin listening on` / `sluice listening on` lines. Every wait is bounded. Only
processes this module started are signalled, by PID.

Records are "\n"-terminated JSON lines carrying a per-test marker, so each test finds exactly its
own records in the shared archive and checks that every one of them is there exactly once.
"""

import atexit
import base64
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

REGION = "us-east-1"
FIREHOSE_TARGET = "Firehose_20150804."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
OBJECT_NAME = re.compile(
    r"^(?P<pipeline>[A-Za-z0-9_.-]+)-(?P<version>[0-9]+)-(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-"
    r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.gz$")
DATE_PREFIX = re.compile(r"^[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}$")


# MARK: - Server processes (shared with crash_soak.py)


def write_pipeline(directory, name, source, destination_directory, size_mbs=1, interval_seconds=60,
                   destination_extra=None, extra=None):
    """Writes `<directory>/<name>.json` and returns its path."""
    document = {
        "name": name,
        "source": source,
        "buffering": {"sizeInMBs": size_mbs, "intervalInSeconds": interval_seconds},
        "destination": dict({"directory": destination_directory}, **(destination_extra or {})),
    }
    document.update(extra or {})
    path = os.path.join(directory, name + ".json")
    with open(path, "w") as handle:
        json.dump(document, handle, indent=2)
    return path


_SERVERS = []


def kill_all_servers(*_):
    """SIGKILLs every server this process started that still runs (by PID; at exit or on SIGTERM)."""
    for server in list(_SERVERS):
        server.kill()


def install_cleanup():
    """Makes sure no server outlives this process: at exit, and when the runner sends SIGTERM."""
    atexit.register(kill_all_servers)

    def on_terminate(signum, _frame):
        kill_all_servers()
        sys.stderr.write("terminated by signal %d; servers killed\n" % signum)
        os._exit(3)

    signal.signal(signal.SIGTERM, on_terminate)


class SluiceServer:
    """One `sluice serve` child on free loopback ports, restartable on the same directories."""

    def __init__(self, binary, root, pipelines_dir, data_dir, archive_dir, label="serve"):
        _SERVERS.append(self)
        self.binary, self.root = binary, root
        self.pipelines_dir, self.data_dir, self.archive_dir = pipelines_dir, data_dir, archive_dir
        self.label = label
        self.process = None
        self.starts = 0
        self.port = self.admin_port = None
        self.stderr_path = os.path.join(root, "%s-stderr.log" % label)
        # Extra environment for the next start (the crash soak sets SLUICE_FAULTS here).
        self.environment = {}

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def admin(self):
        return "http://127.0.0.1:%d" % self.admin_port

    def start(self, timeout=60):
        """Starts the server and waits (bounded) until both listening lines are printed."""
        assert self.process is None or self.process.poll() is not None, "the previous server is still running"
        self.starts += 1
        stdout_path = os.path.join(self.root, "%s-stdout-%d.log" % (self.label, self.starts))
        with open(stdout_path, "wb") as stdout, open(self.stderr_path, "ab") as stderr:
            stderr.write(b"\n==== start %d ====\n" % self.starts)
            stderr.flush()
            self.process = subprocess.Popen(
                [self.binary, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                 "--data-dir", self.data_dir, "--archive-dir", self.archive_dir, "--pipelines", self.pipelines_dir],
                cwd=self.root, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                env=dict(os.environ, **self.environment))
        deadline = time.monotonic() + timeout
        while True:
            with open(stdout_path, "r", errors="replace") as handle:
                text = handle.read()
            admin = re.search(r"^sluice admin listening on 127\.0\.0\.1:([0-9]+)$", text, re.M)
            api = re.search(r"^sluice listening on 127\.0\.0\.1:([0-9]+)$", text, re.M)
            if admin and api:
                self.admin_port, self.port = int(admin.group(1)), int(api.group(1))
                return self
            if self.process.poll() is not None:
                raise AssertionError("sluice serve exited with %s before listening.\nstdout: %s\nstderr (tail): %s"
                                     % (self.process.returncode, text, self.stderr_tail()))
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("sluice serve printed no listening lines within %d s.\nstdout: %s\nstderr (tail): %s"
                                     % (timeout, text, self.stderr_tail()))
            time.sleep(0.02)

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout=30):
        """SIGTERM to our child, by PID; returns its exit status (None if it did not exit in time)."""
        if not self.running:
            return None if self.process is None else self.process.returncode
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """SIGKILL to our child, by PID, and reap it."""
        if self.running:
            try:
                os.kill(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass

    def stderr_tail(self, size=6000):
        try:
            with open(self.stderr_path, "rb") as handle:
                data = handle.read()
            return data[-size:].decode("utf-8", "replace")
        except OSError:
            return "(no stderr file)"

    # Admin endpoint

    def admin_request(self, method, path, timeout=45):
        request = urllib.request.Request(self.admin + path, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", "replace")
            try:
                return error.code, json.loads(body)
            except ValueError:
                return error.code, {"raw": body}

    def flush(self, pipeline, timeout=45):
        return self.admin_request("POST", "/pipelines/%s/flush" % pipeline, timeout=timeout)

    def statuses(self):
        status, document = self.admin_request("GET", "/pipelines", timeout=15)
        if status != 200:
            raise AssertionError("GET /pipelines answered %d: %r" % (status, document))
        return {entry["name"]: entry for entry in document["pipelines"]}

    def flush_until_idle(self, pipeline, rounds=40, catch_up_seconds=120):
        """Flushes until a flush publishes nothing new, nothing is buffered or pending, and the
        pipeline has read every shard to its end (`caughtUp`: no batch waits for a processing retry).

        One flush seals what the pipeline has read so far; with a backlog, the next one takes the
        rest. A pipeline still behind (a batch waiting for a processing retry) is given up to
        `catch_up_seconds`. Returns the number of flushes.
        """
        before = self.statuses()[pipeline]["filesPublished"]
        deadline = time.monotonic() + catch_up_seconds
        round_number = 0
        while round_number < rounds:
            round_number += 1
            status, body = self.flush(pipeline)
            if status != 200:
                raise AssertionError("flush of %s answered %d: %r\n%s" % (pipeline, status, body, self.stderr_tail()))
            after = self.statuses()[pipeline]
            if after["filesPublished"] == before and after["bufferedRecords"] == 0 and after["pendingBatches"] == 0:
                if after["caughtUp"]:
                    return round_number
                if time.monotonic() > deadline:
                    raise AssertionError("pipeline %s did not catch up with its stream in %d s: %r" % (
                        pipeline, catch_up_seconds, after))
                round_number -= 1  # waiting for a retry is not a flush that published
                time.sleep(0.2)
            before = after["filesPublished"]
        raise AssertionError("pipeline %s still published new files after %d flushes" % (pipeline, rounds))


# MARK: - Archive


def archive_files(root):
    """Every file under `root` as a path relative to it, sorted."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def read_archive(root, directory):
    """Reads `<root>/<directory>`: (data files {relpath: [record bytes]}, error documents, hidden files).

    Data files hold "\n"-terminated records; error-output files hold JSON documents, one a line.
    """
    base = os.path.join(root, directory)
    data, errors, hidden = {}, [], []
    if not os.path.isdir(base):
        return data, errors, hidden
    for relative in archive_files(base):
        name = os.path.basename(relative)
        if name.startswith("."):
            hidden.append(relative)
            continue
        with gzip.open(os.path.join(base, relative), "rb") as handle:
            content = handle.read()
        lines = content.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        first = relative.split("/", 1)[0]
        if re.fullmatch(r"[0-9]{4}", first):
            data[relative] = lines
        else:
            for line in lines:
                errors.append((relative, json.loads(line.decode("utf-8"))))
    return data, errors, hidden


def records_with_marker(data, marker, contents=None):
    """The JSON records of `data` whose "marker" is `marker`, as {id: [file, ...]}.

    With `contents` ({id: the bytes sent}), also returns the ids whose published bytes differ.
    """
    found, altered = {}, []
    for relative, lines in data.items():
        for line in lines:
            record = json.loads(line.decode("utf-8"))
            if record.get("marker") == marker:
                found.setdefault(record["id"], []).append(relative)
                if contents is not None and contents.get(record["id"]) != line + b"\n":
                    altered.append(record["id"])
    return (found, altered) if contents is not None else found


def make_records(marker, count, prefix="r", pad=120):
    """`count` distinct "\n"-terminated JSON lines: (ids, [bytes])."""
    ids = ["%s-%s-%05d" % (prefix, marker, index) for index in range(count)]
    return ids, [(json.dumps({"id": record_id, "marker": marker, "pad": "x" * pad}) + "\n").encode("utf-8") for record_id in ids]


# MARK: - Module fixture

BINARY = os.environ.get("SLUICE_BINARY", "")
DIRECT, STREAM_PIPELINE, EXTRA = "fh-direct", "fh-stream", "fh-extra"
SOURCE_STREAM = "fh-clicks"
WORK = None
OWN_WORK = False
SERVER = None


def setUpModule():
    global WORK, OWN_WORK, SERVER
    if not BINARY or not os.access(BINARY, os.X_OK):
        raise RuntimeError("set SLUICE_BINARY to the sluice executable (got %r)" % BINARY)
    WORK = os.environ.get("SLUICE_WORK_DIR") or None
    if WORK is None:
        WORK, OWN_WORK = tempfile.mkdtemp(prefix="sluice-firehose-"), True
    WORK = os.path.realpath(WORK)
    root = os.path.join(WORK, "shared")
    pipelines = os.path.join(root, "pipelines")
    os.makedirs(pipelines)
    write_pipeline(pipelines, DIRECT, {"directPut": {"shardCount": 2}}, "direct")
    write_pipeline(pipelines, STREAM_PIPELINE, {"stream": SOURCE_STREAM, "createIfMissing": True, "shardCount": 2}, "stream")
    write_pipeline(pipelines, EXTRA, {"directPut": {"shardCount": 1}}, "extra", size_mbs=2, interval_seconds=120)
    SERVER = SluiceServer(BINARY, root, pipelines, os.path.join(root, "data"), os.path.join(root, "archive"), label="shared")
    SERVER.start()
    # Backing and source streams are created at the first start; wait until they take records, so
    # the tests on this server are independent of that (LifecycleTests covers the first moments).
    kinesis = client("kinesis", SERVER)
    for stream in ("firehose-" + DIRECT, "firehose-" + EXTRA, SOURCE_STREAM):
        kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})


def tearDownModule():
    if SERVER is not None and SERVER.running:
        status = SERVER.terminate(timeout=30)
        if status != 0:
            SERVER.kill()
            raise AssertionError("the shared sluice serve did not exit 0 on SIGTERM (%r):\n%s" % (status, SERVER.stderr_tail()))
    if OWN_WORK and WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def client(service, server):
    """A boto3 client without retries, so every error the server sends reaches the test."""
    return boto3.client(
        service, endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))


def raw_firehose(server, operation, body, timeout=60):
    """POSTs a raw JSON body; returns (HTTP status, decoded JSON answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(server.endpoint + "/", data=data, method="POST", headers={
        "X-Amz-Target": FIREHOSE_TARGET + operation, "Content-Type": JSON_CONTENT_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode("utf-8"))


def error_type(document):
    return document.get("__type", "").rsplit("#", 1)[-1]


class FirehoseTestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        cls.firehose = client("firehose", SERVER)
        cls.kinesis = client("kinesis", SERVER)

    def assertClientError(self, code, call, *arguments, **keywords):
        with self.assertRaises(ClientError) as caught:
            call(*arguments, **keywords)
        self.assertEqual(caught.exception.response["Error"]["Code"], code, caught.exception.response)
        self.assertTrue(caught.exception.response["Error"].get("Message"), "the error has no message")
        return caught.exception

    def flush(self, pipeline, server=None):
        server = server or self.server
        status, body = server.flush(pipeline)
        self.assertEqual(status, 200, "flush of %s: %r\n%s" % (pipeline, body, server.stderr_tail()))

    def assertExactlyOnce(self, server, directory, marker, expected_ids, records):
        """Every record sent (`expected_ids`, `records`) is in exactly one data file of `directory`,
        byte for byte, and no other record carries `marker`."""
        data, errors, hidden = read_archive(server.archive_dir, directory)
        self.assertEqual(hidden, [], "hidden temporary files left in the archive")
        self.assertEqual([e for e in errors if marker in json.dumps(e)], [], "records went to error output")
        found, altered = records_with_marker(data, marker, dict(zip(expected_ids, records)))
        self.assertEqual(altered[:10], [], "published records differ from what was sent")
        missing = sorted(set(expected_ids) - set(found))
        doubled = {record_id: files for record_id, files in found.items() if len(files) > 1}
        unexpected = sorted(set(found) - set(expected_ids))
        self.assertEqual((len(missing), len(doubled), len(unexpected)), (0, 0, 0),
                         "records of %s: missing %s, doubled %s, unexpected %s (files: %s)"
                         % (marker, missing[:10], dict(list(doubled.items())[:5]), unexpected[:10], sorted(data)))
        for relative in data:
            head, name = os.path.split(relative)
            self.assertRegex(head, DATE_PREFIX, "default prefix YYYY/MM/dd/HH")
            self.assertRegex(name, OBJECT_NAME)
        return found


# MARK: - Control plane


class ControlPlaneTests(FirehoseTestCase):
    def test_list_delivery_streams(self):
        response = self.firehose.list_delivery_streams()
        self.assertEqual(response["DeliveryStreamNames"], sorted([DIRECT, STREAM_PIPELINE, EXTRA]))
        self.assertFalse(response["HasMoreDeliveryStreams"])

        direct = self.firehose.list_delivery_streams(DeliveryStreamType="DirectPut")["DeliveryStreamNames"]
        self.assertEqual(direct, sorted([DIRECT, EXTRA]))
        sourced = self.firehose.list_delivery_streams(DeliveryStreamType="KinesisStreamAsSource")["DeliveryStreamNames"]
        self.assertEqual(sourced, [STREAM_PIPELINE])

    def test_list_delivery_streams_paging(self):
        seen, start = [], None
        for _ in range(10):
            arguments = {"Limit": 1}
            if start:
                arguments["ExclusiveStartDeliveryStreamName"] = start
            page = self.firehose.list_delivery_streams(**arguments)
            self.assertLessEqual(len(page["DeliveryStreamNames"]), 1)
            seen.extend(page["DeliveryStreamNames"])
            if not page["HasMoreDeliveryStreams"]:
                break
            start = page["DeliveryStreamNames"][-1]
        self.assertEqual(seen, sorted([DIRECT, STREAM_PIPELINE, EXTRA]))

        two = self.firehose.list_delivery_streams(Limit=2)
        self.assertEqual(two["DeliveryStreamNames"], sorted([DIRECT, STREAM_PIPELINE, EXTRA])[:2])
        self.assertTrue(two["HasMoreDeliveryStreams"])
        rest = self.firehose.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName=two["DeliveryStreamNames"][-1])
        self.assertEqual(rest["DeliveryStreamNames"], sorted([DIRECT, STREAM_PIPELINE, EXTRA])[2:])
        self.assertFalse(rest["HasMoreDeliveryStreams"])

    def test_describe_direct_put(self):
        description = self.firehose.describe_delivery_stream(DeliveryStreamName=DIRECT)["DeliveryStreamDescription"]
        self.assertEqual(description["DeliveryStreamName"], DIRECT)
        self.assertEqual(description["DeliveryStreamStatus"], "ACTIVE")
        self.assertEqual(description["DeliveryStreamType"], "DirectPut")
        self.assertRegex(description["DeliveryStreamARN"], r"^arn:aws:firehose:us-east-1:[0-9]{12}:deliverystream/fh-direct$")
        self.assertTrue(description["VersionId"])
        self.assertFalse(description["HasMoreDestinations"])
        self.assertEqual(len(description["Destinations"]), 1)
        s3 = description["Destinations"][0]["ExtendedS3DestinationDescription"]
        self.assertEqual(s3["BufferingHints"], {"SizeInMBs": 1, "IntervalInSeconds": 60})
        self.assertEqual(s3["CompressionFormat"], "GZIP")
        self.assertEqual(s3["BucketARN"], "arn:aws:s3:::direct")

        extra = self.firehose.describe_delivery_stream(DeliveryStreamName=EXTRA)["DeliveryStreamDescription"]
        hints = extra["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"]
        self.assertEqual(hints, {"SizeInMBs": 2, "IntervalInSeconds": 120})

    def test_describe_stream_source(self):
        description = self.firehose.describe_delivery_stream(DeliveryStreamName=STREAM_PIPELINE)["DeliveryStreamDescription"]
        self.assertEqual(description["DeliveryStreamStatus"], "ACTIVE")
        self.assertEqual(description["DeliveryStreamType"], "KinesisStreamAsSource")
        source = description["Source"]["KinesisStreamSourceDescription"]
        self.assertRegex(source["KinesisStreamARN"], r"^arn:aws:kinesis:us-east-1:[0-9]{12}:stream/fh-clicks$")
        s3 = description["Destinations"][0]["ExtendedS3DestinationDescription"]
        self.assertEqual(s3["BufferingHints"], {"SizeInMBs": 1, "IntervalInSeconds": 60})
        self.assertEqual(s3["CompressionFormat"], "GZIP")

    def test_unknown_delivery_stream(self):
        self.assertClientError("ResourceNotFoundException", self.firehose.describe_delivery_stream, DeliveryStreamName="no-such-stream")
        self.assertClientError("ResourceNotFoundException", self.firehose.put_record,
                               DeliveryStreamName="no-such-stream", Record={"Data": b"x\n"})
        self.assertClientError("ResourceNotFoundException", self.firehose.put_record_batch,
                               DeliveryStreamName="no-such-stream", Records=[{"Data": b"x\n"}])

    def test_create_and_delete_are_refused(self):
        error = self.assertClientError(
            "InvalidArgumentException", self.firehose.create_delivery_stream, DeliveryStreamName="new-one",
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::000000000000:role/x", "BucketARN": "arn:aws:s3:::b"})
        self.assertIn("pipeline", error.response["Error"]["Message"])
        self.assertClientError("InvalidArgumentException", self.firehose.delete_delivery_stream, DeliveryStreamName=DIRECT)
        # Deleting was refused: the pipeline is still there.
        self.assertIn(DIRECT, self.firehose.list_delivery_streams()["DeliveryStreamNames"])

    def test_put_on_stream_sourced_pipeline_is_refused(self):
        self.assertClientError("InvalidArgumentException", self.firehose.put_record,
                               DeliveryStreamName=STREAM_PIPELINE, Record={"Data": b"x\n"})
        self.assertClientError("InvalidArgumentException", self.firehose.put_record_batch,
                               DeliveryStreamName=STREAM_PIPELINE, Records=[{"Data": b"x\n"}])

    def test_more_than_500_records(self):
        records = [{"Data": b"%d\n" % index} for index in range(501)]
        try:
            self.firehose.put_record_batch(DeliveryStreamName=DIRECT, Records=records)
            self.fail("501 records were accepted")
        except ParamValidationError:
            pass  # botocore validated client-side; the raw request below checks the server
        except ClientError as error:
            self.assertEqual(error.response["Error"]["Code"], "ValidationException")
        body = {"DeliveryStreamName": DIRECT,
                "Records": [{"Data": base64.b64encode(b"%d\n" % index).decode("ascii")} for index in range(501)]}
        status, answer = raw_firehose(self.server, "PutRecordBatch", body)
        self.assertEqual(status, 400, answer)
        self.assertEqual(error_type(answer), "ValidationException", answer)
        self.assertIn("500", answer.get("message", "") + answer.get("Message", ""))

    def test_batch_over_4_mib(self):
        record = b"y" * (1000 * 1024 - 64)
        records = [{"Data": record[:-1] + b"\n"} for _ in range(5)]  # 5 * ~1000 KiB > 4 MiB
        self.assertGreater(sum(len(r["Data"]) for r in records), 4 * 1024 * 1024)
        error = self.assertClientError("InvalidArgumentException", self.firehose.put_record_batch,
                                       DeliveryStreamName=DIRECT, Records=records)
        self.assertIn("4 MB", error.response["Error"]["Message"])
        # A single record over 1,000 KiB is a validation error.
        big = {"DeliveryStreamName": DIRECT, "Record": {"Data": base64.b64encode(b"z" * 1_024_001).decode("ascii")}}
        status, answer = raw_firehose(self.server, "PutRecord", big)
        self.assertEqual((status, error_type(answer)), (400, "ValidationException"), answer)


# MARK: - Data plane


class DataPlaneTests(FirehoseTestCase):
    def test_put_record_batch_and_put_record_reach_the_archive_exactly_once(self):
        marker = uuid.uuid4().hex[:12]
        ids, records = make_records(marker, 505)
        response = self.firehose.put_record_batch(DeliveryStreamName=DIRECT, Records=[{"Data": r} for r in records[:500]])
        self.assertEqual(response["FailedPutCount"], 0, response)
        self.assertEqual(len(response["RequestResponses"]), 500)
        record_ids = [entry["RecordId"] for entry in response["RequestResponses"]]
        self.assertTrue(all(record_ids), "every entry has a RecordId")
        self.assertEqual(len(set(record_ids)), 500, "RecordIds are distinct")
        self.assertFalse(response["Encrypted"])
        for record in records[500:]:
            single = self.firehose.put_record(DeliveryStreamName=DIRECT, Record={"Data": record})
            self.assertTrue(single["RecordId"])

        self.flush(DIRECT)
        self.assertExactlyOnce(self.server, "direct", marker, ids, records)
        status = self.server.statuses()[DIRECT]
        self.assertTrue(status["healthy"], status)
        self.assertGreaterEqual(status["recordsPublished"], 505)

    def test_stream_sourced_pipeline_delivers_kinesis_put_records(self):
        self.kinesis.get_waiter("stream_exists").wait(StreamName=SOURCE_STREAM, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        marker = uuid.uuid4().hex[:12]
        ids, records = make_records(marker, 400, prefix="k")
        for start in range(0, 400, 200):
            response = self.kinesis.put_records(StreamName=SOURCE_STREAM, Records=[
                {"Data": records[index], "PartitionKey": "key-%d" % (index % 7)} for index in range(start, start + 200)])
            self.assertEqual(response["FailedRecordCount"], 0, response)
        self.flush(STREAM_PIPELINE)
        found = self.assertExactlyOnce(self.server, "stream", marker, ids, records)
        # Order: records of one partition key keep their order inside a file.
        data, _, _ = read_archive(self.server.archive_dir, "stream")
        for relative, lines in data.items():
            last = {}
            for line in lines:
                record = json.loads(line)
                if record.get("marker") != marker:
                    continue
                index = int(record["id"].rsplit("-", 1)[1])
                key = index % 7
                self.assertGreater(index, last.get(key, -1), "order of key-%d in %s" % (key, relative))
                last[key] = index
        self.assertEqual(len(found), 400)

    def test_aws_cli_put_record_batch(self):
        marker = uuid.uuid4().hex[:12]
        ids, records = make_records(marker, 20, prefix="cli")
        version = subprocess.run(aws_command() + ["--version"], capture_output=True, text=True, timeout=60)
        entries = [{"Data": record.decode("utf-8")} for record in records]
        extra = []
        if "aws-cli/2" in version.stdout + version.stderr:
            extra = ["--cli-binary-format", "raw-in-base64-out"]
        path = os.path.join(self.server.root, "cli-records-%s.json" % marker)
        with open(path, "w") as handle:
            json.dump(entries, handle)
        result = run_aws(["firehose", "put-record-batch", "--delivery-stream-name", DIRECT,
                          "--records", "file://" + path] + extra, self.server)
        self.assertEqual(result.returncode, 0, "aws failed:\nstdout: %s\nstderr: %s" % (result.stdout, result.stderr))
        answer = json.loads(result.stdout)
        self.assertEqual(answer["FailedPutCount"], 0, answer)
        self.assertEqual(len(answer["RequestResponses"]), 20)

        described = run_aws(["firehose", "describe-delivery-stream", "--delivery-stream-name", DIRECT], self.server)
        self.assertEqual(described.returncode, 0, described.stderr)
        self.assertEqual(json.loads(described.stdout)["DeliveryStreamDescription"]["DeliveryStreamStatus"], "ACTIVE")
        missing = run_aws(["firehose", "describe-delivery-stream", "--delivery-stream-name", "no-such-stream"], self.server)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("ResourceNotFoundException", missing.stderr)

        self.flush(DIRECT)
        self.assertExactlyOnce(self.server, "direct", marker, ids, records)

    def test_admin_endpoint(self):
        statuses = self.server.statuses()
        self.assertEqual(sorted(statuses), sorted([DIRECT, STREAM_PIPELINE, EXTRA]))
        for status in statuses.values():
            for field in ("version", "healthy", "openPartitions", "pendingBatches", "bufferedRecords", "filesPublished"):
                self.assertIn(field, status)
        code, body = self.server.flush("no-such-pipeline")
        self.assertEqual(code, 404, body)
        code, body = self.server.admin_request("GET", "/pipelines/%s/flush" % DIRECT)
        self.assertEqual(code, 405, body)
        # A flush with nothing buffered succeeds and publishes nothing.
        before = self.server.statuses()[EXTRA]["filesPublished"]
        self.flush(EXTRA)
        self.assertEqual(self.server.statuses()[EXTRA]["filesPublished"], before)


def aws_command():
    found = shutil.which("aws")
    return [found] if found else [sys.executable, "-m", "awscli"]


def run_aws(arguments, server):
    environment = dict(os.environ)
    environment.update({
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_PAGER": "",
        "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1",
    })
    environment.pop("AWS_PROFILE", None)
    environment.pop("AWS_SESSION_TOKEN", None)
    command = aws_command() + arguments + ["--endpoint-url", server.endpoint, "--region", REGION, "--output", "json"]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=90)


# MARK: - Lifecycle: a server of its own


class LifecycleTests(unittest.TestCase):
    """Starts its own server (own pipelines, data and archive) so it can stop it with SIGTERM."""

    maxDiff = 4000

    def setUp(self):
        self.root = os.path.join(WORK, "lifecycle-" + uuid.uuid4().hex[:8])
        pipelines = os.path.join(self.root, "pipelines")
        os.makedirs(pipelines)
        write_pipeline(pipelines, "life-direct", {"directPut": {"shardCount": 2}}, "life")
        self.server = SluiceServer(BINARY, self.root, pipelines, os.path.join(self.root, "data"),
                                   os.path.join(self.root, "archive"), label="life")

    def tearDown(self):
        self.server.kill()  # a no-op when the test stopped it

    def put_batch(self, firehose, records):
        response = firehose.put_record_batch(DeliveryStreamName="life-direct", Records=[{"Data": r} for r in records])
        self.assertEqual(response["FailedPutCount"], 0, response)

    def wait_buffered(self, count, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.server.statuses()["life-direct"]
            if status["bufferedRecords"] >= count:
                return
            time.sleep(0.05)
        self.fail("the pipeline did not read %d records within %d s: %r" % (count, timeout, self.server.statuses()))

    def test_put_right_after_start_is_accepted(self):
        """DescribeDeliveryStream says ACTIVE as soon as the server listens, so a put must be taken then too.

        Raw requests (no boto3 client set-up time) right after the listening line: on a fresh data
        directory the backing stream `firehose-<name>` is created at start, and must not refuse
        records (for example during the stream's --creation-delay-ms) while the delivery stream
        is reported ACTIVE.
        """
        self.server.start()
        status, described = raw_firehose(self.server, "DescribeDeliveryStream", {"DeliveryStreamName": "life-direct"})
        self.assertEqual(status, 200, described)
        self.assertEqual(described["DeliveryStreamDescription"]["DeliveryStreamStatus"], "ACTIVE")
        marker = uuid.uuid4().hex[:12]
        ids, records = make_records(marker, 10)
        body = {"DeliveryStreamName": "life-direct", "Records": [{"Data": base64.b64encode(r).decode("ascii")} for r in records]}
        status, answer = raw_firehose(self.server, "PutRecordBatch", body)
        self.assertEqual((status, answer.get("FailedPutCount")), (200, 0),
                         "PutRecordBatch right after start, while DescribeDeliveryStream says ACTIVE: %r" % answer)
        status, answer = raw_firehose(self.server, "PutRecord", {"DeliveryStreamName": "life-direct",
                                                                 "Record": {"Data": base64.b64encode(b"one\n").decode("ascii")}})
        self.assertEqual(status, 200, "PutRecord right after start: %r" % answer)
        self.assertEqual(self.server.terminate(), 0)

    def test_sigterm_publishes_open_buffers(self):
        self.server.start()
        firehose = client("firehose", self.server)
        marker = uuid.uuid4().hex[:12]
        ids, records = make_records(marker, 800)
        deadline = time.monotonic() + 20
        while True:  # the backing stream turns ACTIVE after the creation delay
            try:
                self.put_batch(firehose, records[:400])
                break
            except ClientError as error:
                if error.response["Error"]["Code"] != "ServiceUnavailableException" or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.put_batch(firehose, records[400:800])
        self.wait_buffered(800)
        self.assertEqual(read_archive(self.server.archive_dir, "life")[0], {}, "nothing is published before the interval")

        status = self.server.terminate(timeout=30)
        self.assertEqual(status, 0, "sluice serve did not exit 0 on SIGTERM:\n%s" % self.server.stderr_tail())
        data, errors, hidden = read_archive(self.server.archive_dir, "life")
        self.assertEqual((errors, hidden), ([], []))
        found = records_with_marker(data, marker)
        self.assertEqual(sorted(found), sorted(ids), "every record is published at shutdown")
        self.assertEqual([i for i, files in found.items() if len(files) > 1], [])

        # SIGTERM right after the acknowledgement (the pipeline may not have read the records yet):
        # nothing is lost or doubled once the server is back and flushed.
        self.server.start()
        firehose = client("firehose", self.server)
        more_ids, more = make_records(marker, 300, prefix="late")
        self.put_batch(firehose, more)
        self.assertEqual(self.server.terminate(timeout=30), 0, self.server.stderr_tail())
        self.server.start()
        self.server.flush_until_idle("life-direct")
        self.assertEqual(self.server.terminate(timeout=30), 0, self.server.stderr_tail())
        data, errors, hidden = read_archive(self.server.archive_dir, "life")
        self.assertEqual((errors, hidden), ([], []))
        found = records_with_marker(data, marker)
        self.assertEqual(sorted(found), sorted(ids + more_ids))
        self.assertEqual([i for i, files in found.items() if len(files) > 1], [])


if __name__ == "__main__":
    install_cleanup()
    unittest.main()
