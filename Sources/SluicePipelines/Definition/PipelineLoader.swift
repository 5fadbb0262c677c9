package import SluiceSupport

/// Reads pipeline files: one file, a directory of them, and the checks that span files.
package enum PipelineLoader {
    /// What loading a set of pipeline files gave.
    package struct Loaded: Sendable, Equatable {
        /// Every file that was read, in order (`definitions` holds the valid ones).
        package var files: [String]
        /// The files that decoded and validated on their own.
        package var definitions: [PipelineDefinition]
        /// Every problem: per file, then across files. Empty when the whole set is valid.
        package var errors: [PipelineFileError]

        package init(files: [String] = [], definitions: [PipelineDefinition] = [], errors: [PipelineFileError] = []) {
            self.files = files
            self.definitions = definitions
            self.errors = errors
        }

        /// How many files have at least one error.
        package var invalidFileCount: Int { Set(errors.map(\.file)).count }
    }

    /// Decodes and validates one pipeline file.
    ///
    /// - Parameters:
    ///   - bytes: the file's content.
    ///   - file: its path, used in messages and kept in the definition.
    /// - Returns: the definition, or every problem found, in file order, with line and column.
    package static func decode(_ bytes: [UInt8], file: String) -> Result<PipelineDefinition, PipelineFileErrors> {
        var decoder = DefinitionDecoder(bytes: bytes, file: file)
        if let definition = decoder.decode() { return .success(definition) }
        return .failure(PipelineFileErrors(decoder.errors))
    }

    /// Whether `name` is a pipeline file: `*.json` but not `*.schema.json`, not hidden.
    package static func isPipelineFileName(_ name: String) -> Bool {
        name.hasSuffix(".json") && !name.hasSuffix(".schema.json") && !name.hasPrefix(".")
    }

    /// Loads every pipeline file directly in `path` (not in subdirectories; `*.schema.json` and
    /// hidden files skipped), in name order, then runs `checkConflicts` over the valid ones.
    ///
    /// Blocks on file I/O. A directory that cannot be listed gives one error naming it.
    package static func loadDirectory(_ path: String, fileSystem: FileSystem) -> Loaded {
        let files: [String]
        do throws(SystemError) {
            files = try pipelineFiles(in: path, fileSystem: fileSystem)
        } catch {
            return Loaded(errors: [
                PipelineFileError(
                    file: normalizedDirectory(path), pointer: "",
                    message: "cannot list the pipeline directory: \(error). \(error.remedy)")
            ])
        }
        return load(files: files, fileSystem: fileSystem)
    }

    /// The pipeline files directly in `path`, in name order, as `path/name` (with a leading
    /// `./` dropped, so messages read `Pipelines/clicks.json`).
    /// - Throws: `SystemError` when the directory cannot be listed.
    package static func pipelineFiles(in path: String, fileSystem: FileSystem) throws(SystemError) -> [String] {
        let directory = normalizedDirectory(path)
        let names = try fileSystem.contentsOfDirectory(path)
        return names.filter(isPipelineFileName).sorted().map { join(directory, $0) }.filter { !fileSystem.isDirectory($0) }
    }

    /// Loads the given pipeline files, then runs `checkConflicts` over the valid ones.
    /// Blocks on file I/O.
    package static func load(files: [String], fileSystem: FileSystem) -> Loaded {
        var loaded = Loaded(files: files)
        for file in files {
            let bytes: [UInt8]
            do throws(SystemError) {
                bytes = try fileSystem.readFile(file)
            } catch {
                loaded.errors.append(
                    PipelineFileError(file: file, pointer: "", message: "cannot read the file: \(error). \(error.remedy)"))
                continue
            }
            switch decode(bytes, file: file) {
            case .success(let definition): loaded.definitions.append(definition)
            case .failure(let failure): loaded.errors += failure.errors
            }
        }
        loaded.errors += checkConflicts(loaded.definitions)
        return loaded
    }

    /// `Pipelines` for `./Pipelines/`, so messages read `Pipelines/clicks.json`.
    private static func normalizedDirectory(_ path: String) -> String {
        var directory = Substring(path)
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        while directory.hasPrefix("./"), directory.count > 2 { directory.removeFirst(2) }
        return String(directory)
    }

    private static func join(_ directory: String, _ name: String) -> String {
        if directory == "." { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
