import SluicePipelines
import SluiceSupport

/// `sluice validate [FILES...]`: checks pipeline files without running them.
///
/// With no FILES, validates every pipeline file in `--pipelines DIR` (default `./Pipelines`):
/// each file alone, then the checks across files (duplicate names, overlapping destination
/// directories, shared direct PUT streams). Each problem goes to standard error as
/// `FILE:LINE:COLUMN: message`; a summary line goes to standard output. Exits 0 when every
/// file is valid and 1 otherwise. Whether source streams exist is checked by `sluice serve`
/// (it needs the data directory, which a running service holds).
enum ValidateCommand {
    static func run(_ arguments: [String], console: Console) throws {
        let command = "sluice validate"
        let scanned = try ArgumentScanner(arguments, valued: ["pipelines"], flags: [], command: command)
        if scanned.flags.contains("help") {
            console.print(HelpText.validate)
            return
        }
        let fileSystem = FileSystem.live
        let loaded: PipelineLoader.Loaded
        let place: String
        if scanned.positionals.isEmpty {
            let directory = scanned.options["pipelines"] ?? "Pipelines"
            guard fileSystem.isDirectory(directory) else {
                throw ValidationFailure(
                    "pipeline directory '\(directory)' does not exist or is not a directory. Pass --pipelines DIR or the files to check."
                )
            }
            loaded = PipelineLoader.loadDirectory(directory, fileSystem: fileSystem)
            place = " in \(directory)"
        } else {
            guard scanned.options["pipelines"] == nil else {
                throw UsageError("'sluice validate' takes either FILES or --pipelines DIR, not both.")
            }
            // A directory among FILES stands for the pipeline files in it.
            var files: [String] = []
            for path in scanned.positionals {
                if fileSystem.isDirectory(path) {
                    do throws(SystemError) {
                        files += try PipelineLoader.pipelineFiles(in: path, fileSystem: fileSystem)
                    } catch {
                        throw ValidationFailure("cannot list '\(path)': \(error). \(error.remedy)")
                    }
                } else {
                    files.append(path)
                }
            }
            loaded = PipelineLoader.load(files: files, fileSystem: fileSystem)
            place = ""
        }
        for error in loaded.errors {
            console.printError(error.description)
        }
        let count = loaded.files.count
        let pipelines = count == 1 ? "pipeline" : "pipelines"
        if loaded.errors.isEmpty {
            console.print(count == 0 ? "no pipeline files (*.json)\(place)" : "\(count) \(pipelines) valid")
            return
        }
        let errors = loaded.errors.count == 1 ? "1 error" : "\(loaded.errors.count) errors"
        console.print("\(errors) in \(loaded.invalidFileCount) of \(count) \(pipelines)")
        throw ValidationFailure(nil)
    }
}

/// `sluice validate` found problems: exit status 1. With a message, it is printed as
/// `error: <message>`; without one, the problems were already printed.
struct ValidationFailure: Error, Sendable {
    var message: String?

    init(_ message: String?) {
        self.message = message
    }
}

extension HelpText {
    static let validate = """
        Usage: sluice validate [FILES...] [--pipelines DIR]

        Check pipeline definition files without running them. With no FILES, checks every
        *.json file directly in --pipelines DIR (except *.schema.json), then the rules across
        files: unique pipeline names, destination directories that do not overlap, and direct
        PUT streams that are not shared. A directory among FILES stands for its files.

        Prints each problem to standard error as FILE:LINE:COLUMN: message, and a summary to
        standard output ('3 pipelines valid' or '2 errors in 1 of 3 pipelines'). Exits 0 when
        every file is valid, 1 otherwise. Whether source streams exist is checked when
        'sluice serve' starts.

        Options:
          --pipelines DIR   Directory of pipeline files (default ./Pipelines).
          -h, --help        Show this help.
        """
}
