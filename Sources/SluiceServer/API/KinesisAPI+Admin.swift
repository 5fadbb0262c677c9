import SluiceStreams
import SluiceSupport

extension KinesisAPI {
    // MARK: - Retention

    /// IncreaseStreamRetentionPeriod / DecreaseStreamRetentionPeriod: `RetentionPeriodHours`
    /// (24-8760; equal to the current value is accepted); empty output.
    func changeRetention(_ fields: RequestFields, increase: Bool) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let hours = try fields.integer("RetentionPeriodHours")
        var errors = ValidationErrors()
        ModelRules.required(hours, at: "retentionPeriodHours", into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        guard let hours else { return [] }  // unreachable: `required` above
        try mapped { () throws(StreamError) in
            if increase {
                try store.increaseRetention(stream: name, hours: hours)
            } else {
                try store.decreaseRetention(stream: name, hours: hours)
            }
        }
        return []
    }

    // MARK: - Tags

    /// AddTagsToStream: `Tags` (1-200 entries per call, at most 50 per stream); existing keys
    /// are overwritten; empty output.
    func addTags(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let tags = try fields.stringMap("Tags")
        var errors = ValidationErrors()
        ModelRules.required(tags, at: "tags", into: &errors)
        if let tags { Self.validateTagCount(tags, into: &errors) }
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        let tagMap = Dictionary(tags ?? [], uniquingKeysWith: { _, last in last })
        try mapped { () throws(StreamError) in try store.addTags(stream: name, tags: tagMap) }
        return []
    }

    /// RemoveTagsFromStream: `TagKeys` (1-50); unknown keys are ignored; empty output.
    func removeTags(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let list = try fields.list("TagKeys")
        var keys: [String] = []
        for element in list ?? [] {
            if let key = try RequestFields.string(element) { keys.append(key) }
        }
        var errors = ValidationErrors()
        ModelRules.required(list, at: "tagKeys", into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        try mapped { () throws(StreamError) in try store.removeTags(stream: name, keys: keys) }
        return []
    }

    /// ListTagsForStream: `ExclusiveStartTagKey`, `Limit` (1-50, default 10); returns `Tags`
    /// sorted by key and `HasMoreTags`.
    func listTags(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let exclusiveStart = try fields.string("ExclusiveStartTagKey")
        let limit = try fields.integer("Limit")
        var errors = ValidationErrors()
        ModelRules.length(exclusiveStart, at: "exclusiveStartTagKey", min: 1, max: 128, into: &errors)
        ModelRules.range(limit, at: "limit", min: 1, max: 50, into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        let listing = try mapped { () throws(StreamError) in
            try store.listTags(stream: name, exclusiveStartKey: exclusiveStart, limit: limit)
        }
        var writer = JSONWriter(capacity: 64 + listing.tags.count * 64)
        writer.beginObject()
        writer.key("Tags")
        writer.beginArray()
        for tag in listing.tags {
            writer.beginObject()
            writer.key("Key")
            writer.string(tag.key)
            writer.key("Value")
            writer.string(tag.value)
            writer.endObject()
        }
        writer.endArray()
        writer.key("HasMoreTags")
        writer.bool(listing.hasMore)
        writer.endObject()
        return writer.bytes
    }
}
