import Foundation
import SluiceServer
import SluiceTestSupport
import Testing

/// Retention and tag operations.
@Suite struct AdminOperationTests {
    @Test func retentionGoesUpAndDownWithAWSsErrors() throws {
        try APIHarness.with { api in
            try api.createStream("kept", shards: 1)
            let increased = api.call(
                "IncreaseStreamRetentionPeriod", #"{"StreamName":"kept","RetentionPeriodHours":48}"#)
            #expect(increased.status == 200)
            #expect(increased.body.isEmpty)
            let summary = try api.ok("DescribeStreamSummary", #"{"StreamName":"kept"}"#)
            #expect(summary["StreamDescriptionSummary"]?["RetentionPeriodHours"] == .number("48"))
            let shorter = try api.fail(
                "IncreaseStreamRetentionPeriod", #"{"StreamName":"kept","RetentionPeriodHours":25}"#)
            #expect(shorter.type == "InvalidArgumentException")
            #expect(
                shorter.message
                    == "Requested retention period (25 hours) for stream kept can not be shorter than existing retention period (48 hours). Use DecreaseRetentionPeriod API."
            )
            try api.ok("DecreaseStreamRetentionPeriod", #"{"StreamName":"kept","RetentionPeriodHours":24}"#)
            let tooShort = try api.fail(
                "DecreaseStreamRetentionPeriod", #"{"StreamName":"kept","RetentionPeriodHours":23}"#)
            #expect(
                tooShort.message
                    == "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short."
            )
            let missing = try api.fail("IncreaseStreamRetentionPeriod", #"{"StreamName":"kept"}"#)
            #expect(missing.type == "ValidationException")
            #expect(missing.message?.contains("Value null at 'retentionPeriodHours'") == true)
        }
    }

    @Test func tagsAreAddedListedInKeyOrderAndRemoved() throws {
        try APIHarness.with { api in
            try api.createStream("tags", shards: 1)
            let added = api.call("AddTagsToStream", #"{"StreamName":"tags","Tags":{"b":"2","a":"1","c":""}}"#)
            #expect(added.status == 200)
            #expect(added.body.isEmpty)
            let page = try api.ok("ListTagsForStream", #"{"StreamName":"tags","Limit":2}"#)
            #expect(page.keys == ["Tags", "HasMoreTags"])
            #expect(
                page["Tags"]
                    == .array([
                        .object(["Key": .string("a"), "Value": .string("1")]),
                        .object(["Key": .string("b"), "Value": .string("2")]),
                    ]))
            #expect(page["HasMoreTags"] == .bool(true))
            let rest = try api.ok("ListTagsForStream", #"{"StreamName":"tags","ExclusiveStartTagKey":"b"}"#)
            #expect(rest["Tags"] == .array([.object(["Key": .string("c"), "Value": .string("")])]))
            #expect(rest["HasMoreTags"] == .bool(false))
            try api.ok("AddTagsToStream", #"{"StreamName":"tags","Tags":{"a":"one"}}"#)
            try api.ok("RemoveTagsFromStream", #"{"StreamName":"tags","TagKeys":["b","c","unknown"]}"#)
            let left = try api.ok("ListTagsForStream", #"{"StreamName":"tags"}"#)
            #expect(left["Tags"] == .array([.object(["Key": .string("a"), "Value": .string("one")])]))
        }
    }

    @Test func tagErrors() throws {
        try APIHarness.with { api in
            try api.createStream("tagged", shards: 1)
            let noTags = try api.fail("AddTagsToStream", #"{"StreamName":"tagged"}"#)
            #expect(noTags.type == "ValidationException")
            #expect(
                noTags.message
                    == "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
            )
            let badCharacters = try api.fail("AddTagsToStream", #"{"StreamName":"tagged","Tags":{"k":"a<b"}}"#)
            #expect(badCharacters.type == "InvalidArgumentException")
            let noKeys = try api.fail("RemoveTagsFromStream", #"{"StreamName":"tagged"}"#)
            #expect(
                noKeys.message
                    == "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
            )
            let unknown = try api.fail("ListTagsForStream", #"{"StreamName":"nope"}"#)
            #expect(unknown.type == "ResourceNotFoundException")
        }
    }
}
