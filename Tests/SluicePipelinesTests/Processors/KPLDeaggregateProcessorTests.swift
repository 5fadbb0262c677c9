import SluicePipelines
import SluiceSupport
import SluiceTestSupport
import Testing

/// A tiny protobuf encoder for building KPL aggregated records (kinesis.md §5) in tests.
private enum KPLEncoder {
    static let magic = KPLDeaggregateProcessor.magic

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }

    static func key(_ field: UInt64, _ wireType: UInt64) -> [UInt8] { varint(field << 3 | wireType) }

    static func bytesField(_ field: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        key(field, 2) + varint(UInt64(bytes.count)) + bytes
    }

    static func varintField(_ field: UInt64, _ value: UInt64) -> [UInt8] { key(field, 0) + varint(value) }

    /// A `Record` message.
    static func record(partitionKeyIndex: UInt64, explicitHashKeyIndex: UInt64? = nil, data: [UInt8]) -> [UInt8] {
        var out = varintField(1, partitionKeyIndex)
        if let explicitHashKeyIndex { out += varintField(2, explicitHashKeyIndex) }
        out += bytesField(3, data)
        return out
    }

    /// An `AggregatedRecord` message.
    static func aggregate(keys: [String], hashKeys: [String] = [], records: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for key in keys { out += bytesField(1, Array(key.utf8)) }
        for key in hashKeys { out += bytesField(2, Array(key.utf8)) }
        for record in records { out += bytesField(3, record) }
        return out
    }

    /// Magic, protobuf, MD5 of the protobuf.
    static func wrap(_ protobuf: [UInt8]) -> [UInt8] {
        magic + protobuf + Digest.md5(protobuf)
    }

    /// A complete aggregated record of user records `(partitionKey, data)`; keys are shared in a table.
    static func aggregated(_ userRecords: [(key: String, data: [UInt8])]) -> [UInt8] {
        var keys: [String] = []
        var records: [[UInt8]] = []
        for user in userRecords {
            let index =
                keys.firstIndex(of: user.key)
                ?? {
                    keys.append(user.key)
                    return keys.count - 1
                }()
            records.append(record(partitionKeyIndex: UInt64(index), data: user.data))
        }
        return wrap(aggregate(keys: keys, records: records))
    }
}

@Suite struct KPLDeaggregateProcessorTests {
    private let processor = KPLDeaggregateProcessor()

    private func record(_ id: String, _ data: [UInt8]) -> ProcessorRecord {
        ProcessorRecord(
            recordID: id, data: data, approximateArrival: Timestamp(milliseconds: 1_700_000_000_000),
            sourceStream: "orders", shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "p")
    }

    private func split(_ data: [UInt8]) throws -> [(data: [UInt8], partitionKey: String)] {
        guard case .split(let records) = processor.verdict(for: data) else {
            Issue.record("expected .split, got \(processor.verdict(for: data))")
            throw CancellationError()
        }
        return records
    }

    /// The failure message, after checking the code.
    private func failure(_ data: [UInt8]) throws -> String {
        guard case .processingFailed(let code, let message) = processor.verdict(for: data) else {
            Issue.record("expected .processingFailed, got \(processor.verdict(for: data))")
            throw CancellationError()
        }
        #expect(code == "KPL.InvalidAggregate")
        return message
    }

    // MARK: - Round trips

    @Test func oneUserRecord() throws {
        let records = try split(KPLEncoder.aggregated([("customer-1", Array(#"{"id":1}"#.utf8))]))
        #expect(records.count == 1)
        #expect(records[0].data == Array(#"{"id":1}"#.utf8))
        #expect(records[0].partitionKey == "customer-1")
    }

    @Test func fiveHundredUserRecordsKeepTheirOrderAndKeys() throws {
        let users = (0..<500).map { index in (key: "key-\(index % 7)", data: Array("record \(index)\n".utf8)) }
        let records = try split(KPLEncoder.aggregated(users))
        #expect(records.map(\.data) == users.map(\.data))
        #expect(records.map(\.partitionKey) == users.map(\.key))
    }

    @Test func emptyUserDataAndUnicodeKeys() throws {
        let users: [(key: String, data: [UInt8])] = [
            ("ключ-🔑", []), ("日本語", [0x00, 0xFF]), ("ключ-🔑", Array("é".utf8)),
        ]
        let records = try split(KPLEncoder.aggregated(users))
        #expect(records.map(\.data) == users.map(\.data))
        #expect(records.map(\.partitionKey) == ["ключ-🔑", "日本語", "ключ-🔑"])
    }

    @Test func explicitHashKeysAndTagsAreAcceptedAndIgnored() throws {
        let tag = KPLEncoder.bytesField(1, Array("k".utf8)) + KPLEncoder.bytesField(2, Array("v".utf8))
        let user =
            KPLEncoder.record(partitionKeyIndex: 0, explicitHashKeyIndex: 0, data: [1, 2, 3])
            + KPLEncoder.bytesField(4, tag)
        let protobuf = KPLEncoder.aggregate(keys: ["a"], hashKeys: ["12345"], records: [user])
        let records = try split(KPLEncoder.wrap(protobuf))
        #expect(records.map(\.data) == [[1, 2, 3]])
        #expect(records.map(\.partitionKey) == ["a"])
    }

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
        let unknown =
            KPLEncoder.varintField(15, 300)  // varint
            + KPLEncoder.key(16, 1) + [1, 2, 3, 4, 5, 6, 7, 8]  // 64-bit
            + KPLEncoder.bytesField(17, [9, 9, 9])  // length-delimited
            + KPLEncoder.key(18, 5) + [1, 2, 3, 4]  // 32-bit
            + KPLEncoder.key(19, 3) + KPLEncoder.key(20, 3) + KPLEncoder.varintField(1, 5)  // nested groups
            + KPLEncoder.key(20, 4) + KPLEncoder.key(19, 4)
        let user = unknown + KPLEncoder.record(partitionKeyIndex: 0, data: Array("x".utf8)) + unknown
        // Tables may also come after the records.
        let protobuf = unknown + KPLEncoder.bytesField(3, user) + unknown + KPLEncoder.bytesField(1, Array("k".utf8))
        let records = try split(KPLEncoder.wrap(protobuf))
        #expect(records.map(\.data) == [Array("x".utf8)])
        #expect(records.map(\.partitionKey) == ["k"])
    }

    @Test func anAggregateWithoutUserRecordsIsDropped() {
        #expect(processor.verdict(for: KPLEncoder.wrap([])) == .dropped)
        #expect(processor.verdict(for: KPLEncoder.wrap(KPLEncoder.aggregate(keys: ["a"], records: []))) == .dropped)
    }

    @Test(arguments: [
        [UInt8](), [0xF3], [0xF3, 0x89, 0x9A], Array(#"{"plain":"json"}"#.utf8), [0xF3, 0x89, 0x9A, 0xC3, 0, 0],
    ])
    func plainRecordsPassThroughUnchanged(data: [UInt8]) {
        #expect(processor.verdict(for: data) == .ok(data: data, partitionKeys: [:]))
    }

    @Test func aBatchGetsOneVerdictPerRecordID() throws {
        let batch = [
            record("a", Array("plain".utf8)),
            record("b", KPLEncoder.aggregated([("k1", [1]), ("k2", [2])])),
            record("c", KPLDeaggregateProcessor.magic + [0, 0]),
        ]
        let results = try processor.process(batch)
        #expect(results.map(\.recordID) == ["a", "b", "c"])
        #expect(results[0].verdict == .ok(data: Array("plain".utf8), partitionKeys: [:]))
        #expect(results[1].verdict == .split([(data: [1], partitionKey: "k1"), (data: [2], partitionKey: "k2")]))
        guard case .processingFailed("KPL.InvalidAggregate", _) = results[2].verdict else {
            Issue.record("expected a failure, got \(results[2].verdict)")
            return
        }
    }

    @Test func theRegistryBuildsIt() throws {
        let type = try #require(ProcessorRegistry.type(named: "kplDeaggregate"))
        #expect(type.parameters.isEmpty)
        #expect(!type.summary.isEmpty)
        let built = try type.make([:])
        let results = try built.process([record("x", KPLEncoder.aggregated([("k", [7])]))])
        #expect(results.map(\.verdict) == [.split([(data: [7], partitionKey: "k")])])
    }

    // MARK: - Corruption

    @Test func aBadMD5Fails() throws {
        var data = KPLEncoder.aggregated([("k", Array("hello".utf8))])
        data[data.count - 1] ^= 0x01
        let message = try failure(data)
        #expect(message.contains("MD5 trailer"))
        #expect(message.contains("does not match"))
    }

    @Test func aChangedPayloadFailsTheMD5Check() throws {
        var data = KPLEncoder.aggregated([("k", Array("hello".utf8))])
        data[data.count - 17] ^= 0x20
        #expect(try failure(data).contains("MD5"))
    }

    @Test func tooShortForATrailerFails() throws {
        let message = try failure(KPLEncoder.magic + Array(repeating: 0, count: 15))
        #expect(message.contains("only 19 bytes long"))
    }

    @Test func aTruncatedVarintFails() throws {
        // Field 1, length-delimited, whose length varint never ends.
        let message = try failure(KPLEncoder.wrap([0x0A, 0x80]))
        #expect(message.contains("truncated varint"))
        #expect(message.contains("partition_key_table"))
        // A record whose partition_key_index varint is cut off inside its message.
        let user: [UInt8] = [0x08, 0xFF]
        #expect(try failure(KPLEncoder.wrap(KPLEncoder.bytesField(3, user))).contains("truncated varint"))
    }

    @Test func aVarintLongerThan64BitsFails() throws {
        let message = try failure(KPLEncoder.wrap([0x78] + Array(repeating: 0xFF, count: 10) + [0x01]))
        #expect(message.contains("longer than 64 bits"))
    }

    @Test func aLengthBeyondTheEndFails() throws {
        let message = try failure(KPLEncoder.wrap([0x0A, 0x05, 0x61]))
        #expect(message.contains("declares 5 bytes, but only 1 remain"))
        // Inside a record: data claims more than the record message holds.
        let user: [UInt8] = KPLEncoder.varintField(1, 0) + [0x1A, 0x09, 0x01]
        let nested = KPLEncoder.aggregate(keys: ["k"], records: [user])
        #expect(try failure(KPLEncoder.wrap(nested)).contains("Record.data"))
    }

    @Test func aWrongWireTypeFails() throws {
        // partition_key_table as a varint.
        let message = try failure(KPLEncoder.wrap(KPLEncoder.varintField(1, 1)))
        #expect(message.contains("partition_key_table"))
        #expect(message.contains("wire type 0 (varint); it must be wire type 2 (length-delimited)"))
        // records as a 32-bit value.
        #expect(try failure(KPLEncoder.wrap(KPLEncoder.key(3, 5) + [0, 0, 0, 0])).contains("AggregatedRecord.records"))
        // Record.data as a varint.
        let user = KPLEncoder.varintField(1, 0) + KPLEncoder.varintField(3, 7)
        #expect(
            try failure(KPLEncoder.wrap(KPLEncoder.aggregate(keys: ["k"], records: [user]))).contains("Record.data"))
    }

    @Test func undefinedWireTypesAndFieldZeroFail() throws {
        #expect(try failure(KPLEncoder.wrap(KPLEncoder.key(9, 7))).contains("wire type 7"))
        #expect(try failure(KPLEncoder.wrap([0x02, 0x00])).contains("field number 0"))
        #expect(try failure(KPLEncoder.wrap(KPLEncoder.key(9, 4))).contains("never started"))
        #expect(try failure(KPLEncoder.wrap(KPLEncoder.key(9, 3))).contains("never ended"))
        #expect(try failure(KPLEncoder.wrap(KPLEncoder.key(9, 3) + KPLEncoder.key(8, 4))).contains("open group"))
    }

    @Test func anIndexOutOfRangeFails() throws {
        let user = KPLEncoder.record(partitionKeyIndex: 3, data: [1])
        let message = try failure(KPLEncoder.wrap(KPLEncoder.aggregate(keys: ["a", "b"], records: [user])))
        #expect(message.contains("user record 0"))
        #expect(message.contains("partition_key_index 3, but the partition key table has 2 entries"))
        let hashed = KPLEncoder.record(partitionKeyIndex: 0, explicitHashKeyIndex: 1, data: [1])
        let second = try failure(KPLEncoder.wrap(KPLEncoder.aggregate(keys: ["a"], hashKeys: ["1"], records: [hashed])))
        #expect(second.contains("explicit_hash_key_index 1, but the explicit hash key table has 1 entries"))
        let huge = KPLEncoder.record(partitionKeyIndex: .max, data: [1])
        #expect(
            try failure(KPLEncoder.wrap(KPLEncoder.aggregate(keys: ["a"], records: [huge]))).contains("\(UInt64.max)"))
    }

    @Test func missingRequiredFieldsFail() throws {
        let noKey = KPLEncoder.bytesField(3, [1])
        #expect(
            try failure(KPLEncoder.wrap(KPLEncoder.aggregate(keys: ["a"], records: [noKey]))).contains(
                "no partition_key_index"))
        let noData = KPLEncoder.varintField(1, 0)
        #expect(try failure(KPLEncoder.wrap(KPLEncoder.aggregate(keys: ["a"], records: [noData]))).contains("no data"))
    }

    @Test func aPartitionKeyThatIsNotUTF8Fails() throws {
        let protobuf =
            KPLEncoder.bytesField(1, [0xC3, 0x28])
            + KPLEncoder.bytesField(3, KPLEncoder.record(partitionKeyIndex: 0, data: []))
        #expect(try failure(KPLEncoder.wrap(protobuf)).contains("not valid UTF-8"))
    }

    // MARK: - Fuzzing

    /// Random bytes after the magic, with a correct MD5 so the parser sees them, never crash and
    /// always give a verdict that is a split, a drop or a KPL failure.
    @Test func randomGarbageAfterTheMagicNeverCrashes() {
        var random = SeededRandom(seed: 0x5EED_4B50)
        for round in 0..<3_000 {
            let protobuf = random.bytes(Int.random(in: 0...64, using: &random))
            let data = round % 4 == 0 ? KPLEncoder.magic + protobuf : KPLEncoder.wrap(protobuf)
            switch processor.verdict(for: data) {
            case .split(let records): #expect(records.allSatisfy { $0.data.count <= protobuf.count })
            case .dropped, .processingFailed("KPL.InvalidAggregate", _): break
            case let other: Issue.record("unexpected verdict \(other) for \(data)")
            }
        }
    }

    /// Valid aggregates with a few bytes flipped, truncated or extended (MD5 recomputed).
    @Test func mutatedAggregatesNeverCrash() {
        var random = SeededRandom(seed: 42)
        let users = (0..<20).map { (key: "key-\($0 % 3)", data: random.bytes($0 * 3)) }
        let valid = Array(KPLEncoder.aggregated(users).dropFirst(4).dropLast(16))
        var successes = 0
        for _ in 0..<3_000 {
            var protobuf = valid
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    protobuf[Int.random(in: 0..<protobuf.count, using: &random)] = UInt8.random(
                        in: 0...255, using: &random)
                }
            case 1: protobuf = Array(protobuf.prefix(Int.random(in: 0..<protobuf.count, using: &random)))
            default: protobuf += random.bytes(Int.random(in: 1...8, using: &random))
            }
            switch processor.verdict(for: KPLEncoder.wrap(protobuf)) {
            case .split, .dropped: successes += 1
            case .processingFailed("KPL.InvalidAggregate", _): break
            case let other: Issue.record("unexpected verdict \(other)")
            }
        }
        #expect(successes > 0)  // some mutations leave a valid message, so the loop also exercises success
    }
}
