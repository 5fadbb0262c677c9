#!/usr/bin/env python3
"""Sluice against its peers, on the same machine and data, in one run (issue 6).

    python3 Tests/Bench/peers.py [--mb 200] [--parts e2e,moto] [--scratch-path .build-peers]

(A) End to end, against rsyslog doing the same job. The clickstream lines of
    `shared/bench/gen_data.py` (written into a temporary directory, `--mb` MB) go
    - through Sluice: `sluice-bench pipeline-e2e --input FILE` (PutRecords of 500 over 8
      connections into a stream, one pipeline, gzip level 6, hourly prefix, 64 MiB files,
      durability `always`); the published archive is kept (`--keep-archive`) and checked here;
    - through rsyslog (Debian's `rsyslogd`, started here in the foreground with
      `shared/bench/rsyslog-peer.conf.in`: imtcp on 127.0.0.1, one main-queue worker, `omfile`
      with hourly partitions by the event's time, `zipLevel` 6, `asyncWriting` off): RFC 5424
      frames (octet-counted, RFC 6587) whose TIMESTAMP is the event's `ts` and whose MSG is the
      line, over `--rsyslog-connections` TCP connections (default 1, as for the reference figures),
      then one `END-OF-RUN` frame per connection; once every sentinel has been written, rsyslogd
      gets SIGTERM and the clock stops when it has exited (its queue drained, its gzip files
      closed).
    Both outputs are checked line by line against the input: every gzip file must decompress
    completely (no truncated member), and every input line must be in the output exactly once
    (missing, duplicated and unexpected lines are counted, by a 128-bit digest of each line).
    (rsyslog's files are also checked to hold only lines of their event hour; Sluice's default
    prefix partitions by arrival hour, so its partition is not compared with the event's.)
    Printed: MB/s of payload (the lines with their newlines, 10^6 bytes) and lines/s of each, the
    ratio Sluice/rsyslog, single-core zlib level 6 on the same data (measured by pipeline-e2e in
    the same run), and whether each output was complete. `--rounds` (default 3) repeats both,
    alternating which goes first; every round is printed, and the medians of the ratios.

(B) Against moto's server mode (`python -m moto.server`, the code of the `moto_server` command),
    and `sluice serve` (durability `always`, data on disk), in turn, with the same boto3 client
    code in `--clients` processes:
    - PutRecords throughput: each process sends PutRecords of `--batch` clickstream lines (the same
      records for both servers) for `--put-seconds` on a freshly created stream of `--shards`
      shards; records acknowledged (no per-record ErrorCode) per second, and MB/s of their data;
    - acknowledged records lost: `--producers` processes each put `--loss-records` records with
      unique ids (PutRecords of `--loss-batch`) into a fresh stream and remember the ids
      acknowledged; then every shard is read from TRIM_HORIZON with GetShardIterator/GetRecords,
      and acknowledged ids missing, and ids read more than once, are counted, as well as
      acknowledgements that carry the same (ShardId, SequenceNumber) as another one.
    boto3 runs with retries off (one attempt), so a duplicate is the server's, not a client retry.

Nothing is installed here. Missing tools are named with the command that installs them
(`apt-get install rsyslog`, `pip install 'moto[server]' boto3`). Binaries: `--sluice` and
`--sluice-bench`, else `swift build -c release --scratch-path P` (P from `--scratch-path`, or
SLUICE_BENCH_SCRATCH, default `.build-peers`). Everything listens on 127.0.0.1 (free ports); only
processes started here are stopped, by PID; every wait and loop is bounded in time and count.
Prints a summary table, then one JSON line (`{"peers": ...}`) as the last line of stdout.
Exit status: 0 when every part asked for ran and Sluice's results held (its archive complete, no
acknowledged record lost or duplicated); 1 otherwise (a peer's incomplete output or lost records
are results, printed, not failures); 2 when something needed is missing.
"""

import argparse
import atexit
import collections
import datetime
import gzip
import hashlib
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED_BENCH = os.path.abspath(os.path.join(REPO, "..", "shared", "bench"))
REGION = "us-east-1"

# MARK: - Processes started here


_CHILDREN = []  # subprocess.Popen objects of servers started here; stopped by PID


def stop_child(process, grace=30.0):
    """SIGTERM, a bounded wait, then SIGKILL: only `process`, by its PID. Returns its status."""
    if process.poll() is None:
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
    if process in _CHILDREN:
        _CHILDREN.remove(process)
    return process.returncode


def kill_children(*_):
    for process in list(_CHILDREN):
        if process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    _CHILDREN.clear()


def install_cleanup():
    atexit.register(kill_children)

    def on_signal(signum, _frame):
        kill_children()
        sys.stderr.write("peers: stopped by signal %d; servers started here were killed\n" % signum)
        os._exit(3)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def start_child(argv, log_path, cwd=None):
    log = open(log_path, "ab")
    try:
        process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    finally:
        log.close()
    _CHILDREN.append(process)
    return process


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout, what, interval=0.02, alive=None):
    """Polls `condition` until true, at most `timeout` seconds; `alive` (a Popen) must keep running."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if alive is not None and alive.poll() is not None:
            raise BenchError("%s: the process exited with status %s first" % (what, alive.returncode))
        if time.monotonic() > deadline:
            raise BenchError("%s: not within %.0f s" % (what, timeout))
        time.sleep(interval)


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far (all its threads), from /proc; None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def tail(path, size=3000):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"


class BenchError(Exception):
    pass


def progress(message):
    sys.stderr.write("peers: %s\n" % message)
    sys.stderr.flush()


# MARK: - Prerequisites and binaries


def missing_prerequisites(args, parts):
    missing = []
    if not os.path.isfile(args.gen_data):
        missing.append("%s (the benchmark data generator; give its path with --gen-data)" % args.gen_data)
    try:
        import boto3  # noqa: F401
    except ImportError:
        missing.append("boto3 for %s: pip install boto3" % sys.executable)
    if "e2e" in parts:
        if find_rsyslogd(args) is None:
            missing.append("rsyslogd: apt-get install rsyslog (this script starts its own instance; the system service is not needed)")
        if not os.path.isfile(args.rsyslog_template):
            missing.append("%s (the rsyslog peer configuration; give its path with --rsyslog-template)" % args.rsyslog_template)
    if "moto" in parts:
        import importlib.util
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            missing.append("moto's server mode for %s: pip install 'moto[server]'" % sys.executable)
    if args.sluice is None or args.sluice_bench is None:
        if shutil.which("swift") is None:
            missing.append("swift (to build the release binaries), or pass --sluice and --sluice-bench")
    for flag, path in (("--sluice", args.sluice), ("--sluice-bench", args.sluice_bench)):
        if path is not None and not os.access(path, os.X_OK):
            missing.append("%s %s: not an executable file" % (flag, path))
    return missing


def find_rsyslogd(args):
    if args.rsyslogd:
        return args.rsyslogd if os.access(args.rsyslogd, os.X_OK) else None
    found = shutil.which("rsyslogd")
    if found:
        return found
    return "/usr/sbin/rsyslogd" if os.access("/usr/sbin/rsyslogd", os.X_OK) else None


def locate_binaries(args):
    if args.sluice and args.sluice_bench:
        return os.path.abspath(args.sluice), os.path.abspath(args.sluice_bench)
    scratch = args.scratch_path
    progress("building release binaries: swift build -c release --scratch-path %s (in %s)" % (scratch, REPO))
    build = subprocess.run(["swift", "build", "-c", "release", "--scratch-path", scratch], cwd=REPO,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=args.build_timeout)
    if build.returncode != 0:
        raise BenchError("swift build failed (status %d):\n%s" % (build.returncode, build.stdout.decode("utf-8", "replace")[-6000:]))
    shown = subprocess.run(["swift", "build", "-c", "release", "--scratch-path", scratch, "--show-bin-path"], cwd=REPO,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300)
    bin_path = shown.stdout.decode().strip().splitlines()[-1]
    sluice = args.sluice or os.path.join(bin_path, "sluice")
    bench = args.sluice_bench or os.path.join(bin_path, "sluice-bench")
    for path in (sluice, bench):
        if not os.access(path, os.X_OK):
            raise BenchError("the build left no executable %s" % path)
    return os.path.abspath(sluice), os.path.abspath(bench)


# MARK: - Data and the line-by-line check


def line_key(line):
    return hashlib.blake2b(line, digest_size=16).digest()


def read_lines(path):
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    payload = sum(len(line) + 1 for line in lines)  # with the newline, as pipeline-e2e counts it
    return lines, payload


def check_output(paths, expected, partition_of=None):
    """Reads every gzip file of `paths` completely and compares its lines with `expected` (a Counter
    of line digests). `partition_of(path, line)`, when given, answers whether the line is in the
    right partition. Returns a dict of counts and problems."""
    seen = collections.Counter()
    problems = []
    files = compressed = lines = misplaced = 0
    for path in sorted(paths):
        files += 1
        compressed += os.path.getsize(path)
        try:
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        except (OSError, EOFError, zlib.error) as error:  # truncated or corrupt gzip
            problems.append("%s: incomplete or corrupt gzip: %s" % (path, error))
            continue
        if not data:
            continue
        if not data.endswith(b"\n"):
            problems.append("%s: the last line has no newline (a partial line)" % path)
        for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
            seen[line_key(line)] += 1
            lines += 1
            if partition_of is not None and not partition_of(path, line):
                misplaced += 1
    missing = duplicated = unexpected = 0
    for key, count in expected.items():
        got = seen.get(key, 0)
        if got < count:
            missing += count - got
        elif got > count:
            duplicated += got - count
    for key, got in seen.items():
        if key not in expected:
            unexpected += got
    if misplaced:
        problems.append("%d lines in a partition other than their event hour" % misplaced)
    complete = not problems and missing == 0 and duplicated == 0 and unexpected == 0
    return {"files": files, "compressed_bytes": compressed, "lines": lines, "missing": missing, "duplicated": duplicated,
            "unexpected": unexpected, "misplaced": misplaced, "problems": problems[:5], "complete": complete}


def files_under(root, suffix=None):
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            if suffix is None or name.endswith(suffix):
                found.append(os.path.join(directory, name))
    return found


# MARK: - (A) Sluice end to end


def run_sluice_e2e(args, bench, data_path, work, expected):
    archive = os.path.join(work, "sluice-archive")
    argv = [bench, "pipeline-e2e", "--input", data_path, "--dir", work, "--keep-archive", archive,
            "--timeout", str(args.timeout)]
    progress("Sluice end to end: %s" % " ".join(argv))
    try:
        run = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=args.timeout + 600, cwd=work)
    except subprocess.TimeoutExpired:
        raise BenchError("sluice-bench pipeline-e2e did not finish within %d s" % (args.timeout + 600))
    sys.stderr.write(run.stderr.decode("utf-8", "replace"))
    result = None
    for line in run.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("{") and '"pipeline-e2e"' in line:
            result = json.loads(line)
    if run.returncode != 0 or result is None:
        raise BenchError("sluice-bench pipeline-e2e failed (status %d): %s" % (run.returncode, run.stderr.decode("utf-8", "replace")[-3000:]))
    progress("checking Sluice's archive line by line (%s)" % archive)
    check = check_output(files_under(archive), expected)
    shutil.rmtree(archive, ignore_errors=True)
    return {
        "mb_s": float(result["e2e_mb_s"]), "lines_s": float(result["records_s"]), "seconds": float(result["seconds"]),
        "zlib6_mb_s": float(result["zlib6_mb_s"]), "ratio_to_zlib6": float(result["ratio_e2e_to_zlib6"]),
        "compression_ratio": float(result["compression_ratio"]), "peak_rss_mb": float(result["peak_rss_mb"]),
        "connections": int(result["connections"]), "records_per_request": int(result["records_per_request"]),
        "shards": int(result["shards"]), "check": check, "raw": result,
    }


# MARK: - (A) rsyslog


TS_FIELD = re.compile(rb'"ts":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z)"')
PARTITION = re.compile(r"/dt=([0-9]{4}-[0-9]{2}-[0-9]{2})/hour=([0-9]{2})/")


def syslog_frames(lines, connections):
    """Octet-counted RFC 5424 frames, one per line (TIMESTAMP: the event's `ts`), split into
    `connections` contiguous parts, each ending with its END-OF-RUN frame."""
    def frame(timestamp, message):
        body = b"<134>1 " + timestamp + b" bench sluice-peers - - - " + message
        return b"%d %s" % (len(body), body)

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z").encode()
    per = (len(lines) + connections - 1) // connections
    parts = []
    for part in range(connections):
        frames = []
        for line in lines[part * per:(part + 1) * per]:
            found = TS_FIELD.search(line)
            frames.append(frame(found.group(1) if found else now, line))
        frames.append(frame(now, b"END-OF-RUN %d" % part))
        parts.append(b"".join(frames))
    return parts


def rsyslog_partition_of(path, line):
    where = PARTITION.search(path)
    found = TS_FIELD.search(line)
    if where is None or found is None:
        return False
    stamp = found.group(1).decode()
    return stamp[:10] == where.group(1) and stamp[11:13] == where.group(2)


def run_rsyslog(args, lines, payload, work, expected):
    rsyslogd = find_rsyslogd(args)
    root = os.path.join(work, "rsyslog")
    shutil.rmtree(root, ignore_errors=True)
    state, out = os.path.join(root, "work"), os.path.join(root, "out")
    os.makedirs(state)
    os.makedirs(out)
    with open(args.rsyslog_template) as handle:
        template = handle.read()
    progress("rsyslog: encoding %d RFC 5424 frames for %d connection(s)" % (len(lines), args.rsyslog_connections))
    parts = syslog_frames(lines, args.rsyslog_connections)
    log_path = os.path.join(root, "rsyslogd.log")
    process = port = None
    for _attempt in range(5):  # a free port can be taken between the probe and rsyslogd's bind
        port = free_port()
        config = (template.replace("@WORK@", state).replace("@OUT@", out).replace("@PORT@", str(port))
                  .replace("@ZIP@", "6").replace("@ASYNC@", "off").replace("@EXT@", ".gz"))
        config_path = os.path.join(root, "rsyslog.conf")
        with open(config_path, "w") as handle:
            handle.write(config)
        process = start_child([rsyslogd, "-n", "-f", config_path, "-i", os.path.join(root, "rsyslogd.pid")], log_path)
        try:
            wait_until(lambda: port_open(port), 15, "rsyslogd listening on 127.0.0.1:%d" % port, interval=0.05, alive=process)
            break
        except BenchError:
            stop_child(process, grace=5)
            process = None
    if process is None:
        raise BenchError("rsyslogd did not start; its log:\n%s" % tail(log_path))
    progress("rsyslog: rsyslogd %s (pid %d) on 127.0.0.1:%d; sending %.1f MB" % (rsyslogd, process.pid, port, payload / 1e6))

    errors = []

    def send(part):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=args.timeout) as connection:
                view = memoryview(part)
                for start in range(0, len(view), 1 << 20):
                    connection.sendall(view[start:start + (1 << 20)])
                connection.shutdown(socket.SHUT_WR)
        except OSError as error:
            errors.append(str(error))

    sentinel = os.path.join(out, "sentinel")

    def sentinels():
        try:
            with open(sentinel, "rb") as handle:
                return handle.read().count(b"END-OF-RUN")
        except OSError:
            return 0

    begin = time.monotonic()
    senders = [threading.Thread(target=send, args=(part,), daemon=True) for part in parts]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=max(1.0, begin + args.timeout - time.monotonic()))
    if errors or any(sender.is_alive() for sender in senders):
        stop_child(process, grace=5)
        raise BenchError("sending to rsyslogd failed: %s" % (errors or "timed out"))
    sent = time.monotonic()
    wait_until(lambda: sentinels() >= len(parts), max(1.0, begin + args.timeout - time.monotonic()),
               "rsyslogd writing every END-OF-RUN sentinel", interval=0.005, alive=process)
    received = time.monotonic()
    cpu = cpu_seconds(process.pid)  # rsyslogd's CPU until every line was taken in (before the shutdown)
    status = stop_child(process, grace=120)  # drains its queue and closes (finishes) the gzip files
    end = time.monotonic()
    if status != 0:
        progress("rsyslogd exited with status %s; log:\n%s" % (status, tail(log_path)))
    seconds = end - begin
    progress("checking rsyslog's output line by line (%s)" % out)
    check = check_output(files_under(out, ".gz"), expected, partition_of=rsyslog_partition_of)
    banner = subprocess.run([rsyslogd, "-v"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout.decode()
    version = re.search(r"rsyslogd\s+([0-9][0-9.]*)", banner)
    shutil.rmtree(root, ignore_errors=True)
    return {
        "mb_s": payload / 1e6 / seconds, "lines_s": len(lines) / seconds, "seconds": seconds,
        "send_seconds": sent - begin, "sentinel_seconds": received - begin, "shutdown_seconds": end - received,
        "exit_status": status, "connections": args.rsyslog_connections, "version": version.group(1) if version else "?",
        "cpu_seconds_until_sentinels": cpu, "check": check,
    }


# MARK: - (B) boto3 clients (run in worker processes)


def make_client(endpoint):
    import boto3
    from botocore.config import Config
    return boto3.client(
        "kinesis", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60, max_pool_connections=4))


def throughput_worker(endpoint, stream, records, batch, seconds, worker, barrier, results):
    """PutRecords of `batch` of `records` (cycled) until `seconds` after the barrier."""
    outcome = {"worker": worker, "acked": 0, "acked_bytes": 0, "failed_records": 0, "request_errors": 0, "requests": 0,
               "first_error": None, "error_codes": {}}
    try:
        client = make_client(endpoint)
        barrier.wait(timeout=120)
        begin = time.monotonic()
        deadline = begin + seconds
        offset = worker * 997
        for request in range(10_000_000):  # bounded; the deadline ends it
            if time.monotonic() >= deadline:
                break
            entries = []
            for index in range(batch):
                data = records[(offset + index) % len(records)]
                entries.append({"Data": data, "PartitionKey": "w%d-%d-%d" % (worker, request, index)})
            offset += batch
            outcome["requests"] += 1
            try:
                answer = client.put_records(StreamName=stream, Records=entries)
            except Exception as error:  # counted: a request that got no answer acknowledges nothing
                outcome["request_errors"] += 1
                outcome["first_error"] = outcome["first_error"] or repr(error)[:300]
                continue
            for entry, result in zip(entries, answer["Records"]):
                if "ErrorCode" in result:
                    outcome["failed_records"] += 1
                    outcome["error_codes"][result["ErrorCode"]] = outcome["error_codes"].get(result["ErrorCode"], 0) + 1
                else:
                    outcome["acked"] += 1
                    outcome["acked_bytes"] += len(entry["Data"])
        outcome["begin"], outcome["end"] = begin, time.monotonic()
    except Exception as error:
        outcome["first_error"] = outcome["first_error"] or repr(error)[:300]
    results.put(outcome)


def producer_worker(endpoint, stream, records, batch, count, seconds, producer, run_id, barrier, results):
    """Puts `count` records with unique ids ("<run>-<producer>-<n> " + a clickstream line) and
    reports the ids acknowledged (per-record, no ErrorCode)."""
    outcome = {"producer": producer, "acked": [], "positions": [], "failed_records": 0, "request_errors": 0, "requests": 0,
               "first_error": None, "unanswered": 0}
    try:
        client = make_client(endpoint)
        barrier.wait(timeout=120)
        begin = time.monotonic()
        deadline = begin + seconds
        number = 0
        while number < count and time.monotonic() < deadline:  # at most count / batch + 1 requests
            numbers = list(range(number, min(count, number + batch)))
            number = numbers[-1] + 1
            entries = [{"Data": b"%s-%d-%d " % (run_id, producer, n) + records[(producer * 7919 + n) % len(records)],
                        "PartitionKey": "p%d-%d" % (producer, n)} for n in numbers]
            outcome["requests"] += 1
            try:
                answer = client.put_records(StreamName=stream, Records=entries)
            except Exception as error:
                outcome["request_errors"] += 1
                outcome["unanswered"] += len(entries)
                outcome["first_error"] = outcome["first_error"] or repr(error)[:300]
                continue
            for n, result in zip(numbers, answer["Records"]):
                if "ErrorCode" in result:
                    outcome["failed_records"] += 1
                else:
                    outcome["acked"].append(n)
                    outcome["positions"].append((result["ShardId"], result["SequenceNumber"]))
        outcome["sent"] = number
        outcome["begin"], outcome["end"] = begin, time.monotonic()
    except Exception as error:
        outcome["first_error"] = outcome["first_error"] or repr(error)[:300]
    results.put(outcome)


def run_workers(target, argument_lists, timeout):
    """Starts one process per argument list (plus a shared barrier and result queue), releases
    them together, and collects one result from each within `timeout` seconds."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(argument_lists))
    results = context.Queue()
    processes = [context.Process(target=target, args=tuple(arguments) + (barrier, results), daemon=True)
                 for arguments in argument_lists]
    for process in processes:
        process.start()
    collected = []
    deadline = time.monotonic() + timeout
    import queue
    while len(collected) < len(processes) and time.monotonic() < deadline:
        try:
            collected.append(results.get(timeout=1))
        except queue.Empty:
            if all(not process.is_alive() for process in processes) and results.empty():
                break
    for process in processes:  # only the processes started here, by their handles (PIDs)
        process.join(timeout=max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(timeout=10)
    if len(collected) < len(processes):
        raise BenchError("%d of %d client processes reported within %.0f s" % (len(collected), len(processes), timeout))
    return collected


def create_stream(client, name, shards, timeout=60):
    client.create_stream(StreamName=name, ShardCount=shards)
    deadline = time.monotonic() + timeout
    while True:
        status = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise BenchError("stream %s is still %s after %d s" % (name, status, timeout))
        time.sleep(0.05)


def read_all(client, stream, expected_records, timeout):
    """Every record of every shard from TRIM_HORIZON: (Counter of data ids, records read, calls)."""
    shards = []
    token = None
    for _page in range(1000):
        answer = client.list_shards(NextToken=token) if token else client.list_shards(StreamName=stream)
        shards += [shard["ShardId"] for shard in answer["Shards"]]
        token = answer.get("NextToken")
        if not token:
            break
    ids = collections.Counter()
    read = calls = 0
    deadline = time.monotonic() + timeout
    max_calls = expected_records // 100 + 100 * len(shards) + 1000
    for shard in shards:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        empty = 0
        while iterator and calls < max_calls:
            if time.monotonic() > deadline:
                raise BenchError("reading the stream back took longer than %d s" % timeout)
            answer = client.get_records(ShardIterator=iterator, Limit=10000)
            calls += 1
            for record in answer["Records"]:
                ids[record["Data"].split(b" ", 1)[0]] += 1
                read += 1
            iterator = answer.get("NextShardIterator")
            if answer["Records"]:
                empty = 0
            elif answer.get("MillisBehindLatest", 0) == 0:
                empty += 1
                if empty >= 2:  # caught up: two empty answers at the tip
                    break
    return ids, read, calls, len(shards)


def bench_server(args, name, endpoint, records, tag, pid):
    """Throughput, then loss, against one server (process `pid`), each on a freshly created stream."""
    client = make_client(endpoint)
    result = {"server": name}
    stream = "peers-put-%s" % tag
    create_stream(client, stream, args.shards)
    progress("%s: PutRecords throughput, %d client processes x %d records per call, %d s" % (name, args.clients, args.batch, args.put_seconds))
    cpu_before = cpu_seconds(pid)
    outcomes = run_workers(throughput_worker, [(endpoint, stream, records, args.batch, args.put_seconds, worker)
                                               for worker in range(args.clients)], timeout=args.put_seconds + 180)
    begin = min(outcome.get("begin", float("inf")) for outcome in outcomes)
    end = max(outcome.get("end", 0) for outcome in outcomes)
    seconds = max(1e-9, end - begin)
    acked = sum(outcome["acked"] for outcome in outcomes)
    cpu_after = cpu_seconds(pid)
    result["put"] = {
        "server_cpu_seconds": None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
        "records_s": acked / seconds, "mb_s": sum(outcome["acked_bytes"] for outcome in outcomes) / 1e6 / seconds,
        "records": acked, "seconds": seconds, "requests": sum(outcome["requests"] for outcome in outcomes),
        "failed_records": sum(outcome["failed_records"] for outcome in outcomes),
        "request_errors": sum(outcome["request_errors"] for outcome in outcomes),
        "first_error": next((outcome["first_error"] for outcome in outcomes if outcome["first_error"]), None),
    }

    stream = "peers-loss-%s" % tag
    create_stream(client, stream, args.shards)
    run_id = ("%s%d" % (tag, int(time.time()))).encode()
    progress("%s: acknowledged-loss test, %d producers x %d records (PutRecords of %d)" % (name, args.producers, args.loss_records, args.loss_batch))
    outcomes = run_workers(producer_worker, [(endpoint, stream, records, args.loss_batch, args.loss_records, args.loss_seconds, producer, run_id)
                                             for producer in range(args.producers)], timeout=args.loss_seconds + 180)
    acked = {b"%s-%d-%d" % (run_id, outcome["producer"], n) for outcome in outcomes for n in outcome["acked"]}
    sent = sum(outcome.get("sent", 0) for outcome in outcomes)
    begin = min(outcome.get("begin", float("inf")) for outcome in outcomes)
    end = max(outcome.get("end", 0) for outcome in outcomes)
    progress("%s: reading the stream back (GetShardIterator TRIM_HORIZON + GetRecords on every shard)" % name)
    ids, read, calls, shards = read_all(client, stream, sent, timeout=args.loss_seconds + 300)
    lost = sum(1 for record_id in acked if ids.get(record_id, 0) == 0)
    duplicated = sum(count - 1 for count in ids.values() if count > 1)
    unknown = sum(count for record_id, count in ids.items() if not record_id.startswith(run_id + b"-"))
    positions = collections.Counter(position for outcome in outcomes for position in outcome["positions"])
    shared_positions = sum(count - 1 for count in positions.values() if count > 1)
    unacked_present = sum(1 for record_id in ids if record_id not in acked and record_id.startswith(run_id + b"-"))
    result["loss"] = {
        "producers": args.producers, "sent": sent, "acknowledged": len(acked), "read": read, "get_records_calls": calls,
        "shards": shards, "lost": lost, "duplicated": duplicated, "acks_sharing_a_sequence_number": shared_positions, "unknown": unknown, "unacknowledged_present": unacked_present,
        "failed_records": sum(outcome["failed_records"] for outcome in outcomes),
        "request_errors": sum(outcome["request_errors"] for outcome in outcomes),
        "first_error": next((outcome["first_error"] for outcome in outcomes if outcome["first_error"]), None),
        "put_records_s": len(acked) / max(1e-9, end - begin),
    }
    return result


def start_sluice_serve(sluice, work):
    root = os.path.join(work, "sluice-serve")
    shutil.rmtree(root, ignore_errors=True)
    pipelines = os.path.join(root, "pipelines")
    os.makedirs(pipelines)
    log_path = os.path.join(root, "serve.log")
    process = start_child([sluice, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                           "--data-dir", os.path.join(root, "data"), "--pipelines", pipelines,
                           "--archive-dir", os.path.join(root, "archive"), "--log-level", "warning"], log_path, cwd=root)
    found = {}

    def listening():
        match = re.search(r"^sluice listening on 127\.0\.0\.1:([0-9]+)$", tail(log_path, 20000), re.M)
        if match:
            found["port"] = int(match.group(1))
        return bool(match)

    wait_until(listening, 60, "sluice serve printing its listening line", alive=process)
    return process, "http://127.0.0.1:%d" % found["port"], root


def start_moto(work):
    root = os.path.join(work, "moto")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    log_path = os.path.join(root, "moto_server.log")
    for _attempt in range(5):
        port = free_port()
        process = start_child([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log_path, cwd=root)
        try:
            wait_until(lambda: port_open(port), 60, "moto_server listening on 127.0.0.1:%d" % port, interval=0.05, alive=process)
            return process, "http://127.0.0.1:%d" % port, root
        except BenchError:
            stop_child(process, grace=5)
    raise BenchError("moto_server did not start; its log:\n%s" % tail(log_path))


def run_moto_part(args, sluice, lines, work):
    records = lines[:max(args.batch * 4, 4000)]
    results = {}
    import moto
    for name in ("sluice", "moto"):
        if name == "sluice":
            process, endpoint, root = start_sluice_serve(sluice, work)
            label = "sluice serve (durability always)"
        else:
            process, endpoint, root = start_moto(work)
            label = "moto_server %s" % moto.__version__
        progress("%s on %s (pid %d)" % (label, endpoint, process.pid))
        try:
            results[name] = bench_server(args, label, endpoint, records, name, process.pid)
        finally:
            status = stop_child(process, grace=60)
            results.setdefault(name, {})["exit_status"] = status
            shutil.rmtree(root, ignore_errors=True)
    return results


# MARK: - Summary


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "kernel": platform.release(), "load_average_at_start": round(os.getloadavg()[0], 2)}


def print_summary(summary):
    out = []
    out.append("")
    out.append("Sluice vs peers, %s, %s, %d cores (%s), 1-minute load average %.2f at start, %.2f at end" % (
        summary["date"], summary["data"]["description"], summary["machine"]["cores"], summary["machine"]["cpu"],
        summary["machine"]["load_average_at_start"], summary["machine"]["load_average_at_end"]))
    e2e = summary.get("e2e")
    if e2e:
        def completeness(check):
            text = "complete" if check["complete"] else "INCOMPLETE"
            return "%s: %d files, %d lines, %d missing, %d duplicated, %d unexpected%s" % (
                text, check["files"], check["lines"], check["missing"], check["duplicated"], check["unexpected"],
                ("; " + "; ".join(check["problems"])) if check["problems"] else "")
        out.append("")
        out.append("(A) end to end: clickstream lines -> hourly gzip level 6 files, output checked line by line")
        out.append("| round | system | MB/s | lines/s | seconds | output |")
        out.append("|---|---|---|---|---|---|")
        for number, item in enumerate(e2e["rounds"]):
            out.extend(round_rows(number + 1, item, completeness))
        for number, item in enumerate(e2e["rounds"]):
            out.extend(round_notes(number + 1, item))
        if len(e2e["rounds"]) > 1:
            out.append("Medians over %d rounds: Sluice/rsyslog %.2fx   Sluice/zlib6 %.2fx   rsyslog/zlib6 %.2fx" % (
                len(e2e["rounds"]), e2e["median_ratio_sluice_to_rsyslog"], e2e["median_ratio_sluice_to_zlib6"],
                e2e["median_ratio_rsyslog_to_zlib6"]))
        out.append("Outputs complete in every round: Sluice %s, rsyslog %s" % (
            "yes" if e2e["all_complete"]["sluice"] else "NO", "yes" if e2e["all_complete"]["rsyslog"] else "NO"))
    print_moto(out, summary)
    for problem in summary.get("errors", []):
        out.append("ERROR: %s" % problem)
    print("\n".join(out))
    sys.stdout.flush()


def round_rows(number, item, completeness):
    """The table rows of end-to-end round `number`."""
    sluice, rsyslog = item["sluice"], item["rsyslog"]
    return [
        "| %d | Sluice pipeline-e2e (PutRecords of %d, %d connections, %d shards, fsync always) | %.1f | %.0f | %.2f | %s |" % (
            number, sluice["records_per_request"], sluice["connections"], sluice["shards"], sluice["mb_s"], sluice["lines_s"],
            sluice["seconds"], completeness(sluice["check"])),
        "| %d | rsyslog %s (imtcp, %d connection(s), RFC 5424, zipLevel 6, asyncWriting off) | %.1f | %.0f | %.2f | %s |" % (
            number, rsyslog["version"], rsyslog["connections"], rsyslog["mb_s"], rsyslog["lines_s"], rsyslog["seconds"],
            completeness(rsyslog["check"])),
        "| %d | zlib level 6, one core, same data (pipeline-e2e's baseline) | %.1f | | | |" % (number, sluice["zlib6_mb_s"]),
    ]


def round_notes(number, item):
    """The ratios and rsyslog's timings of end-to-end round `number`."""
    sluice, rsyslog = item["sluice"], item["rsyslog"]
    cpu = rsyslog["cpu_seconds_until_sentinels"]
    return [
        "round %d (%s first): Sluice/rsyslog %.2fx   Sluice/zlib6 %.2fx   rsyslog/zlib6 %.2fx" % (
            number, item["first"], item["ratio_sluice_to_rsyslog"], sluice["ratio_to_zlib6"], rsyslog["mb_s"] / sluice["zlib6_mb_s"]),
        "round %d rsyslog: frames sent in %.2f s, all sentinels written at %.2f s (rsyslogd CPU by then: %s s), "
        "exit after SIGTERM %.2f s later (status %s)" % (
            number, rsyslog["send_seconds"], rsyslog["sentinel_seconds"], "?" if cpu is None else "%.2f" % cpu,
            rsyslog["shutdown_seconds"], rsyslog["exit_status"]),
    ]


def print_moto(out, summary):
    moto = summary.get("moto")
    if moto:
        out.append("")
        out.append("(B) Kinesis API with boto3 (%d client processes, PutRecords of %d x ~%d B clickstream records, %d shards, %d s; "
                   "retries off)" % (summary["settings"]["clients"], summary["settings"]["batch"], summary["data"]["mean_line_bytes"],
                                     summary["settings"]["shards"], summary["settings"]["put_seconds"]))
        out.append("| server | records/s | MB/s | server CPU (s, incl. setup) | failed records | request errors |")
        out.append("|---|---|---|---|---|---|")
        for name in ("sluice", "moto"):
            put = moto[name]["put"]
            cpu = "?" if put["server_cpu_seconds"] is None else "%.1f in %.1f s" % (put["server_cpu_seconds"], put["seconds"])
            out.append("| %s | %.0f | %.1f | %s | %d | %d |" % (moto[name]["server"], put["records_s"], put["mb_s"], cpu,
                                                           put["failed_records"], put["request_errors"]))
        out.append("Sluice/moto PutRecords throughput: %.2fx" % moto["ratio_put_sluice_to_moto"])
        out.append("")
        out.append("Acknowledged records lost, %d concurrent producers x %d records (PutRecords of %d), read back from TRIM_HORIZON:" % (
            summary["settings"]["producers"], summary["settings"]["loss_records"], summary["settings"]["loss_batch"]))
        out.append("| server | sent | acknowledged | read | lost | duplicated | acks reusing a (shard, sequence number) | failed records | request errors |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for name in ("sluice", "moto"):
            loss = moto[name]["loss"]
            out.append("| %s | %d | %d | %d | %d | %d | %d | %d | %d |" % (
                moto[name]["server"], loss["sent"], loss["acknowledged"], loss["read"], loss["lost"], loss["duplicated"],
                loss["acks_sharing_a_sequence_number"], loss["failed_records"], loss["request_errors"]))
        for name in ("sluice", "moto"):
            for kind in ("put", "loss"):
                if moto[name][kind].get("first_error"):
                    out.append("%s %s: first error: %s" % (name, kind, moto[name][kind]["first_error"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="MB of clickstream data from gen_data.py (default 200, as in the README's figures)")
    parser.add_argument("--parts", default="e2e,moto", help="e2e (Sluice vs rsyslog), moto (Sluice vs moto), or both (default)")
    parser.add_argument("--work-dir", help="where data and outputs go (default: a new temporary directory, removed at the end)")
    parser.add_argument("--keep-work-dir", action="store_true", help="do not remove the temporary directory")
    parser.add_argument("--scratch-path", default=os.environ.get("SLUICE_BENCH_SCRATCH", ".build-peers"),
                        help="swift build --scratch-path for the release build (default $SLUICE_BENCH_SCRATCH or .build-peers)")
    parser.add_argument("--build-timeout", type=int, default=3600)
    parser.add_argument("--sluice", help="the release `sluice` binary (skips the build, with --sluice-bench)")
    parser.add_argument("--sluice-bench", help="the release `sluice-bench` binary")
    parser.add_argument("--gen-data", default=os.path.join(SHARED_BENCH, "gen_data.py"))
    parser.add_argument("--rsyslog-template", default=os.path.join(SHARED_BENCH, "rsyslog-peer.conf.in"))
    parser.add_argument("--rsyslogd", help="the rsyslogd binary (default: from PATH or /usr/sbin)")
    parser.add_argument("--rsyslog-connections", type=int, default=1, help="TCP connections to rsyslog (default 1)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="end-to-end rounds, alternating which system goes first; medians are printed (default 3)")
    parser.add_argument("--timeout", type=int, default=900, help="bound in seconds for each end-to-end run (default 900)")
    parser.add_argument("--clients", type=int, default=4, help="boto3 client processes for the throughput test (default 4)")
    parser.add_argument("--batch", type=int, default=500, help="records per PutRecords in the throughput test (default 500)")
    parser.add_argument("--shards", type=int, default=2, help="shards of the test streams (default 2)")
    parser.add_argument("--put-seconds", type=int, default=15, help="length of the throughput test per server (default 15)")
    parser.add_argument("--producers", type=int, default=4, help="concurrent producers in the loss test (default 4)")
    parser.add_argument("--loss-records", type=int, default=20000, help="records per producer in the loss test (default 20000)")
    parser.add_argument("--loss-batch", type=int, default=100, help="records per PutRecords in the loss test (default 100)")
    parser.add_argument("--loss-seconds", type=int, default=300, help="bound on the loss test's puts per server (default 300)")
    args = parser.parse_args()
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if not parts or any(part not in ("e2e", "moto") for part in parts):
        parser.error("--parts takes e2e, moto or e2e,moto")
    for name in ("mb", "rounds", "rsyslog_connections", "timeout", "clients", "batch", "shards", "put_seconds", "producers", "loss_records", "loss_batch", "loss_seconds"):
        if getattr(args, name) <= 0:
            parser.error("--%s must be positive" % name.replace("_", "-"))
    if args.batch > 500 or args.loss_batch > 500:
        parser.error("PutRecords takes at most 500 records")

    missing = missing_prerequisites(args, parts)
    if missing:
        sys.stderr.write("peers: missing, nothing was run (this script installs nothing; --parts e2e or --parts moto runs one part):\n"
                         + "".join("  - %s\n" % item for item in missing))
        return 2

    install_cleanup()
    work = args.work_dir or tempfile.mkdtemp(prefix="sluice-peers-")
    os.makedirs(work, exist_ok=True)
    work = os.path.abspath(work)
    summary = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "settings": {name: getattr(args, name) for name in ("mb", "rounds", "rsyslog_connections", "clients", "batch", "shards", "put_seconds",
                                                                   "producers", "loss_records", "loss_batch")},
               "errors": []}
    try:
        sluice, bench = locate_binaries(args)
        summary["binaries"] = {"sluice": sluice, "sluice_bench": bench}
        data_dir = os.path.join(work, "data")
        progress("generating data: python3 %s %s %d" % (args.gen_data, data_dir, args.mb))
        subprocess.run([sys.executable, args.gen_data, data_dir, str(args.mb)], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, timeout=max(600, args.mb * 10))
        data_path = os.path.join(data_dir, "clickstream.jsonl")
        for other in ("access.log", "random.bin"):  # not used here
            try:
                os.remove(os.path.join(data_dir, other))
            except OSError:
                pass
        lines, payload = read_lines(data_path)
        summary["data"] = {"file": "gen_data.py clickstream.jsonl", "mb": round(payload / 1e6, 1), "lines": len(lines),
                           "mean_line_bytes": payload // max(1, len(lines)),
                           "description": "gen_data.py clickstream.jsonl, %.1f MB, %d lines" % (payload / 1e6, len(lines))}

        if "e2e" in parts:
            expected = collections.Counter(line_key(line) for line in lines)
            try:
                rounds = []
                for number in range(args.rounds):  # alternating which runs first, against drift in the machine's load
                    order = ("sluice", "rsyslog") if number % 2 == 0 else ("rsyslog", "sluice")
                    got = {}
                    for system in order:
                        progress("round %d of %d: %s" % (number + 1, args.rounds, system))
                        if system == "sluice":
                            got[system] = run_sluice_e2e(args, bench, data_path, work, expected)
                        else:
                            got[system] = run_rsyslog(args, lines, payload, work, expected)
                    rounds.append({"first": order[0], "sluice": {key: value for key, value in got["sluice"].items() if key != "raw"},
                                   "rsyslog": got["rsyslog"], "ratio_sluice_to_rsyslog": got["sluice"]["mb_s"] / got["rsyslog"]["mb_s"],
                                   "pipeline_e2e": got["sluice"]["raw"]})
                summary["e2e"] = {
                    "rounds": rounds,
                    "median_ratio_sluice_to_rsyslog": statistics.median(item["ratio_sluice_to_rsyslog"] for item in rounds),
                    "median_ratio_sluice_to_zlib6": statistics.median(item["sluice"]["ratio_to_zlib6"] for item in rounds),
                    "median_ratio_rsyslog_to_zlib6": statistics.median(item["rsyslog"]["mb_s"] / item["sluice"]["zlib6_mb_s"] for item in rounds),
                    "all_complete": {system: all(item[system]["check"]["complete"] for item in rounds) for system in ("sluice", "rsyslog")},
                }
            except (BenchError, subprocess.SubprocessError, OSError) as error:
                summary["errors"].append("e2e: %s" % error)
            finally:
                kill_children()
        if "moto" in parts:
            try:
                results = run_moto_part(args, sluice, lines, work)
                results["ratio_put_sluice_to_moto"] = results["sluice"]["put"]["records_s"] / max(1e-9, results["moto"]["put"]["records_s"])
                summary["moto"] = results
            except (BenchError, subprocess.SubprocessError, OSError) as error:
                summary["errors"].append("moto: %s" % error)
            finally:
                kill_children()
    except (BenchError, subprocess.SubprocessError, OSError) as error:
        summary["errors"].append(str(error))
    finally:
        kill_children()
        if not args.work_dir and not args.keep_work_dir:
            shutil.rmtree(work, ignore_errors=True)

    summary["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    if "data" in summary:
        print_summary(summary)
    else:
        for problem in summary["errors"]:
            print("ERROR: %s" % problem)
    print(json.dumps({"peers": summary}, sort_keys=True))
    ok = not summary["errors"]
    if "e2e" in summary:
        ok = ok and summary["e2e"]["all_complete"]["sluice"]
    if "moto" in summary:
        ok = ok and summary["moto"]["sluice"]["loss"]["lost"] == 0 and summary["moto"]["sluice"]["loss"]["duplicated"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
