/// Where a pipeline starts reading its source stream the first time it runs (it continues from
/// its checkpoint afterwards).
package enum StartingPosition: String, Sendable, Equatable, CaseIterable {
    /// The oldest record still in the stream (Sluice's default: nothing already in the stream
    /// is skipped).
    case trimHorizon = "TRIM_HORIZON"
    /// Only records added after the pipeline first starts.
    case latest = "LATEST"
}
