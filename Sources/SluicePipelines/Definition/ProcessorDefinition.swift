/// One entry of a pipeline's `processors` list: a transform plugin and its parameters.
///
/// Decoded and kept so files can be checked now, but no processor types exist yet: a
/// non-empty list is a validation error.
package struct ProcessorDefinition: Sendable, Equatable {
    package var type: String
    package var parameters: [String: String]

    package init(type: String, parameters: [String: String] = [:]) {
        self.type = type
        self.parameters = parameters
    }
}
