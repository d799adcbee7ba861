import Core
import Foundation
import Synchronization
import Testing

@testable import Fleet

/// The CA against CSRs made by the `openssl` command (a real, independent implementation).
@Suite struct CertificateAuthorityTests {
    static let now: Int64 = 1_800_000_000
    let uid = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6")!

    /// A CSR (PEM) from `openssl req` for a new key of `keyAlgorithm`, with `subject` and an
    /// optional subjectAltName.
    static func csr(
        subject: String, keyAlgorithm: [String] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        san: String? = nil, extensions: [String] = []
    ) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ampora-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var arguments = ["req", "-new", "-nodes", "-keyout", dir.appendingPathComponent("k").path, "-subj", subject]
        arguments += keyAlgorithm
        if let san { arguments += ["-addext", "subjectAltName=\(san)"] }
        for text in extensions { arguments += ["-addext", text] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return Array(data)
    }

    @Test func signsAClientCertificateForTheAgent() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA", days: 10, now: Self.now)
        let issued = try ca.sign(
            request: Self.csr(subject: "/CN=\(uid)"), for: uid, lifetimeSeconds: 3600, now: Self.now)
        #expect(issued.uid == uid)
        #expect(issued.notAfter == (Self.now + 3600) * 1000)
        #expect(issued.notBefore == (Self.now - CertificateAuthority.backdateSeconds) * 1000)
        #expect(issued.identity.hasPrefix("sha256:") && issued.identity.count == 7 + 64)
        #expect(issued.serial.count == 32)
        #expect(issued.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        // A second signature of the same key is another certificate (serial, fingerprint).
        let renewed = try ca.renew(publicKey: issued.publicKey, for: uid, lifetimeSeconds: 3600, now: Self.now + 60)
        #expect(renewed.publicKey == issued.publicKey)
        #expect(renewed.serial != issued.serial && renewed.identity != issued.identity)
    }

    @Test func refusesWhatIsNotAGoodCSRForThisAgent() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA", days: 10, now: Self.now)
        func refusal(_ csr: [UInt8]) -> String? {
            do {
                _ = try ca.sign(request: csr, for: uid, lifetimeSeconds: 3600, now: Self.now)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(refusal(Array("not a CSR".utf8))?.contains("not a PEM") == true)
        #expect(refusal([UInt8](repeating: 0x41, count: 70_000))?.contains("64 KiB") == true)
        let other = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-000000000001")!
        #expect(refusal(try Self.csr(subject: "/CN=\(other)"))?.contains("not for this agent") == true)
        #expect(
            refusal(try Self.csr(subject: "/CN=collector", san: "URI:urn:uuid:\(other)"))?.contains(
                "not for this agent")
                == true)
        #expect(
            refusal(try Self.csr(subject: "/CN=\(uid)", keyAlgorithm: ["-newkey", "rsa:1024"]))?.contains("too weak")
                == true)
        // A CSR whose signature was tampered with.
        var tampered = try Self.csr(subject: "/CN=\(uid)")
        let text = String(decoding: tampered, as: UTF8.self)
        let body = text.split(separator: "\n").dropFirst().dropLast().joined()
        var der = Array(Data(base64Encoded: body)!)
        der[der.count - 5] ^= 0x01
        tampered = Array(
            "-----BEGIN CERTIFICATE REQUEST-----\n\(Data(der).base64EncodedString(options: .lineLength64Characters))\n-----END CERTIFICATE REQUEST-----\n"
                .utf8)
        #expect(refusal(tampered) != nil)
        // A second subjectAltName (given by its OID, which `openssl req` does not see as a
        // duplicate) could name another uid than the first: such a request is refused.
        let uri = Array("urn:uuid:\(other)".utf8)
        let names = [0x30, UInt8(uri.count + 2), 0x86, UInt8(uri.count)] + uri
        let twice = try Self.csr(
            subject: "/CN=collector", san: "URI:urn:uuid:\(uid)",
            extensions: ["2.5.29.17=DER:" + names.map { String(format: "%02X", $0) }.joined()])
        #expect(refusal(twice)?.contains("more than once") == true)
        // Names that are not uids do not bind: a plain host name is accepted.
        #expect(refusal(try Self.csr(subject: "/CN=collector-7", san: "DNS:collector-7.example")) == nil)
    }

    @Test func theKeyRoundTripsEncryptedAndAWrongPassphraseFails() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA", days: 10, now: Self.now)
        let sealed = try ca.keyPEM(passphrase: "a long passphrase")
        #expect(sealed.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        let back = try CertificateAuthority.load(
            certificatePEM: ca.certificatePEM, keyPEM: sealed, passphrase: "a long passphrase")
        #expect(back.certificatePEM == ca.certificatePEM)
        #expect(throws: AuthorityError.self) {
            try CertificateAuthority.load(certificatePEM: ca.certificatePEM, keyPEM: sealed, passphrase: "wrong one!")
        }
        #expect(throws: AuthorityError.self) {
            try CertificateAuthority.load(certificatePEM: ca.certificatePEM, keyPEM: sealed, passphrase: nil)
        }
        // The longest passphrase OpenSSL reads back whole round-trips; a longer one is refused
        // when the key is written, not found unreadable at the next start.
        let longest = String(repeating: "p", count: 1023)
        let kept = try CertificateAuthority.load(
            certificatePEM: ca.certificatePEM, keyPEM: try ca.keyPEM(passphrase: longest), passphrase: longest)
        #expect(kept.certificatePEM == ca.certificatePEM)
        #expect(throws: AuthorityError.self) { try ca.keyPEM(passphrase: longest + "p") }
        let other = try CertificateAuthority.create(commonName: "other", days: 10, now: Self.now)
        #expect(throws: AuthorityError.self) {
            try CertificateAuthority.load(
                certificatePEM: other.certificatePEM, keyPEM: try ca.keyPEM(passphrase: nil), passphrase: nil)
        }
    }

    @Test func revocationListIsSignedAndNamesTheSerials() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA", days: 10, now: Self.now)
        let issued = try ca.sign(
            request: Self.csr(subject: "/CN=\(uid)"), for: uid, lifetimeSeconds: 3600, now: Self.now)
        let crl = try ca.revocationList([(issued.serial, Self.now * 1000)], now: Self.now)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ampora-crl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try crl.write(to: dir.appendingPathComponent("crl.pem"), atomically: true, encoding: .utf8)
        try ca.certificatePEM.write(to: dir.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "crl", "-in", dir.appendingPathComponent("crl.pem").path, "-CAfile",
            dir.appendingPathComponent("ca.pem").path,
            "-noout", "-text",
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(text.contains("verify OK"))
        #expect(text.uppercased().contains(issued.serial.uppercased()))
    }
}

/// The fleet side: a CSR makes an offer, the issued certificate rebinds its agent, revocation
/// is refused at once and survives a restart, renewal happens at two thirds.
@Suite struct AgentCertificateFleetTests {
    @Test func anAgentGetsOneNewCertificatePerIntervalAndItsOwnAgainForTheSameCSR() throws {
        let now = Mutex<Int64>(1_800_000_000_000)
        var options = FleetOptions(instance: "test")
        options.clock = { now.withLock { $0 } }
        options.authority = try CertificateAuthority.create(commonName: "test CA", days: 10, now: 1_800_000_000)
        let fleet = try FleetService(
            store: try FleetStores.open(try TestDatabases.freshURL("sqlite")), options: options)
        defer { fleet.close() }
        let uid = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6")!
        #expect(fleet.register(uid))
        let first = try CertificateAuthorityTests.csr(subject: "/CN=\(uid)")
        #expect(fleet.certificateRequest(uid, csr: first) == nil)
        let issued = try #require(fleet.certificate(of: uid))
        // The same CSR in the next messages: the same certificate, not a signature each.
        for _ in 0..<3 { #expect(fleet.certificateRequest(uid, csr: first) == nil) }
        #expect(fleet.certificate(of: uid)?.serial == issued.serial)
        // Another key before the interval is over: refused, with when to try again.
        let second = try CertificateAuthorityTests.csr(subject: "/CN=\(uid)")
        now.withLock { $0 += AgentCertificates.requestIntervalMilliseconds - 1_000 }
        let refused = try #require(fleet.certificateRequest(uid, csr: second))
        #expect(refused.contains("send a new certificate_request in 1 s"), "\(refused)")
        #expect(fleet.certificate(of: uid)?.serial == issued.serial)
        now.withLock { $0 += 1_000 }
        #expect(fleet.certificateRequest(uid, csr: second) == nil)
        let renewed = try #require(fleet.certificate(of: uid))
        #expect(renewed.serial != issued.serial && renewed.publicKey != issued.publicKey)
        fleet.stop()
    }

    @Test func issueBindRevokeAndRenew() throws {
        let url = try TestDatabases.freshURL("sqlite")
        let now = Mutex<Int64>(1_800_000_000_000)
        var options = FleetOptions(instance: "test")
        options.clock = { now.withLock { $0 } }
        options.authority = try CertificateAuthority.create(commonName: "test CA", days: 10, now: 1_800_000_000)
        options.agentCertificateLifetimeSeconds = 3000
        let uid = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6")!
        var identity = ""
        do {
            let fleet = try FleetService(store: try FleetStores.open(url), options: options)
            #expect(fleet.register(uid))
            #expect(fleet.bind(uid, identity: "token:abc"))
            #expect(fleet.certificateRequest(uid, csr: try CertificateAuthorityTests.csr(subject: "/CN=\(uid)")) == nil)
            let offered = try #require(fleet.desiredState(for: uid).connectionSettings?.opamp?.certificate)
            let issued = try #require(fleet.certificate(of: uid))
            #expect(offered.cert == Array(issued.certificatePEM.utf8))
            #expect(offered.caCert == Array(options.authority!.certificatePEM.utf8))
            identity = issued.identity
            // The issued certificate replaces the token binding; another certificate cannot.
            #expect(fleet.bind(uid, identity: issued.identity))
            #expect(!fleet.bind(uid, identity: "sha256:" + String(repeating: "0", count: 64)))
            // Not due before two thirds of 3000 s.
            now.withLock { $0 += 1_900_000 }
            fleet.renewCertificates()
            #expect(fleet.certificate(of: uid)?.serial == issued.serial)
            now.withLock { $0 += 200_000 }
            fleet.renewCertificates()
            let renewed = try #require(fleet.certificate(of: uid))
            #expect(renewed.serial != issued.serial && renewed.publicKey == issued.publicKey)
            #expect(fleet.bind(uid, identity: renewed.identity), "the renewed certificate speaks for the agent")
            identity = renewed.identity
            #expect(!fleet.isRevoked(identity))
            #expect(try fleet.revoke(uid))
            #expect(fleet.isRevoked(identity))
            #expect(fleet.desiredState(for: uid).connectionSettings == nil, "no certificate is offered any more")
            #expect(try !fleet.revoke(uid))
            #expect(try fleet.revocationList().hasPrefix("-----BEGIN X509 CRL-----"))
            fleet.stop()
            fleet.close()
        }
        let again = try FleetService(store: try FleetStores.open(url), options: options)
        defer { again.close() }
        #expect(again.isRevoked(identity), "revocations outlive a restart")
    }

    /// Revoking refuses the agent, not only its certificates: the CA signs nothing for it
    /// (a token it still holds would otherwise get it a new certificate) until an operator
    /// readmits it, across a restart; readmitting frees the uid from the revoked binding.
    @Test func aRevokedAgentGetsNoCertificateUntilReadmitted() throws {
        let url = try TestDatabases.freshURL("sqlite")
        var options = FleetOptions(instance: "test")
        options.authority = try CertificateAuthority.create(commonName: "test CA", days: 10, now: 1_800_000_000)
        let uid = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6")!
        let stranger = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c7")!
        var revokedIdentity = ""
        do {
            let fleet = try FleetService(store: try FleetStores.open(url), options: options)
            #expect(fleet.register(uid))
            #expect(fleet.certificateRequest(uid, csr: try CertificateAuthorityTests.csr(subject: "/CN=\(uid)")) == nil)
            let issued = try #require(fleet.certificate(of: uid))
            #expect(fleet.bind(uid, identity: issued.identity))
            revokedIdentity = issued.identity
            #expect(!fleet.isRevoked(uid))
            #expect(try !fleet.revoke(stranger), "a uid the fleet has never seen is not revoked")
            #expect(!fleet.isRevoked(stranger))
            #expect(try fleet.revoke(uid))
            #expect(fleet.isRevoked(uid) && fleet.isRevoked(issued.identity))
            #expect(try !fleet.revoke(uid), "revoked already")
            let refused = fleet.certificateRequest(uid, csr: try CertificateAuthorityTests.csr(subject: "/CN=\(uid)"))
            #expect(refused == AgentCertificates.revokedAgent)
            #expect(fleet.certificate(of: uid) == nil)
            fleet.stop()
            fleet.close()
        }
        let again = try FleetService(store: try FleetStores.open(url), options: options)
        defer { again.close() }
        #expect(again.isRevoked(uid), "a revoked agent stays refused after a restart")
        #expect(again.identity(of: uid) == revokedIdentity)
        #expect(try again.readmit(uid))
        #expect(!again.isRevoked(uid))
        #expect(again.isRevoked(revokedIdentity), "its revoked certificate stays refused")
        #expect(again.identity(of: uid) == nil, "the binding to the revoked certificate is gone")
        #expect(try !again.readmit(uid), "not revoked any more")
        #expect(again.certificateRequest(uid, csr: try CertificateAuthorityTests.csr(subject: "/CN=\(uid)")) == nil)
        #expect(again.certificate(of: uid).map { $0.identity != revokedIdentity } == true)
        again.stop()
    }

    /// Revocations made on one instance reach another's revocation list and stop its renewals;
    /// a binding made on one instance is revoked, unbound and readmitted correctly from another
    /// whose memory never saw it.
    @Test func anotherInstancesCertificatesAndBindingsAreRevokedFromThisOne() throws {
        let url = try TestDatabases.freshURL("sqlite")
        let uid = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6")!
        var options = FleetOptions(instance: "a")
        options.authority = try CertificateAuthority.create(commonName: "test CA", days: 10, now: 1_800_000_000)
        let first = try FleetService(store: try FleetStores.open(url), options: options)
        options.instance = "b"
        let second = try FleetService(store: try FleetStores.open(url), options: options)
        defer {
            first.close()
            second.close()
        }
        func derLength(_ pem: String) -> Int {
            Data(base64Encoded: pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined())?.count ?? 0
        }
        #expect(first.register(uid))
        #expect(first.certificateRequest(uid, csr: try CertificateAuthorityTests.csr(subject: "/CN=\(uid)")) == nil)
        let issued = try #require(first.certificate(of: uid))
        first.certificates.flush()
        second.perform(
            ClusterActionRow(sender: "a", target: "*", kind: "certificates", uids: [uid.description], body: ""))
        #expect(second.certificate(of: uid)?.serial == issued.serial)
        let empty = derLength(try second.revocationList())
        #expect(try first.revoke(uid))
        second.perform(ClusterActionRow(sender: "a", target: "*", kind: "revoke", uids: [uid.description], body: ""))
        #expect(second.certificate(of: uid) == nil, "the revoked certificate is no longer the agent's")
        #expect(derLength(try second.revocationList()) > empty + 16, "and is in the second's revocation list")
        // A uid bound by an external certificate on the first only: the second revokes that
        // certificate too, and unbinds it.
        let other = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c9")!
        #expect(first.register(other))
        #expect(first.bind(other, identity: "sha256:external"))
        first.identities.flush()
        #expect(second.identity(of: other) == nil)
        #expect(try second.revoke(other))
        #expect(second.isRevoked("sha256:external"))
        #expect(try second.readmit(other))
        #expect(second.identity(of: other) == nil, "the binding to the revoked certificate is gone")
        #expect(try second.store.loadIdentity(uid: other.description) == nil)
        #expect(first.bind(other, identity: "sha256:new") == false, "the first still holds it until told")
        first.perform(
            ClusterActionRow(sender: "b", target: "*", kind: "identities", uids: [other.description], body: ""))
        #expect(first.bind(other, identity: "sha256:new"))
        first.stop()
        second.stop()
    }

    /// Another instance on the same database learns of a revocation and of a readmission from
    /// the action the first one posts (what `forward(.revoke…)` sends), and closes the agent.
    @Test func revocationsAndReadmissionsReachTheOtherInstances() throws {
        let url = try TestDatabases.freshURL("sqlite")
        let uid = InstanceUID(string: "0190f1a2-3b4c-7d5e-8f60-718293a4b5c6")!
        let first = try FleetService(store: try FleetStores.open(url), options: FleetOptions(instance: "a"))
        let second = try FleetService(store: try FleetStores.open(url), options: FleetOptions(instance: "b"))
        defer {
            first.close()
            second.close()
        }
        let closed = Mutex<[InstanceUID]>([])
        second.onDisconnect = { uid in closed.withLock { $0.append(uid) } }
        #expect(first.register(uid))
        #expect(try first.revoke(uid))
        #expect(!second.isRevoked(uid), "not before the action arrives")
        second.perform(ClusterActionRow(sender: "a", target: "*", kind: "revoke", uids: [uid.description], body: ""))
        #expect(second.isRevoked(uid))
        #expect(closed.withLock { $0 } == [uid])
        #expect(try first.readmit(uid))
        second.perform(ClusterActionRow(sender: "a", target: "*", kind: "revoke", uids: [], body: ""))
        #expect(!second.isRevoked(uid))
        first.stop()
        second.stop()
    }
}
