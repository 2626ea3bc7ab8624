import CCrypt

/// crypt(3) password hashes through libxcrypt, as stored in the SMTP AUTH
/// password file (RFC 4954 leaves the back end to the server).
public enum PasswordHash {
    /// The schemes `make` can produce. `verify` accepts any hash libxcrypt knows.
    public enum Scheme: String, CaseIterable, Sendable {
        case yescrypt, sha512, bcrypt

        /// The crypt(3) prefix that selects the scheme.
        public var prefix: String {
            switch self {
            case .yescrypt: "$y$"
            case .sha512: "$6$"
            case .bcrypt: "$2b$"
            }
        }
    }

    public enum HashError: Error, Equatable, Sendable, CustomStringConvertible {
        /// Empty, longer than libxcrypt accepts, or containing NUL.
        case unusablePassword
        case saltGenerationFailed(Scheme)
        case hashingFailed(Scheme)

        public var description: String {
            switch self {
            case .unusablePassword:
                "the password is empty, contains NUL or is longer than \(maxPasswordBytes) bytes"
            case .saltGenerationFailed(let scheme): "crypt_gensalt failed for \(scheme.rawValue)"
            case .hashingFailed(let scheme): "crypt failed for \(scheme.rawValue)"
            }
        }
    }

    /// libxcrypt refuses longer passphrases (CRYPT_MAX_PASSPHRASE_SIZE - 1).
    public static let maxPasswordBytes = 511

    /// A new hash of `password` with a random salt and the scheme's default cost.
    public static func make(password: String, scheme: Scheme = .yescrypt) throws(HashError) -> String {
        guard isUsable(password), !password.isEmpty else { throw .unusablePassword }
        var setting = [CChar](repeating: 0, count: 192) // CRYPT_GENSALT_OUTPUT_SIZE
        // Count 0 picks libxcrypt's default cost, except for bcrypt whose
        // default (5) is too cheap today: 10. Nil random bytes makes
        // libxcrypt read the OS's entropy.
        let cost: UInt = scheme == .bcrypt ? 10 : 0
        let salted = setting.withUnsafeMutableBufferPointer { buffer in
            crypt_gensalt_rn(scheme.prefix, cost, nil, 0, buffer.baseAddress, Int32(buffer.count))
        }
        guard salted != nil else { throw .saltGenerationFailed(scheme) }
        let settingString = setting.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        guard let hash = cryptString(password, setting: settingString), !hash.hasPrefix("*") else {
            throw .hashingFailed(scheme)
        }
        return hash
    }

    /// Whether `password` hashes to `hash`. False for locked hashes ("*…", "!…"),
    /// empty ones and anything libxcrypt rejects; the final compare is constant-time.
    public static func verify(password: String, hash: String) -> Bool {
        guard !hash.isEmpty, !hash.hasPrefix("*"), !hash.hasPrefix("!"), isUsable(password) else {
            return false
        }
        guard let computed = cryptString(password, setting: hash), !computed.hasPrefix("*") else {
            return false
        }
        return constantTimeEqual(Array(computed.utf8), Array(hash.utf8))
    }

    /// crypt(3) cannot see past a NUL and fails on very long input.
    private static func isUsable(_ password: String) -> Bool {
        password.utf8.count <= maxPasswordBytes && !password.utf8.contains(0)
    }

    /// crypt_rn with a zeroed, heap-allocated `struct crypt_data` (about 32 KiB,
    /// too big for a thread's stack), wiped again before it is freed.
    private static func cryptString(_ password: String, setting: String) -> String? {
        let size = MemoryLayout<crypt_data>.size
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<crypt_data>.alignment)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        defer {
            data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            data.deallocate()
        }
        guard let output = crypt_rn(password, setting, data, Int32(size)) else { return nil }
        return String(cString: output)
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
