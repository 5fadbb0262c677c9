/// Every processor type a pipeline file can name. Adding a built-in is one file in `Builtins/`
/// plus one line here.
package enum ProcessorRegistry {
    package static let builtIn: [ProcessorType] = [
        KPLDeaggregateProcessor.processorType,
        DecompressProcessor.processorType,
        RegexExtractProcessor.processorType,
        JSONParseProcessor.processorType,
        JSONFilterProcessor.processorType,
        JSONProjectProcessor.processorType,
        AppendDelimiterProcessor.processorType,
        MetadataExtractionProcessor.processorType,
        ExecProcessor.processorType,
    ]

    package static func type(named name: String) -> ProcessorType? {
        builtIn.first { $0.name == name }
    }

    package static var names: [String] { builtIn.map(\.name) }
}
