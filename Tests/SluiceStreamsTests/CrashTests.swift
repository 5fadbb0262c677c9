import Dispatch
import Foundation
import SluiceStreams
import SluiceTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Crash safety of the real binary: `sluice put` is killed with SIGKILL in the middle of a stream
/// of records, again and again; every record it acknowledged must survive exactly once, in order.
@Suite(.timeLimit(.minutes(5))) struct CrashTests {
    private static let stream = "s"
    private static let rounds = 15
    /// A round fails when the writer makes no progress for this long.
    private static let stallMilliseconds: Int32 = 30_000
    /// And when it takes longer than this in total.
    private static let roundSeconds: Double = 120

    /// What one writer process did before it was killed.
    private struct Round: Sendable {
        var written: [String] = []
        /// One entry per acknowledgement line, in order: the i-th is for the i-th line written.
        var acks: [(shardID: String, sequence: SequenceNumber)] = []
        var failure: String?
    }

    /// A result handed from the round's thread to the test.
    private final class Outcome: Sendable {
        private let value = Mutex<Round?>(nil)
        func set(_ round: Round) { value.withLock { $0 = round } }
        var round: Round? { value.withLock { $0 } }
    }

    /// Under every policy an acknowledged record is at least in the page cache, which survives
    /// SIGKILL of the process (only a power loss can lose it under `interval` or `never`).
    @Test(
        "SIGKILL a writer subprocess mid-stream many times: every acknowledged record survives exactly once, in order",
        arguments: ["always", "interval:5", "never"])
    func killWriterRepeatedly(durability: String) throws {
        let binary = productsDirectory + "/sluice"
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "The sluice binary is missing at \(binary). Build it (swift build --product sluice) before running CrashTests: the test kills real `sluice put` processes.")
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            do {
                let store = try StreamStore(StreamStoreConfiguration(dataDirectory: data))
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 2)
            }
            var random = SeededRandom(seed: 0x51_11CE)
            var rounds: [Round] = []
            var promised = 0
            for number in 0..<Self.rounds {
                // Every fifth writer is killed at once, while it starts up and recovers the shard.
                let target = number % 5 == 4 ? 0 : Int.random(in: 20...400, using: &random)
                promised += target
                // Lines written ahead of the acknowledgements (far below a pipe's 64 KiB buffer).
                let window = Int.random(in: 4...96, using: &random)
                let round = Self.runOnOwnThread(
                    binary: binary, arguments: ["put", Self.stream, "--partition-key", "k", "--data-dir", data, "--durability", durability],
                    stderrPath: dir + "/stderr-\(number).txt", round: number, target: target, window: window)
                if let failure = round.failure {
                    let stderr = (try? String(contentsOfFile: dir + "/stderr-\(number).txt", encoding: .utf8)) ?? ""
                    Issue.record("round \(number): \(failure)\nstderr of sluice put:\n\(stderr)")
                    return
                }
                #expect(round.acks.count >= target, "round \(number): killed after \(round.acks.count) acks, wanted \(target)")
                rounds.append(round)
            }
            try Self.verify(data: data, rounds: rounds, promised: promised)
        }
    }

    /// Reads back everything and checks it against what the writers wrote and had acknowledged.
    private static func verify(data: String, rounds: [Round], promised: Int) throws {
        let store = try StreamStore(StreamStoreConfiguration(dataDirectory: data))
        defer { store.close() }
        var records: [(shardID: String, record: StoredRecord)] = []
        for shard in 0..<2 {
            var (_, position) = try store.startingPosition(
                stream: stream, shardID: "shardId-\(shard)", type: .trimHorizon)
            var caughtUp = false
            for _ in 0..<100_000 where !caughtUp {
                let read = try store.read(stream: stream, shardIndex: shard, from: position, limit: 1000)
                records += read.records.map { ("shardId-" + String(repeating: "0", count: 11) + String(shard), $0) }
                position = read.next
                caughtUp = read.caughtUp || read.reachedShardEnd
            }
            #expect(caughtUp, "shard \(shard) could not be read to its end")
        }
        // Line "r<round>-<i>" was the i-th line written in that round.
        var found: [String: (shardID: String, sequence: SequenceNumber)] = [:]
        var order: [(round: Int, line: Int)] = []
        for (shardID, record) in records {
            let text = String(decoding: record.data, as: UTF8.self)
            let parts = text.dropFirst().split(separator: "-")
            guard text.hasPrefix("r"), parts.count == 2, let round = Int(parts[0]), let line = Int(parts[1]),
                round < rounds.count, line < rounds[round].written.count
            else {
                Issue.record("a record that was never written: '\(text)'")
                continue
            }
            #expect(record.partitionKey == "k")
            if found[text] != nil { Issue.record("'\(text)' is stored twice") }
            found[text] = (shardID, record.sequenceNumber)
            order.append((round, line))
        }
        for (previous, next) in zip(order, order.dropFirst())
        where (previous.round, previous.line) >= (next.round, next.line) {
            Issue.record("r\(next.round)-\(next.line) is stored after r\(previous.round)-\(previous.line)")
        }
        var acknowledged = 0
        for (number, round) in rounds.enumerated() {
            for (line, ack) in round.acks.enumerated() {
                acknowledged += 1
                let text = round.written[line]
                guard let stored = found[text] else {
                    Issue.record("'\(text)' was acknowledged as \(ack.shardID) \(ack.sequence) but is lost")
                    continue
                }
                #expect(stored.sequence == ack.sequence, "'\(text)': stored under another sequence number than acknowledged")
                #expect(stored.shardID == ack.shardID, "'\(text)': stored in another shard than acknowledged")
            }
            // What survives of a round is a prefix of its lines (the kill cut the log, never a hole).
            let survived = round.written.indices.filter { found[round.written[$0]] != nil }
            #expect(survived == Array(0..<survived.count), "round \(number): the surviving lines have a hole")
            #expect(survived.count >= round.acks.count)
        }
        #expect(acknowledged >= promised)
        // Acknowledged sequence numbers grow across kills and restarts: never one handed out twice.
        let acks = rounds.flatMap(\.acks).map(\.sequence)
        #expect(zip(acks, acks.dropFirst()).allSatisfy { $0 < $1 }, "acknowledged sequence numbers do not grow")
    }

    /// Runs one round on a dedicated thread that blocks SIGPIPE (so that writing to a writer that
    /// died fails with EPIPE instead of killing the test process) and waits for it.
    private static func runOnOwnThread(
        binary: String, arguments: [String], stderrPath: String, round: Int, target: Int, window: Int
    ) -> Round {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var signals = sigset_t()
            sigemptyset(&signals)
            sigaddset(&signals, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &signals, nil)
            outcome.set(
                runRound(
                    binary: binary, arguments: arguments, stderrPath: stderrPath, round: round, target: target, window: window))
            done.signal()
        }
        thread.name = "crash-test-round-\(round)"
        thread.start()
        done.wait()
        return outcome.round ?? Round(failure: "the round's thread ended without a result")
    }

    /// Starts `sluice put`, feeds it lines with `window` of them ahead of the acknowledgements,
    /// collects acknowledgements and SIGKILLs it after `target` of them.
    private static func runRound(
        binary: String, arguments: [String], stderrPath: String, round: Int, target: Int, window: Int
    ) -> Round {
        var result = Round()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        guard FileManager.default.createFile(atPath: stderrPath, contents: nil),
            let errorFile = Foundation.FileHandle(forWritingAtPath: stderrPath)
        else {
            result.failure = "cannot create \(stderrPath)"
            return result
        }
        process.standardError = errorFile
        do {
            try process.run()
        } catch {
            result.failure = "cannot start \(binary): \(error)"
            return result
        }
        defer {
            try? input.fileHandleForWriting.close()  // best effort: the writer is gone
            try? output.fileHandleForReading.close()  // best effort: drained below
            try? errorFile.close()  // best effort: the file is only read for diagnostics
        }
        let inputFD = input.fileHandleForWriting.fileDescriptor
        let outputFD = output.fileHandleForReading.fileDescriptor
        var pending: [UInt8] = []

        /// Writes the next line; false if the writer is gone.
        func writeLine() -> Bool {
            let line = "r\(round)-\(result.written.count)"
            let bytes = Array((line + "\n").utf8)
            var done = 0
            while done < bytes.count {
                let n = bytes[done...].withUnsafeBytes { Glibc.write(inputFD, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += n
            }
            result.written.append(line)
            return true
        }

        /// Takes complete lines out of `pending` as acknowledgements; false on a malformed one.
        func takeAcks() -> Bool {
            while let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                let fields = line.split(separator: " ")
                guard fields.count == 2, fields[0].hasPrefix("shardId-"), let sequence = SequenceNumber(String(fields[1])) else {
                    result.failure = "malformed acknowledgement line '\(line)'"
                    return false
                }
                guard result.acks.count < result.written.count else {
                    result.failure = "more acknowledgements than lines written"
                    return false
                }
                result.acks.append((String(fields[0]), sequence))
            }
            return true
        }

        /// Reads what is available; nil at end of output, or after `timeout` ms without data.
        func readSome(timeout: Int32) -> (bytes: Int, timedOut: Bool) {
            var descriptor = pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, timeout)
            if ready == 0 { return (0, true) }
            if ready < 0 { return errno == EINTR ? (0, false) : (-1, false) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(outputFD, $0.baseAddress, $0.count) }
            if n > 0 { pending += buffer[0..<n] }
            return (n, false)
        }

        for _ in 0..<window {
            guard writeLine() else {
                result.failure = "sluice put did not accept its first lines of input"
                break
            }
        }
        let deadline = Date().addingTimeInterval(roundSeconds)
        var iterations = 0
        while result.acks.count < target && result.failure == nil {
            iterations += 1
            if iterations > 1_000_000 || Date() > deadline {
                result.failure = "no \(target) acknowledgements within \(roundSeconds) s (got \(result.acks.count))"
                break
            }
            let (bytes, timedOut) = readSome(timeout: stallMilliseconds)
            if timedOut {
                result.failure = "no acknowledgement for \(stallMilliseconds / 1000) s after \(result.acks.count)"
                break
            }
            if bytes == 0 {
                result.failure = "sluice put exited after \(result.acks.count) acknowledgements, before it was killed"
                break
            }
            if bytes < 0 {
                result.failure = "reading the acknowledgements failed (errno \(errno))"
                break
            }
            let before = result.acks.count
            guard takeAcks() else { break }
            // Keep `window` lines in flight, also right before the kill, so that the kill lands
            // while the writer is busy with them (the kill comes after the last write, never before).
            for _ in before..<result.acks.count {
                guard writeLine() else {
                    result.failure = "sluice put stopped reading its input after \(result.acks.count) acknowledgements"
                    break
                }
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        if result.failure == nil {
            if process.terminationReason != .uncaughtSignal || process.terminationStatus != SIGKILL {
                result.failure = "sluice put ended with status \(process.terminationStatus) instead of being killed"
            }
        }
        // Acknowledgements printed before the kill landed count too: those records were durable.
        for _ in 0..<100_000 {
            let (bytes, timedOut) = readSome(timeout: stallMilliseconds)
            if bytes <= 0 || timedOut { break }
        }
        if result.failure == nil { _ = takeAcks() }
        return result
    }
}
