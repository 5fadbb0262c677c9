/// Records encoded into frames, ready for one shard, built before the shard lock is taken.
///
/// The frames are contiguous in one buffer; `Shard.append` only stamps each frame's sequence
/// number, arrival time and CRC under the lock and writes the buffer with one `pwrite` per
/// segment it lands in.
package struct PreparedBatch: Sendable {
    var buffer: [UInt8]
    var frameStarts: [Int]
    var payloadCRCs: [UInt32]

    /// Encodes `records` (partition key, data).
    package init(_ records: [(partitionKey: String, data: [UInt8])]) {
        var total = 0
        for record in records {
            total += RecordFrame.size(keyBytes: record.partitionKey.utf8.count, dataBytes: record.data.count)
        }
        var starts: [Int] = []
        starts.reserveCapacity(records.count)
        var crcs: [UInt32] = []
        crcs.reserveCapacity(records.count)
        buffer = [UInt8](unsafeUninitializedCapacity: total) { raw, initialized in
            let bytes = UnsafeMutableRawBufferPointer(raw)
            var cursor = 0
            for record in records {
                var key = record.partitionKey
                let crc = key.withUTF8 { keyBytes in
                    record.data.withUnsafeBytes { dataBytes in
                        RecordFrame.writePayload(into: bytes, at: cursor, key: UnsafeRawBufferPointer(keyBytes), data: dataBytes)
                    }
                }
                starts.append(cursor)
                crcs.append(crc)
                cursor += RecordFrame.size(keyBytes: keyBytes(record.partitionKey), dataBytes: record.data.count)
            }
            initialized = total
        }
        frameStarts = starts
        payloadCRCs = crcs
    }

    /// The number of records.
    package var count: Int { frameStarts.count }

    /// The total frame bytes.
    package var byteCount: Int { buffer.count }

    func frameSize(_ index: Int) -> Int {
        (index + 1 < frameStarts.count ? frameStarts[index + 1] : buffer.count) - frameStarts[index]
    }
}

@inline(__always)
private func keyBytes(_ key: String) -> Int { key.utf8.count }
