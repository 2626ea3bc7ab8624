import CClamAV
import Foundation
import Logging

/// A compiled libclamav engine. Scans hold a reference while they run, so a
/// reload can swap in a new engine without waiting for them; the last
/// reference frees the engine.
final class LoadedEngine: @unchecked Sendable {
    // The pointer never changes after compile, and libclamav allows concurrent
    // scans on one compiled engine (clamd shares one between its threads).
    let pointer: OpaquePointer
    let signatures: Int

    init(pointer: OpaquePointer, signatures: Int) {
        self.pointer = pointer
        self.signatures = signatures
    }

    deinit { cl_engine_free(pointer) }
}

/// Why an engine did not load.
public struct ClamAVError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// The blocking libclamav calls. Run them only on a thread of their own or
/// a scan pool thread, never on an event loop or the cooperative pool.
enum ClamAVLibrary {
    /// `cl_init` once per process; nil when it succeeded.
    static let initError: String? = {
        cl_set_clcb_msg { severity, _, message, _ in ClamAVLibrary.handle(severity, message) }
        let code = cl_init(UInt32(CL_INIT_DEFAULT))
        return code == CL_SUCCESS ? nil : "cl_init: \(describe(code))"
    }()

    static let logger = Logger(label: "postern.clamav")

    static func describe(_ code: cl_error_t) -> String { String(cString: cl_strerror(code)) }

    /// Loads every database in `directory` into a new engine and compiles it.
    /// `maxSize` caps one file (MaxFileSize) and leaves 4× for everything a
    /// message unpacks to (MaxScanSize), so a message of that size is scanned whole.
    static func compile(directory: String, maxSize: Int?) -> Result<LoadedEngine, ClamAVError> {
        if let initError { return .failure(ClamAVError(initError)) }
        guard let pointer = cl_engine_new() else { return .failure(ClamAVError("cl_engine_new failed")) }
        var compiledEngine: LoadedEngine?
        defer { if compiledEngine == nil { cl_engine_free(pointer) } }
        if let maxSize {
            cl_engine_set_num(pointer, CL_ENGINE_MAX_FILESIZE, Int64(maxSize))
            cl_engine_set_num(pointer, CL_ENGINE_MAX_SCANSIZE, Int64(maxSize) * 4)
        }
        var signatures: UInt32 = 0
        let messages = LoadMessages()
        Thread.current.threadDictionary[LoadMessages.key] = messages
        defer { Thread.current.threadDictionary.removeObject(forKey: LoadMessages.key) }
        let loaded = cl_load(directory, pointer, &signatures, postern_cl_db_stdopt)
        guard loaded == CL_SUCCESS else {
            return .failure(ClamAVError("cl_load \(directory): \(describe(loaded))\(messages.suffix)"))
        }
        let compiled = cl_engine_compile(pointer)
        guard compiled == CL_SUCCESS else {
            return .failure(ClamAVError("cl_engine_compile \(directory): \(describe(compiled))\(messages.suffix)"))
        }
        let engine = LoadedEngine(pointer: pointer, signatures: Int(signatures))
        compiledEngine = engine
        return .success(engine)
    }

    /// libclamav's warnings and errors: kept with a load's error on the
    /// loading thread (they say which line of which file is wrong), logged otherwise.
    static func handle(_ severity: cl_msg, _ message: UnsafePointer<CChar>?) {
        guard severity != CL_MSG_INFO_VERBOSE, let message else { return }
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        if let messages = Thread.current.threadDictionary[LoadMessages.key] as? LoadMessages {
            messages.lines.append(text)
        } else if severity == CL_MSG_ERROR {
            ClamAVLibrary.logger.error("libclamav", metadata: ["message": "\(text)"])
        } else {
            ClamAVLibrary.logger.warning("libclamav", metadata: ["message": "\(text)"])
        }
    }
}

/// libclamav's messages during one load; touched only by the loading thread.
private final class LoadMessages: @unchecked Sendable {
    static let key = "postern.clamav.load-messages"
    var lines: [String] = []

    var suffix: String { lines.isEmpty ? "" : " (" + lines.suffix(3).joined(separator: "; ") + ")" }
}
