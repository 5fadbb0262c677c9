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
// Figures depend on the machine; compare ratios from one run.

let arguments = Array(CommandLine.arguments.dropFirst())
guard let scenario = arguments.first, !scenario.hasPrefix("-") else {
    print("usage: sluice-bench <log-append|log-read|http-put-records|http-put-record> [--seconds S] [--batch N] [--shards N] [--threads 1,4,16] [--connections N] [--mb N] [--data-dir DIR]")
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
    case "log-read":
        print(try benchmark.read(megabytes: option("mb", 512, in: options)).json)
    default:
        FileHandle.standardError.write(Data("error: unknown scenario '\(scenario)'; use log-append, log-read, http-put-records or http-put-record\n".utf8))
        exit(64)
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
