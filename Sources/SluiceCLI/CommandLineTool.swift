import Foundation
import SluiceStreams
import SluiceSupport

/// The `sluice` command.
package enum CommandLineTool {
    /// Exit statuses.
    package enum ExitCode {
        package static let success: Int32 = 0
        package static let failure: Int32 = 1
        /// EX_USAGE: the command line was wrong.
        package static let usage: Int32 = 64
    }

    /// Runs the process's command line and exits with its status.
    package static func runAndExit() -> Never {
        StandardStreams.ignoreBrokenPipe()
        StandardStreams.exit(main(arguments: Array(CommandLine.arguments.dropFirst()), console: .standard))
    }

    /// Runs one command line (without the program name) and returns the exit status.
    /// Usage errors print `error: …` and return 64; other failures print `error: …` and return 1.
    package static func main(arguments: [String], console: Console) -> Int32 {
        do {
            try run(arguments, console: console)
            return ExitCode.success
        } catch let error as UsageError {
            console.printError("error: \(error.message)")
            return ExitCode.usage
        } catch is VerifyCommand.VerifyFailure {
            return ExitCode.failure
        } catch let error as ValidationFailure {
            if let message = error.message { console.printError("error: \(message)") }
            return ExitCode.failure
        } catch let error as StreamError {
            console.printError("error: \(error.message)")
            return ExitCode.failure
        } catch {
            console.printError("error: \(error)")
            return ExitCode.failure
        }
    }

    private static func run(_ arguments: [String], console: Console) throws {
        guard let command = arguments.first else {
            console.print(HelpText.root)
            return
        }
        let rest = Array(arguments.dropFirst())
        switch command {
        case "-h", "--help":
            console.print(HelpText.root)
        case "help":
            switch rest.first {
            case nil: console.print(HelpText.root)
            case "streams": console.print(HelpText.streams)
            case "put": console.print(HelpText.put)
            case "get": console.print(HelpText.get)
            case "serve": console.print(HelpText.serve)
            case "validate": console.print(HelpText.validate)
            case "pipelines": console.print(HelpText.pipelines)
            case "replay": console.print(HelpText.replay)
            case "verify": console.print(HelpText.verify)
            case let other?: throw UsageError("no help for unknown command '\(other)'. Commands: serve, validate, pipelines, replay, verify, streams, put, get.")
            }
        case "serve":
            try ServeCommand.run(rest, console: console)
        case "validate":
            try ValidateCommand.run(rest, console: console)
        case "pipelines":
            try PipelinesCommand.run(rest, console: console)
        case "replay":
            try ReplayCommand.run(rest, console: console)
        case "verify":
            try VerifyCommand.run(rest, console: console)
        case "streams":
            try StreamsCommand.run(rest, console: console)
        case "put":
            try PutCommand.run(rest, console: console)
        case "get":
            try GetCommand.run(rest, console: console)
        default:
            throw UsageError("unknown command '\(command)'. Run 'sluice --help' to see the commands.")
        }
    }

    /// Opens the store of `--data-dir` (default `./data`).
    static func openStore(_ arguments: ArgumentScanner, durability: DurabilityPolicy = .always) throws -> StreamStore {
        var configuration = StreamStoreConfiguration(dataDirectory: arguments.options["data-dir"] ?? "./data")
        configuration.durability = durability
        return try StreamStore(configuration)
    }
}
