/// One problem in a pipeline file: where it is and what rule it breaks.
///
/// `description` is the line `sluice validate` prints, in the compiler style editors
/// understand: `Pipelines/clicks.json:7:28: /buffering/intervalInSeconds is 30; allowed 60...900`.
/// Errors found across files (a duplicate name) or against the stream store have no position:
/// `Pipelines/x.json: /source/stream: stream "clicks" does not exist; …`.
package struct PipelineFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path the file was read from, as given.
    package var file: String
    /// 1-based line, when the problem has a place in the file.
    package var line: Int?
    /// 1-based column in characters, when the problem has a place in the file.
    package var column: Int?
    /// The JSON pointer of the value at fault (`/buffering/intervalInSeconds`; `""` is the
    /// whole document).
    package var pointer: String
    /// The full message, which names the pointer, the rule and the fix.
    package var message: String

    package init(file: String, line: Int? = nil, column: Int? = nil, pointer: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.pointer = pointer
        self.message = message
    }

    package var description: String {
        if let line, let column { return "\(file):\(line):\(column): \(message)" }
        return "\(file): \(message)"
    }
}
