/// A compiled `!{timestamp:PATTERN}` pattern: the subset of Java's `DateTimeFormatter`
/// pattern letters that Firehose users put in prefixes, printed in English.
///
/// Supported letters (counts as in Java):
///
/// | letter | meaning | counts |
/// |---|---|---|
/// | `y`, `u` | year (`yy`: last two digits) | 1–9 |
/// | `M`, `L` | month: `M` 8, `MM` 08, `MMM` Aug, `MMMM` August, `MMMMM` A | 1–5 |
/// | `d` | day of month | 1–2 |
/// | `D` | day of year | 1–3 |
/// | `Q`, `q` | quarter: `Q` 3, `QQ` 03, `QQQ` Q3, `QQQQ` 3rd quarter | 1–4 |
/// | `E` | day of week: `E`–`EEE` Mon, `EEEE` Monday, `EEEEE` M | 1–5 |
/// | `a` | AM or PM | 1 |
/// | `H` 0–23, `k` 1–24, `h` 1–12, `K` 0–11 | hour | 1–2 |
/// | `m`, `s` | minute, second | 1–2 |
/// | `S` | fraction of the second, truncated | 1–9 |
/// | `Z` | offset: `Z`–`ZZZ` +0530, `ZZZZ` GMT+05:30, `ZZZZZ` +05:30 or Z | 1–5 |
/// | `X`, `x` | offset: `X` +05, `XX` +0530, `XXX` +05:30; `X` prints Z for zero | 1–3 |
///
/// Text in single quotes is literal and `''` is a quote. Other characters that are not
/// letters are literal, except `[`, `]`, `{`, `}` and `#`, which Java reserves.
struct TimestampPattern: Sendable, Equatable {
    /// The pattern as written.
    let source: String
    let items: [Item]

    enum Item: Sendable, Equatable {
        /// UTF-8 bytes of literal text.
        case literal([UInt8])
        case field(Field)
    }

    enum Field: Sendable, Equatable {
        case year(minimumWidth: Int)
        case twoDigitYear
        case monthNumber(minimumWidth: Int)
        case monthText(TextWidth)
        case day(minimumWidth: Int)
        case dayOfYear(minimumWidth: Int)
        case quarterNumber(minimumWidth: Int)
        case quarterShort
        case quarterFull
        case weekdayText(TextWidth)
        case amPm
        case hourOfDay(minimumWidth: Int)
        case clockHourOfDay(minimumWidth: Int)
        case clockHourOfAmPm(minimumWidth: Int)
        case hourOfAmPm(minimumWidth: Int)
        case minute(minimumWidth: Int)
        case second(minimumWidth: Int)
        case fraction(digits: Int)
        case offsetBasic
        case offsetLocalized
        case offsetExtendedOrZ
        case offsetISO(count: Int, zeroAsZ: Bool)
    }

    enum TextWidth: Sendable, Equatable {
        case short, full, narrow
    }

    /// The letters the parser accepts, in the order the error message lists them.
    static let supportedLetters = "y u M L d D Q q E a H k h K m s S Z X x"

    /// Compiles `source`.
    /// - Throws: a message saying which letter or construct is not accepted.
    init(parsing source: String) throws(PatternError) {
        self.source = source
        var items: [Item] = []
        var literal = ""
        let characters = Array(source)
        var index = 0
        func flushLiteral() {
            if !literal.isEmpty {
                items.append(.literal(Array(literal.utf8)))
                literal = ""
            }
        }
        while index < characters.count {
            let character = characters[index]
            if character == "'" {
                // '' is a quote; otherwise quoted text runs to the next lone quote.
                if index + 1 < characters.count, characters[index + 1] == "'" {
                    literal.append("'")
                    index += 2
                    continue
                }
                index += 1
                var closed = false
                while index < characters.count {
                    if characters[index] == "'" {
                        if index + 1 < characters.count, characters[index + 1] == "'" {
                            literal.append("'")
                            index += 2
                            continue
                        }
                        closed = true
                        index += 1
                        break
                    }
                    literal.append(characters[index])
                    index += 1
                }
                guard closed else {
                    throw PatternError("quoted text is not closed; end it with ' (write '' for a quote)")
                }
                continue
            }
            if character.isASCII, character.isLetter {
                var count = 1
                while index + count < characters.count, characters[index + count] == character { count += 1 }
                flushLiteral()
                items.append(.field(try Self.field(character, count)))
                index += count
                continue
            }
            if character.isLetter {
                throw PatternError("'\(character)' is a letter and so a pattern letter; quote it as '\(character)' to print it")
            }
            if "[]{}#".contains(character) {
                throw PatternError("'\(character)' is reserved in timestamp patterns; quote it as '\(character)' to print it")
            }
            literal.append(character)
            index += 1
        }
        flushLiteral()
        self.items = items
    }

    struct PatternError: Error, Sendable {
        var message: String
        init(_ message: String) { self.message = message }
    }

    private static func field(_ letter: Character, _ count: Int) throws(PatternError) -> Field {
        let run = String(repeating: letter, count: count)
        func tooMany(_ allowed: String) -> PatternError {
            PatternError("too many pattern letters \"\(run)\"; '\(letter)' takes \(allowed)")
        }
        switch letter {
        case "y", "u":
            guard count <= 9 else { throw tooMany("1 to 9") }
            return count == 2 ? .twoDigitYear : .year(minimumWidth: count)
        case "M", "L":
            switch count {
            case 1, 2: return .monthNumber(minimumWidth: count)
            case 3: return .monthText(.short)
            case 4: return .monthText(.full)
            case 5: return .monthText(.narrow)
            default: throw tooMany("1 to 5")
            }
        case "d":
            guard count <= 2 else { throw tooMany("1 or 2") }
            return .day(minimumWidth: count)
        case "D":
            guard count <= 3 else { throw tooMany("1 to 3") }
            return .dayOfYear(minimumWidth: count)
        case "Q", "q":
            switch count {
            case 1, 2: return .quarterNumber(minimumWidth: count)
            case 3: return .quarterShort
            case 4: return .quarterFull
            default: throw tooMany("1 to 4")
            }
        case "E":
            switch count {
            case 1, 2, 3: return .weekdayText(.short)
            case 4: return .weekdayText(.full)
            case 5: return .weekdayText(.narrow)
            default: throw tooMany("1 to 5")
            }
        case "a":
            guard count == 1 else { throw tooMany("exactly 1") }
            return .amPm
        case "H", "k", "h", "K", "m", "s":
            guard count <= 2 else { throw tooMany("1 or 2") }
            switch letter {
            case "H": return .hourOfDay(minimumWidth: count)
            case "k": return .clockHourOfDay(minimumWidth: count)
            case "h": return .clockHourOfAmPm(minimumWidth: count)
            case "K": return .hourOfAmPm(minimumWidth: count)
            case "m": return .minute(minimumWidth: count)
            default: return .second(minimumWidth: count)
            }
        case "S":
            guard count <= 9 else { throw tooMany("1 to 9") }
            return .fraction(digits: count)
        case "Z":
            switch count {
            case 1, 2, 3: return .offsetBasic
            case 4: return .offsetLocalized
            case 5: return .offsetExtendedOrZ
            default: throw tooMany("1 to 5")
            }
        case "X", "x":
            guard count <= 3 else { throw tooMany("1 to 3") }
            return .offsetISO(count: count, zeroAsZ: letter == "X")
        default:
            throw PatternError(
                "pattern letter '\(letter)' is not supported; supported letters: \(supportedLetters) (text in single quotes is literal)"
            )
        }
    }

    // MARK: - Rendering

    /// Appends the pattern printed for `time` to `output` (UTF-8).
    func append(_ time: CivilTime, to output: inout [UInt8]) {
        for item in items {
            switch item {
            case .literal(let bytes): output += bytes
            case .field(let field): Self.append(field, time, to: &output)
            }
        }
    }

    private static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
        "December",
    ].map { Array($0.utf8) }
    private static let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        .map { Array($0.utf8) }
    private static let quarterNames = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"].map { Array($0.utf8) }

    private static func text(_ name: [UInt8], _ width: TextWidth, to output: inout [UInt8]) {
        switch width {
        case .short: output += name.prefix(3)
        case .full: output += name
        case .narrow: output.append(name[0])
        }
    }

    private static func append(_ field: Field, _ time: CivilTime, to output: inout [UInt8]) {
        switch field {
        case .year(let width): appendNumber(time.year > 0 ? time.year : 1 - time.year, width: width, to: &output)
        case .twoDigitYear: appendNumber(((time.year % 100) + 100) % 100, width: 2, to: &output)
        case .monthNumber(let width): appendNumber(time.month, width: width, to: &output)
        case .monthText(let width): text(monthNames[time.month - 1], width, to: &output)
        case .day(let width): appendNumber(time.day, width: width, to: &output)
        case .dayOfYear(let width): appendNumber(time.dayOfYear, width: width, to: &output)
        case .quarterNumber(let width): appendNumber((time.month - 1) / 3 + 1, width: width, to: &output)
        case .quarterShort:
            output.append(UInt8(ascii: "Q"))
            appendNumber((time.month - 1) / 3 + 1, width: 1, to: &output)
        case .quarterFull: output += quarterNames[(time.month - 1) / 3]
        case .weekdayText(let width): text(weekdayNames[time.weekday - 1], width, to: &output)
        case .amPm: output += time.hour < 12 ? [65, 77] : [80, 77]  // AM, PM
        case .hourOfDay(let width): appendNumber(time.hour, width: width, to: &output)
        case .clockHourOfDay(let width): appendNumber(time.hour == 0 ? 24 : time.hour, width: width, to: &output)
        case .clockHourOfAmPm(let width):
            appendNumber(time.hour % 12 == 0 ? 12 : time.hour % 12, width: width, to: &output)
        case .hourOfAmPm(let width): appendNumber(time.hour % 12, width: width, to: &output)
        case .minute(let width): appendNumber(time.minute, width: width, to: &output)
        case .second(let width): appendNumber(time.second, width: width, to: &output)
        case .fraction(let digits):
            // Millisecond precision; Java truncates, so further digits are zeros.
            let millisecond = [time.millisecond / 100, time.millisecond / 10 % 10, time.millisecond % 10]
            for index in 0..<digits { output.append(48 + UInt8(index < 3 ? millisecond[index] : 0)) }
        case .offsetBasic: appendOffset(time.utcOffsetSeconds, separator: false, minutes: .always, to: &output)
        case .offsetLocalized:
            output += [71, 77, 84]  // GMT
            if time.utcOffsetSeconds != 0 {
                appendOffset(time.utcOffsetSeconds, separator: true, minutes: .always, to: &output)
            }
        case .offsetExtendedOrZ:
            if time.utcOffsetSeconds == 0 {
                output.append(UInt8(ascii: "Z"))
            } else {
                appendOffset(time.utcOffsetSeconds, separator: true, minutes: .always, to: &output)
            }
        case .offsetISO(let count, let zeroAsZ):
            if zeroAsZ, time.utcOffsetSeconds == 0 {
                output.append(UInt8(ascii: "Z"))
            } else {
                appendOffset(
                    time.utcOffsetSeconds, separator: count == 3, minutes: count == 1 ? .whenNonZero : .always, to: &output)
            }
        }
    }

    private enum MinutesStyle { case always, whenNonZero }

    private static func appendOffset(_ seconds: Int, separator: Bool, minutes: MinutesStyle, to output: inout [UInt8]) {
        output.append(seconds < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        let magnitude = abs(seconds)
        appendNumber(magnitude / 3600, width: 2, to: &output)
        let minute = magnitude / 60 % 60
        if minutes == .always || minute != 0 {
            if separator { output.append(UInt8(ascii: ":")) }
            appendNumber(minute, width: 2, to: &output)
        }
    }

    /// Appends a non-negative number in decimal, padded with zeros to `width` digits.
    static func appendNumber(_ value: Int, width: Int, to output: inout [UInt8]) {
        var digits = 1
        var scale = 10
        while value >= scale && digits < 18 {
            digits += 1
            scale *= 10
        }
        for _ in digits..<max(digits, width) { output.append(48) }
        var divisor = scale / 10
        while divisor > 0 {
            output.append(48 + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    /// The most characters the pattern prints for any instant of years 1 to 9999.
    var maximumLength: Int {
        items.reduce(0) { total, item in
            switch item {
            case .literal(let bytes): total + String(decoding: bytes, as: UTF8.self).count
            case .field(let field): total + Self.maximumLength(of: field)
            }
        }
    }

    private static func maximumLength(of field: Field) -> Int {
        switch field {
        case .year(let width): max(width, 4)
        case .twoDigitYear: 2
        case .monthNumber, .day, .hourOfDay, .clockHourOfDay, .clockHourOfAmPm, .hourOfAmPm, .minute, .second, .amPm: 2
        case .monthText(let width), .weekdayText(let width):
            switch width {
            case .short: 3
            case .full: 9  // September, Wednesday
            case .narrow: 1
            }
        case .dayOfYear: 3
        case .quarterNumber(let width): width
        case .quarterShort: 2
        case .quarterFull: 11
        case .fraction(let digits): digits
        case .offsetBasic: 5
        case .offsetLocalized: 9
        case .offsetExtendedOrZ: 6
        case .offsetISO(let count, _): count == 3 ? 6 : 5
        }
    }
}
