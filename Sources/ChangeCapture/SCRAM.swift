import Crypto
import Foundation

/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it: no channel binding (`n,,`), the
/// user name left empty (the server takes the startup message's). Passwords are used as given (ASCII passwords
/// need no SASLprep; others are sent unnormalised, which PostgreSQL accepts when it stored them the same way).
struct SCRAMClient {
    let password: String
    let user: String
    let clientNonce: String
    private var clientFirstBare: String { "n=\(user),r=\(clientNonce)" }
    private(set) var expectedServerSignature: [UInt8]?

    /// `user` stays empty for PostgreSQL (it uses the startup message's); the RFC's test vector names one.
    init(password: String, user: String = "", clientNonce: String = SCRAMClient.nonce()) {
        self.password = password
        self.user = user
        self.clientNonce = clientNonce
    }

    static func nonce() -> String {
        var bytes = [UInt8](repeating: 0, count: 18)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        return Data(bytes).base64EncodedString()
    }

    /// The client-first message.
    var first: [UInt8] { Array(("n,," + clientFirstBare).utf8) }

    /// The client-final message for the server-first message; remembers the server signature to expect.
    mutating func final(_ serverFirst: [UInt8]) throws -> [UInt8] {
        let text = String(decoding: serverFirst, as: UTF8.self)
        var fields: [Character: String] = [:]
        for part in text.split(separator: ",") where part.count >= 2 && part.dropFirst().first == "=" {
            fields[part.first!] = String(part.dropFirst(2))
        }
        guard let nonce = fields["r"], nonce.hasPrefix(clientNonce), let saltText = fields["s"],
            let salt = Data(base64Encoded: saltText), let iterations = fields["i"].flatMap(Int.init), iterations > 0,
            iterations <= 10_000_000
        else { throw CaptureError(.connectionLost, "the server's SCRAM message is not valid: \(text.prefix(200))") }
        let salted = Self.pbkdf2(password: Array(password.utf8), salt: Array(salt), iterations: iterations)
        let clientKey = Self.hmac(salted, "Client Key")
        let storedKey = Array(SHA256.hash(data: clientKey))
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array((clientFirstBare + "," + text + "," + withoutProof).utf8)
        let signature = Self.hmac(storedKey, authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        expectedServerSignature = Self.hmac(Self.hmac(salted, "Server Key"), authMessage)
        return Array((withoutProof + ",p=" + Data(proof).base64EncodedString()).utf8)
    }

    /// Checks the server-final message (the server proves it knew the password too).
    func verify(_ serverFinal: [UInt8]) throws {
        let text = String(decoding: serverFinal, as: UTF8.self)
        guard text.hasPrefix("v="), let signature = Data(base64Encoded: String(text.dropFirst(2))),
            let expected = expectedServerSignature, Array(signature) == expected
        else { throw CaptureError(.connectionLost, "the server's SCRAM signature does not verify") }
    }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] { hmac(key, Array(message.utf8)) }

    static func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// PBKDF2-HMAC-SHA256 with one 32-byte block (RFC 8018): all SCRAM-SHA-256 needs.
    static func pbkdf2(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var block = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = block
        for _ in 1..<iterations {
            block = Array(HMAC<SHA256>.authenticationCode(for: block, using: key))
            for index in result.indices { result[index] ^= block[index] }
        }
        return result
    }
}
