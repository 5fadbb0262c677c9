import Foundation
import SluiceStreams
import SluiceSupport

// sluice-bench: performance scenarios for Sluice, one JSON object per result line.
//
//   swift run -c release sluice-bench log-append [--seconds S] [--batch N] [--shards N] [--threads 1,4,16]
//   swift run -c release sluice-bench log-read [--mb N] [--shards N]
//
//   swift run -c release sluice-bench http-put-records [--connections 16] [--batch 500] [--shards 4]
//   swift run -c release sluice-bench http-put-record [--connections 64] [--shards 4]
//
//   swift run -c release sluice-bench pipeline-e2e [--input clickstream.jsonl | --mb 200] [--connections 8] [--shards 2]
//       [--size-mb 64] [--partitions 500 (then --size-mb defaults to 128)] [--timeout 600] [--dir DIR] [--keep-archive NEWDIR]
//   swift run -c release sluice-bench processor-chain [--records 200000] [--chain appendDelimiter|jsonFilter|jsonProject|builtin-chain]
//   swift run -c release sluice-bench pipeline-transform [--input clickstream.jsonl | --mb 200] [--connections 8] [--shards 2]
//       [--size-mb 64] [--timeout 600] [--dir DIR] [--modes none,builtin-chain,exec-persistent]
//       [--exec-handler passthrough|example] [--exec-processes 1] [--plugins DIR]
//
// Figures depend on the machine; compare ratios from one run.

let arguments = Array(CommandLine.arguments.dropFirst())
guard let scenario = arguments.first, !scenario.hasPrefix("-") else {
    print(
        "usage: sluice-bench <log-append|log-read|http-put-records|http-put-record> [--seconds S] [--batch N] [--shards N] [--threads 1,4,16] [--connections N] [--mb N] [--data-dir DIR]\n"
            + "       sluice-bench pipeline-e2e [--input FILE | --mb 200] [--connections 8] [--shards 2] [--size-mb 64] [--partitions 500] [--timeout 600] [--dir DIR]\n"
            + "           [--keep-archive NEWDIR]\n"
            + "         FILE: clickstream.jsonl of /work/shared/bench/gen_data.py (python3 gen_data.py DIR MB); without it the lines are generated in Swift\n"
            + "         --partitions N: N one-second partitions open at once, sizeInMBs 128 (the peak-RSS scenario)\n"
            + "         --keep-archive NEWDIR: move the published files there after the checks (for a line-by-line comparison)\n"
            + "       sluice-bench pipeline-transform [--input FILE | --mb 200] [--connections 8] [--shards 2] [--size-mb 64] [--timeout 600] [--dir DIR]\n"
            + "           [--modes none,builtin-chain,exec-persistent] [--exec-handler passthrough|example] [--exec-processes 1] [--plugins DIR]\n"
            + "         the same data through no processors, jsonFilter+jsonProject+appendDelimiter, and a persistent exec plugin\n"
            + "         (Pipelines/plugins/sluice_exec.py; DIR: where it is); bars: the chain costs <= 15%, exec >= 50 MB/s\n"
            + "       sluice-bench processor-chain [--records 200000] [--chain appendDelimiter|jsonFilter|jsonProject|builtin-chain]\n"
            + "         the built-in processors alone, in memory: CPU nanoseconds per clickstream record")
    exit(64)
}

var options: [String: String] = [:]
var index = 1
while index < arguments.count {
    let name = arguments[index]
    guard name.hasPrefix("--"), index + 1 < arguments.count else {
        FileHandle.standardError.write(Data("error: expected --option VALUE pairs after the scenario; got '\(name)'\n".utf8))
        exit(64)
    }
    options[String(name.dropFirst(2))] = arguments[index + 1]
    index += 2
}

func option(_ name: String, _ fallback: Int, in options: [String: String]) -> Int {
    guard let text = options[name] else { return fallback }
    guard let value = Int(text), value > 0 else {
        FileHandle.standardError.write(Data("error: --\(name) must be a positive whole number; got '\(text)'\n".utf8))
        exit(64)
    }
    return value
}

let benchmark = LogBenchmark(
    baseDirectory: options["data-dir"] ?? NSTemporaryDirectory(),
    seconds: option("seconds", 3, in: options), batch: option("batch", 500, in: options), shards: option("shards", 1, in: options),
    recordBytes: option("record-bytes", 1024, in: options))

do {
    switch scenario {
    case "log-append":
        let threads = (options["threads"] ?? "1,4,16").split(separator: ",").compactMap { Int($0) }
        // The disk's own durable write rate, measured in this run, so the figures below can be
        // read as a ratio of it (`of_disk`).
        let disk = try benchmark.diskBaseline()
        print(disk.json)
        let diskRate = Double(disk.bytes) / disk.seconds
        for count in threads {
            var result = try benchmark.append(threads: count)
            result.extra.append(("of_disk", String(format: "%.2f", Double(result.bytes) / result.seconds / diskRate)))
            print(result.json)
        }
    case "http-put-records", "http-put-record":
        let http = HTTPBenchmark(
            baseDirectory: options["data-dir"] ?? NSTemporaryDirectory(), seconds: option("seconds", 3, in: options),
            connections: option("connections", scenario == "http-put-records" ? 16 : 64, in: options),
            shards: option("shards", 4, in: options))
        for result in try http.run(scenario: scenario, batch: scenario == "http-put-records" ? option("batch", 500, in: options) : nil) {
            print(result.json)
        }
    case "pipeline-e2e":
        let partitions = options["partitions"].map { _ in option("partitions", 500, in: options) }
        if let partitions, partitions > 900 {
            FileHandle.standardError.write(Data("error: --partitions must be at most 900 (one-second partitions within the 900 s interval)\n".utf8))
            exit(64)
        }
        var e2e = PipelineBenchmark(
            baseDirectory: options["dir"] ?? options["data-dir"] ?? NSTemporaryDirectory(), input: options["input"],
            megabytes: option("mb", 200, in: options), connections: option("connections", 8, in: options),
            shards: option("shards", 2, in: options), sizeInMBs: option("size-mb", partitions == nil ? 64 : 128, in: options),
            partitions: partitions, timeoutSeconds: option("timeout", 600, in: options))
        e2e.keepArchive = options["keep-archive"]
        print(try e2e.run().json)
    case "pipeline-transform":
        var modes: [TransformBenchmark.Mode] = []
        for name in (options["modes"] ?? "none,builtin-chain,exec-persistent").split(separator: ",") {
            guard let mode = TransformBenchmark.Mode(rawValue: String(name)) else {
                FileHandle.standardError.write(Data("error: --modes takes none, builtin-chain and exec-persistent; got '\(name)'\n".utf8))
                exit(64)
            }
            modes.append(mode)
        }
        guard let handler = TransformBenchmark.ExecHandler(rawValue: options["exec-handler"] ?? "passthrough") else {
            FileHandle.standardError.write(Data("error: --exec-handler is passthrough or example\n".utf8))
            exit(64)
        }
        let base = PipelineBenchmark(
            baseDirectory: options["dir"] ?? options["data-dir"] ?? NSTemporaryDirectory(), input: options["input"],
            megabytes: option("mb", 200, in: options), connections: option("connections", 8, in: options),
            shards: option("shards", 2, in: options), sizeInMBs: option("size-mb", 64, in: options),
            partitions: nil, timeoutSeconds: option("timeout", 600, in: options))
        var transform = TransformBenchmark(
            base: base, modes: modes, execHandler: handler,
            pluginsDirectory: options["plugins"] ?? TransformBenchmark.defaultPluginsDirectory)
        transform.execProcesses = option("exec-processes", 1, in: options)
        try transform.run { line in StandardStreams.writeOutput(Array((line + "\n").utf8)) }  // unbuffered: each run as it ends
    case "processor-chain":
        try ChainBenchmark(records: option("records", 200_000, in: options), only: options["chain"]).run { print($0) }
    case "log-read":
        print(try benchmark.read(megabytes: option("mb", 512, in: options)).json)
    default:
        FileHandle.standardError.write(Data("error: unknown scenario '\(scenario)'; use log-append, log-read, http-put-records, http-put-record, pipeline-e2e, pipeline-transform or processor-chain\n".utf8))
        exit(64)
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
