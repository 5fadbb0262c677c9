/// Every problem found in one pipeline file (never empty), in file order.
package struct PipelineFileErrors: Error, Sendable, Equatable, CustomStringConvertible {
    package var errors: [PipelineFileError]

    package init(_ errors: [PipelineFileError]) {
        self.errors = errors
    }

    /// One line per error.
    package var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
