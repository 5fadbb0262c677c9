import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport

/// `sluice verify PIPELINE`: audits a pipeline offline (the data directory must not be held by a
/// running server). Exits 0 only when the audit holds.
enum VerifyCommand {
    static func run(_ arguments: [String], console: Console) throws {
        let scanned = try ArgumentScanner(
            arguments, valued: ["pipelines", "archive-dir", "data-dir"], flags: [], command: "sluice verify")
        if scanned.flags.contains("help") {
            console.print(HelpText.verify)
            return
        }
        guard scanned.positionals.count == 1 else {
            throw UsageError("'sluice verify' takes one pipeline name, for example 'sluice verify clickstream'. Run 'sluice verify --help'.")
        }
        let name = scanned.positionals[0]
        let directory = scanned.options["pipelines"] ?? "./Pipelines"
        let loaded = PipelineLoader.loadDirectory(directory, fileSystem: .live)
        guard let definition = loaded.definitions.first(where: { $0.name == name }) else {
            throw UsageError("no valid pipeline named \(name) in \(directory); run 'sluice validate' to see the pipelines there.")
        }
        let dataDirectory = scanned.options["data-dir"] ?? "./data"
        let store = try StreamStore(StreamStoreConfiguration(dataDirectory: dataDirectory))
        defer { store.close() }
        let report = Verifier(
            definition: definition, store: store, archiveRoot: scanned.options["archive-dir"] ?? "./archive",
            stateRoot: dataDirectory + "/pipelines", fileSystem: .live
        ).run()
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            console.print("\(title) (\(items.count)):")
            for item in items.prefix(50) { console.print("  " + item) }
            if items.count > 50 { console.print("  … and \(items.count - 50) more") }
        }
        list("GAPS: outputs in no file", report.gaps)
        list("DUPLICATES: outputs in more than one file", report.duplicates)
        list("FILE PROBLEMS", report.fileProblems)
        list("cannot check", report.cannotCheck)
        list("not checked (not delivered yet)", report.notYetDelivered)
        console.print(
            "\(report.holds ? "audit holds" : "audit FAILS"): \(report.checkedOutputs) outputs checked (\(report.droppedOutputs) dropped by processors), "
                + "\(report.filesChecked) files checked, \(report.gaps.count) gaps, \(report.duplicates.count) duplicates, "
                + "\(report.fileProblems.count) file problems")
        if !report.holds { throw VerifyFailure() }
    }

    /// The audit found problems (already printed): exit 1 without another message.
    struct VerifyFailure: Error {}
}
