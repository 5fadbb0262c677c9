import SluicePipelines
import SluiceSupport
import Testing

/// Helpers for decoding pipeline JSON in tests.
enum DefinitionTestKit {
    /// The smallest valid pipeline with `extra` members spliced into its top level.
    static func minimal(_ extra: String = "") -> String {
        #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d"}"# + (extra.isEmpty ? "" : "," + extra) + "}"
    }

    /// Decodes `json` and returns the definition, or records an issue.
    static func decode(_ json: String, file: String = "Pipelines/p.json", sourceLocation: SourceLocation = #_sourceLocation)
        throws -> PipelineDefinition
    {
        switch PipelineLoader.decode(Array(json.utf8), file: file) {
        case .success(let definition):
            return definition
        case .failure(let errors):
            Issue.record("unexpected errors:\n\(errors)", sourceLocation: sourceLocation)
            throw errors
        }
    }

    /// Every error line for `json` (empty when it decodes).
    static func errors(_ json: String, file: String = "Pipelines/p.json") -> [String] {
        switch PipelineLoader.decode(Array(json.utf8), file: file) {
        case .success: []
        case .failure(let errors): errors.errors.map(\.description)
        }
    }

    /// 2018-08-27T10:30:00Z, the instant of Firehose's prefix examples.
    static let exampleInstant = Timestamp(milliseconds: 1_535_365_800_000)
}
