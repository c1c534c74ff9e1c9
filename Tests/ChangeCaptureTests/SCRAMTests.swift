import Testing

@testable import ChangeCapture

/// The SCRAM-SHA-256 client against RFC 7677's test vector (an independent oracle: the RFC's own exchange),
/// and against tampering.
struct SCRAMTests {
    @Test func rfc7677Exchange() throws {
        var client = SCRAMClient(password: "pencil", user: "user", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(String(decoding: client.first, as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        let final = try client.final(Array(serverFirst.utf8))
        #expect(
            String(decoding: final, as: UTF8.self)
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
        try client.verify(Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
        // A server that does not know the password cannot sign; a server nonce not extending ours is refused.
        #expect(throws: CaptureError.self) {
            try client.verify(Array("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
        }
        var other = SCRAMClient(password: "pencil", user: "user", clientNonce: "abc")
        #expect(throws: CaptureError.self) { _ = try other.final(Array(serverFirst.utf8)) }
        #expect(throws: CaptureError.self) { _ = try other.final(Array("r=abcd,s=!!,i=4096".utf8)) }
    }
}
