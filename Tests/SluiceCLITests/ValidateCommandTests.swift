import Foundation
import SluiceCLI
import SluiceTestSupport
import Testing

/// `sluice validate`: exit codes, problems on standard error, the summary on standard output.
@Suite struct ValidateCommandTests {
    private func run(_ arguments: [String]) -> (status: Int32, output: String, error: String) {
        let captured = CapturedConsole()
        let status = CommandLineTool.main(arguments: arguments, console: captured.console)
        return (status, captured.standardOutput, captured.standardError)
    }

    private func write(_ json: String, to path: String) throws {
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
    }

    private func pipeline(_ name: String, directory: String? = nil, buffering: String = "") -> String {
        #"{"name":"\#(name)","source":{"stream":"\#(name)"},"destination":{"directory":"\#(directory ?? name)"}\#(buffering)}"#
    }

    @Test(arguments: [["validate", "--help"], ["help", "validate"], ["validate", "-h"]])
    func helpMatchesTheGoldenFile(arguments: [String]) {
        let result = run(arguments)
        #expect(result.status == 0)
        #expect(result.error.isEmpty)
        #expect(goldenMismatch(result.output, named: "cli/help-validate.txt") == nil)
    }

    @Test func theCheckedInPipelinesAreValid() {
        let result = run(["validate", "--pipelines", packageRoot + "/Pipelines"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error == "")
        #expect(result.output.hasSuffix(" pipelines valid\n"))
    }

    @Test func validFilesExitZeroWithASummary() throws {
        try withTemporaryDirectory { directory in
            try write(pipeline("a"), to: directory + "/a.json")
            try write(pipeline("b"), to: directory + "/b.json")
            try write(pipeline("c"), to: directory + "/c.json")
            let result = run(["validate", "--pipelines", directory])
            #expect(result.status == 0)
            #expect(result.output == "3 pipelines valid\n")
            #expect(result.error == "")
            let one = run(["validate", directory + "/a.json"])
            #expect(one.status == 0)
            #expect(one.output == "1 pipeline valid\n")
        }
    }

    @Test func everyErrorGoesToStandardErrorAndTheStatusIsOne() throws {
        try withTemporaryDirectory { directory in
            try write(pipeline("a"), to: directory + "/a.json")
            try write(pipeline("b", buffering: #","buffering":{"sizeInMBs":0,"intervalInSeconds":30}"#), to: directory + "/b.json")
            try write(pipeline("c"), to: directory + "/c.json")
            let result = run(["validate", "--pipelines", directory])
            #expect(result.status == 1)
            #expect(result.output == "2 errors in 1 of 3 pipelines\n")
            #expect(
                result.error == """
                    \(directory)/b.json:1:94: /buffering/sizeInMBs is 0; allowed 1...128
                    \(directory)/b.json:1:116: /buffering/intervalInSeconds is 30; allowed 60...900

                    """)
        }
    }

    @Test func checksAcrossFilesCount() throws {
        try withTemporaryDirectory { directory in
            try write(pipeline("a", directory: "out"), to: directory + "/a.json")
            try write(pipeline("a", directory: "out/b"), to: directory + "/b.json")
            let result = run(["validate", "--pipelines", directory])
            #expect(result.status == 1)
            #expect(result.output == "2 errors in 1 of 2 pipelines\n")
            #expect(
                result.error == """
                    \(directory)/b.json: /name: pipeline name "a" is also used by \(directory)/a.json; every pipeline needs its own name
                    \(directory)/b.json: /destination/directory: "out/b" is inside "out", the destination of \(directory)/a.json; give each pipeline its own directory, not one inside another's

                    """)
            // Named files are checked against each other too.
            let named = run(["validate", directory + "/a.json", directory + "/b.json"])
            #expect(named.status == 1)
            #expect(named.output == "2 errors in 1 of 2 pipelines\n")
            // A directory among the files stands for its pipeline files.
            let asDirectory = run(["validate", directory])
            #expect(asDirectory.output == "2 errors in 1 of 2 pipelines\n")
        }
    }

    @Test func aFileThatIsNotJSONIsOneError() throws {
        try withTemporaryDirectory { directory in
            try write("{\n  \"name\": \"x\",\n}\n", to: directory + "/x.json")
            let result = run(["validate", directory + "/x.json"])
            #expect(result.status == 1)
            #expect(result.error == "\(directory)/x.json:3:1: not valid JSON: expected a member name\n")
            #expect(result.output == "1 error in 1 of 1 pipeline\n")
        }
    }

    @Test func missingFilesAndDirectoriesFail() throws {
        try withTemporaryDirectory { directory in
            let file = run(["validate", directory + "/nope.json"])
            #expect(file.status == 1)
            #expect(file.error.hasPrefix("\(directory)/nope.json: cannot read the file: open"))
            #expect(file.output == "1 error in 1 of 1 pipeline\n")
            let folder = run(["validate", "--pipelines", directory + "/nope"])
            #expect(folder.status == 1)
            #expect(
                folder.error
                    == "error: pipeline directory '\(directory)/nope' does not exist or is not a directory. Pass --pipelines DIR or the files to check.\n"
            )
            #expect(folder.output == "")
        }
    }

    @Test func anEmptyDirectoryIsValid() throws {
        try withTemporaryDirectory { directory in
            let result = run(["validate", "--pipelines", directory])
            #expect(result.status == 0)
            #expect(result.output == "no pipeline files (*.json) in \(directory)\n")
        }
    }

    @Test(arguments: [
        (["validate", "--bogus"], "unknown option '--bogus' for 'sluice validate'"),
        (["validate", "a.json", "--pipelines", "x"], "'sluice validate' takes either FILES or --pipelines DIR, not both."),
        (["validate", "--pipelines"], "option '--pipelines' of 'sluice validate' needs a value"),
    ])
    func usageErrorsExit64(arguments: [String], expected: String) {
        let result = run(arguments)
        #expect(result.status == 64)
        #expect(result.error.hasPrefix("error: "))
        #expect(result.error.contains(expected), "\(result.error)")
    }

    @Test func theBuiltBinaryValidates() throws {
        try withTemporaryDirectory { directory in
            try write(pipeline("a", buffering: #","buffering":{"intervalInSeconds":1000}"#), to: directory + "/a.json")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: productsDirectory + "/sluice")
            process.arguments = ["validate", "--pipelines", directory]
            let output = Pipe()
            let error = Pipe()
            process.standardOutput = output
            process.standardError = error
            try process.run()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = error.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 1)
            #expect(String(decoding: out, as: UTF8.self) == "1 error in 1 of 1 pipeline\n")
            #expect(String(decoding: err, as: UTF8.self) == "\(directory)/a.json:1:102: /buffering/intervalInSeconds is 1000; allowed 60...900\n")
        }
    }
}
