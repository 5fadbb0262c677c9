import Foundation
import SluicePipelines
import SluiceSupport
import Testing

/// Parsing and rendering of `!{namespace:value}` expressions, timestamp patterns, time zones,
/// random strings and object names.
@Suite struct PrefixTemplateTests {
    private typealias Kit = DefinitionTestKit

    /// 2018-08-27T10:30:05.123Z, a Monday.
    private static let instant = Timestamp(milliseconds: 1_535_365_805_123)

    private func at(_ iso: String) throws -> Timestamp {
        try #require(UTCDate.parseISO8601(iso))
    }

    private func render(
        _ text: String, at timestamp: Timestamp = PrefixTemplateTests.instant, zone: String = "UTC"
    ) throws -> String {
        let template = try PrefixTemplate(parsing: text)
        let timeZone = try #require(PrefixTimeZone(identifier: zone))
        return try template.render(PrefixContext(timestamp: timestamp, errorOutputType: "processing-failed"), timeZone: timeZone)
    }

    // MARK: - Timestamp patterns

    @Test(arguments: [
        ("yyyy", "2018"), ("yy", "18"), ("y", "2018"), ("yyy", "2018"), ("yyyyy", "02018"), ("uuuu", "2018"),
        ("M", "8"), ("MM", "08"), ("MMM", "Aug"), ("MMMM", "August"), ("MMMMM", "A"), ("LLL", "Aug"),
        ("d", "27"), ("dd", "27"), ("D", "239"), ("DD", "239"), ("DDD", "239"),
        ("Q", "3"), ("QQ", "03"), ("QQQ", "Q3"), ("QQQQ", "3rd quarter"), ("q", "3"),
        ("E", "Mon"), ("EEE", "Mon"), ("EEEE", "Monday"), ("EEEEE", "M"),
        ("a", "AM"), ("H", "10"), ("HH", "10"), ("h", "10"), ("hh", "10"), ("K", "10"), ("k", "10"),
        ("m", "30"), ("mm", "30"), ("s", "5"), ("ss", "05"), ("S", "1"), ("SS", "12"), ("SSS", "123"), ("SSSSSS", "123000"),
        ("Z", "+0000"), ("ZZZZ", "GMT"), ("ZZZZZ", "Z"), ("X", "Z"), ("XXX", "Z"), ("x", "+00"), ("xx", "+0000"),
        ("xxx", "+00:00"),
        ("yyyy/MM/dd/HH/", "2018/08/27/10/"), ("yyyy-MM-dd HH:mm:ss.SSS", "2018-08-27 10:30:05.123"),
        ("yyyy'-'MM", "2018-08"), ("'year='yyyy", "year=2018"), ("''yyyy''", "'2018'"), ("'it''s' yyyy", "it's 2018"),
        ("'}'yyyy", "}2018"), ("yyyy_MM", "2018_08"),
    ])
    func patternLettersPrintLikeJava(pattern: String, expected: String) throws {
        #expect(try render("!{timestamp:\(pattern)}") == expected)
    }

    @Test func hoursAroundMidnightAndNoon() throws {
        let midnight = try at("2018-08-27T00:05:00Z")
        #expect(try render("!{timestamp:H h hh K k a}", at: midnight) == "0 12 12 0 24 AM")
        let afternoon = try at("2018-08-27T13:05:00Z")
        #expect(try render("!{timestamp:H h hh K k a}", at: afternoon) == "13 1 01 1 13 PM")
        let noon = try at("2018-08-27T12:00:00Z")
        #expect(try render("!{timestamp:h K a}", at: noon) == "12 0 PM")
    }

    @Test func dayOfYearAndWeekdays() throws {
        #expect(try render("!{timestamp:D DD DDD E}", at: try at("2018-01-05T00:00:00Z")) == "5 05 005 Fri")
        #expect(try render("!{timestamp:D EEEE}", at: try at("2016-12-31T23:59:59Z")) == "366 Saturday")
        #expect(try render("!{timestamp:D EEEE}", at: try at("2024-03-01T00:00:00Z")) == "61 Friday")
        #expect(try render("!{timestamp:EEEE}", at: try at("1970-01-01T00:00:00Z")) == "Thursday")
        #expect(try render("!{timestamp:yyyy-MM-dd EEEE}", at: try at("1969-12-31T12:00:00Z")) == "1969-12-31 Wednesday")
        #expect(try render("!{timestamp:MMMM QQQQ}", at: try at("2018-12-01T00:00:00Z")) == "December 4th quarter")
    }

    @Test func everyTimestampInAPrefixIsTheSameInstant() throws {
        let template = try PrefixTemplate(parsing: "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:ss.SSS}")
        let text = try template.render(PrefixContext(timestamp: Self.instant), timeZone: .utc)
        #expect(text == "2018/08/05.123")
    }

    // MARK: - Time zones

    @Test func newYorkFollowsDaylightSavingTime() throws {
        #expect(try render("!{timestamp:yyyy/MM/dd/HH/}", zone: "America/New_York") == "2018/08/27/06/")
        #expect(try render("!{timestamp:HH Z XXX}", zone: "America/New_York") == "06 -0400 -04:00")
        #expect(try render("!{timestamp:HH Z}", at: try at("2018-01-15T10:30:00Z"), zone: "America/New_York") == "05 -0500")
        // Clocks jump from 02:00 EST to 03:00 EDT at 07:00 UTC on 11 March 2018.
        #expect(try render("!{timestamp:HH:mm:ss}", at: try at("2018-03-11T06:59:59Z"), zone: "America/New_York") == "01:59:59")
        #expect(try render("!{timestamp:HH:mm:ss}", at: try at("2018-03-11T07:00:00Z"), zone: "America/New_York") == "03:00:00")
        #expect(try render("!{timestamp:yyyy/MM/dd}", at: try at("2018-08-27T03:00:00Z"), zone: "America/New_York") == "2018/08/26")
    }

    @Test func kolkataIsFiveAndAHalfHoursAhead() throws {
        #expect(try render("!{timestamp:yyyy/MM/dd/HH/mm}", zone: "Asia/Kolkata") == "2018/08/27/16/00")
        #expect(try render("!{timestamp:yyyy/MM/dd/HH/}", at: try at("2018-08-27T20:00:00Z"), zone: "Asia/Kolkata") == "2018/08/28/01/")
        #expect(try render("!{timestamp:Z X XX XXX ZZZZ ZZZZZ}", zone: "Asia/Kolkata") == "+0530 +0530 +0530 +05:30 GMT+05:30 +05:30")
        #expect(try render("!{timestamp:yyyy/MM/dd/HH/}", at: try at("2018-12-31T19:00:00Z"), zone: "Asia/Kolkata") == "2019/01/01/00/")
    }

    @Test func timeZonesAgreeWithFoundationAcrossAYear() throws {
        for zone in ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Europe/London", "Pacific/Chatham"] {
            let timeZone = try #require(PrefixTimeZone(identifier: zone))
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = try #require(TimeZone(identifier: zone))
            var ms: Int64 = 1_514_764_800_000  // 2018-01-01
            while ms < 1_546_300_800_000 {
                let fields = timeZone.civilTime(at: Timestamp(milliseconds: ms))
                let expected = calendar.dateComponents(
                    [.year, .month, .day, .hour, .minute, .second, .weekday],
                    from: Date(timeIntervalSince1970: TimeInterval(ms / 1000)))
                #expect(fields.year == expected.year && fields.month == expected.month && fields.day == expected.day)
                #expect(fields.hour == expected.hour && fields.minute == expected.minute && fields.second == expected.second)
                #expect(fields.weekday % 7 + 1 == expected.weekday, "\(zone) \(ms)")  // Foundation: 1 is Sunday
                ms += 3_599_000 * 7 + 12_345  // about every 7 hours, drifting across minutes
            }
        }
    }

    @Test func theRenderCacheGivesTheSameAnswers() throws {
        let template = try PrefixTemplate(parsing: "!{timestamp:yyyy/MM/dd/HH/mm/ss.SSS}/")
        let zones = [PrefixTimeZone.utc, try #require(PrefixTimeZone(identifier: "Asia/Kolkata"))]
        var cache = PrefixRenderCache()
        var ms = Self.instant.milliseconds
        for step in 0..<2000 {
            let zone = zones[step / 7 % 2]
            let context = PrefixContext(timestamp: Timestamp(milliseconds: ms))
            #expect(try template.render(context, timeZone: zone, cache: &cache) == template.render(context, timeZone: zone))
            ms += Int64(step % 5 == 0 ? 997 : 13)
        }
    }

    // MARK: - Random strings

    @Test func randomStringsAreDeterministicPerSeedAndDifferPerOccurrence() throws {
        let template = try PrefixTemplate(parsing: "!{firehose:random-string}/!{firehose:random-string}/")
        #expect(template.hasRandomString)
        let context = PrefixContext(timestamp: Self.instant, randomSeed: 42)
        let first = try template.render(context, timeZone: .utc)
        #expect(try template.render(context, timeZone: .utc) == first)
        let parts = first.split(separator: "/")
        #expect(parts.count == 2)
        #expect(parts[0] != parts[1])
        for part in parts {
            #expect(part.count == 11)
            #expect(part.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) })
        }
        #expect(String(parts[0]) == PrefixTemplate.randomString(seed: 42, occurrence: 0))
        #expect(String(parts[1]) == PrefixTemplate.randomString(seed: 42, occurrence: 1))
        var other = context
        other.randomSeed = 43
        #expect(try template.render(other, timeZone: .utc) != first)
    }

    @Test func randomStringsDoNotRepeatAcrossSeeds() {
        var seen: Set<String> = []
        for seed in 0..<UInt64(20_000) {
            seen.insert(PrefixTemplate.randomString(seed: seed, occurrence: 0))
        }
        #expect(seen.count == 20_000)
        #expect(PrefixTemplate.randomString(seed: 0, occurrence: 0) == PrefixTemplate.randomString(seed: 0, occurrence: 0))
    }

    // MARK: - Parsing

    @Test func templatesDescribeWhatTheyUse() throws {
        let template = try PrefixTemplate(
            parsing: "a/!{partitionKeyFromQuery:customer}/!{partitionKeyFromLambda:region}/!{timestamp:yyyy}/")
        #expect(template.usesPartitionKeys == ["customer", "region"])
        #expect(template.usesTimestamp)
        #expect(!template.hasRandomString)
        #expect(!template.usesErrorOutputType)
        #expect(template.hasExpressions)
        #expect(template.text == "a/!{partitionKeyFromQuery:customer}/!{partitionKeyFromLambda:region}/!{timestamp:yyyy}/")
        let plain = try PrefixTemplate(parsing: "plain/text}{!/")
        #expect(!plain.hasExpressions)
        #expect(try plain.render(PrefixContext(timestamp: Self.instant), timeZone: .utc) == "plain/text}{!/")
    }

    @Test(arguments: [
        ("a!{b", "expression \"!{b\" is not closed; write !{namespace:value}, and note that \"!{\" may appear only as the start of an expression", 1),
        ("x/!{foo}", "\"!{foo}\" is not an expression; write !{namespace:value} (\"!{\" may appear only as the start of an expression)", 2),
        ("!{timestamp:yyyy", "expression \"!{timestamp:yyyy\" is not closed; end it with }", 0),
        ("!{timestamp:yyyy'x}", "expression \"!{timestamp:yyyy'x}\" has quoted text that is not closed; end it with '", 0),
        ("!{timestamp:}", "\"!{timestamp:}\" needs a pattern, such as !{timestamp:yyyy/MM/dd}", 0),
        (
            "!{timestamp:yyyy-ww}",
            "\"!{timestamp:yyyy-ww}\": pattern letter 'w' is not supported; supported letters: y u M L d D Q q E a H k h K m s S Z X x (text in single quotes is literal)",
            0
        ),
        ("!{timestamp:ddd}", "\"!{timestamp:ddd}\": too many pattern letters \"ddd\"; 'd' takes 1 or 2", 0),
        ("!{timestamp:HHH}", "\"!{timestamp:HHH}\": too many pattern letters \"HHH\"; 'H' takes 1 or 2", 0),
        ("!{timestamp:MMMMMM}", "\"!{timestamp:MMMMMM}\": too many pattern letters \"MMMMMM\"; 'M' takes 1 to 5", 0),
        ("!{timestamp:aa}", "\"!{timestamp:aa}\": too many pattern letters \"aa\"; 'a' takes exactly 1", 0),
        ("!{timestamp:yyyy[MM]}", "\"!{timestamp:yyyy[MM]}\": '[' is reserved in timestamp patterns; quote it as '[' to print it", 0),
        ("!{timestamp:yyyy#}", "\"!{timestamp:yyyy#}\": '#' is reserved in timestamp patterns; quote it as '#' to print it", 0),
        ("!{timestamp:é}", "\"!{timestamp:é}\": 'é' is a letter and so a pattern letter; quote it as 'é' to print it", 0),
        (
            "p/!{timestmp:yyyy}",
            "unknown namespace \"timestmp\" in \"!{timestmp:yyyy}\" (did you mean \"timestamp\"?); namespaces: timestamp, firehose, partitionKeyFromQuery, partitionKeyFromLambda",
            2
        ),
        (
            "!{Timestamp:yyyy}",
            "unknown namespace \"Timestamp\" in \"!{Timestamp:yyyy}\" (did you mean \"timestamp\"?); namespaces: timestamp, firehose, partitionKeyFromQuery, partitionKeyFromLambda",
            0
        ),
        (
            "!{firehose:random}",
            "unknown expression \"!{firehose:random}\" (did you mean \"!{firehose:random-string}\"?); the firehose namespace has random-string and error-output-type",
            0
        ),
        (
            "!{partitionKeyFromQuery:}",
            "\"!{partitionKeyFromQuery:}\" needs a key name of letters, digits, '_' and '-', such as !{partitionKeyFromQuery:customer_id}",
            0
        ),
        (
            "!{partitionKeyFromLambda:a/b}",
            "\"!{partitionKeyFromLambda:a/b}\" needs a key name of letters, digits, '_' and '-', such as !{partitionKeyFromLambda:customer_id}",
            0
        ),
    ])
    func badExpressionsAreRefusedWithTheFix(text: String, message: String, offset: Int) {
        #expect(throws: PrefixError.syntax(message, offset: offset)) { try PrefixTemplate(parsing: text) }
    }

    // MARK: - Object names

    @Test func objectNamesFollowFirehosesSuffix() throws {
        let name = ObjectName.make(
            pipeline: "clicks", version: 3, timestamp: Self.instant, timeZone: .utc,
            id: "a9fa96af-e4e4-409f-bac3-1f804714faaa", fileExtension: ".gz")
        #expect(name == "clicks-3-2018-08-27-10-30-05-a9fa96af-e4e4-409f-bac3-1f804714faaa.gz")
        let newYork = try #require(PrefixTimeZone(identifier: "America/New_York"))
        #expect(
            ObjectName.make(pipeline: "p", version: 1, timestamp: Self.instant, timeZone: newYork, id: "x", fileExtension: "")
                == "p-1-2018-08-27-06-30-05-x")
        let early = try at("0999-01-02T03:04:05Z")
        #expect(
            ObjectName.make(pipeline: "p", version: 12, timestamp: early, timeZone: .utc, id: "x", fileExtension: ".e")
                == "p-12-0999-01-02-03-04-05-x.e")
    }
}
