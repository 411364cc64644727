import Foundation
import GradingHarness

/// File-system failures as one line each ("cannot write .workbook/state.json: permission
/// denied"), never Foundation's NSError dump.
enum FileProblem {
    /// Runs `body`; a failure becomes WorkbookError("cannot `verb` `shown`: reason").
    static func attempt<T>(_ verb: String, _ shown: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as WorkbookError {
            throw error
        } catch {
            throw WorkbookError("cannot \(verb) \(shown): \(reason(error))")
        }
    }

    /// Why a file operation failed, in a few words: "permission denied", "is a directory".
    static func reason(_ error: any Error) -> String {
        if let posix = error as? POSIXError { return words(posix.code.rawValue) }
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain { return words(Int32(error.code)) }
        // (On Linux the underlying error is a Swift error inside Any: `as? NSError` misses it.)
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? any Error {
            let bridged = underlying as NSError
            if bridged.domain == NSPOSIXErrorDomain { return words(Int32(bridged.code)) }
        }
        if error.domain == NSCocoaErrorDomain {
            switch CocoaError.Code(rawValue: error.code) {
            case .fileNoSuchFile, .fileReadNoSuchFile: return words(ENOENT)
            case .fileWriteNoPermission, .fileReadNoPermission: return words(EACCES)
            case .fileWriteOutOfSpace: return words(ENOSPC)
            case .fileWriteVolumeReadOnly: return words(EROFS)
            case .fileWriteFileExists: return words(EEXIST)
            case .fileReadCorruptFile, .fileReadInapplicableStringEncoding: return "not readable as UTF-8 text"
            default: break
            }
        }
        return error.localizedDescription
    }

    /// strerror's words, starting lower case: "permission denied".
    static func words(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        return text.prefix(1).lowercased() + text.dropFirst()
    }

    /// Any error as one line, for the last resort in main: a file error names its path and
    /// its reason; anything else, its description's first line.
    static func oneLine(_ error: any Error) -> String {
        let bridged = error as NSError
        if bridged.domain == NSCocoaErrorDomain || bridged.domain == NSPOSIXErrorDomain {
            let path = (bridged.userInfo[NSFilePathErrorKey] as? String) ?? (bridged.userInfo[NSURLErrorKey] as? URL)?.path
            return (path.map { "\($0): " } ?? "file error: ") + reason(error)
        }
        return String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}

extension Workspace {
    /// `relative`, inside the workbook, made sure of before anything is written there: no part
    /// of the path (the file itself, or a folder on the way) may be a link that leads outside
    /// the workbook, or a link to nothing. Throws one line that says which part, and where it
    /// leads. Parts that do not exist yet will be made inside what was checked.
    func writable(_ relative: String) throws -> URL {
        let top = Self.realPath(root.path) ?? root.path
        var path = root.path
        for part in relative.split(separator: "/") {
            path += "/" + part
            var info = stat()
            guard lstat(path, &info) == 0 else { break }  // not there yet
            let shown = path.count == root.path.count + 1 + relative.count ? "it" : String(path.dropFirst(root.path.count + 1))
            let isLink = (info.st_mode & S_IFMT) == S_IFLNK
            guard let resolved = Self.realPath(path) else {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                throw WorkbookError("will not write \(relative): \(shown) is a link to \(target), which does not exist")
            }
            guard resolved == top || resolved.hasPrefix(top + "/") else {
                let what = isLink ? "is a link to" : "leads to"
                throw WorkbookError("will not write \(relative): \(shown) \(what) \(resolved), outside the workbook (\(top))")
            }
        }
        return file(relative)
    }

    /// The path with every link resolved, or nil when it (or a link in it) leads nowhere.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `url`'s path relative to the workbook, as messages show it.
    func shown(_ url: URL) -> String {
        url.path.hasPrefix(root.path + "/") ? String(url.path.dropFirst(root.path.count + 1)) : url.path
    }
}
