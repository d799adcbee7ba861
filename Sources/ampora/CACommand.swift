import ArgumentParser
import Fleet
import Foundation

/// `ampora ca`: the certificate authority that signs agents' client certificates.
struct CA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "Manage Ampora's certificate authority for agent certificates.",
        subcommands: [Initialize.self, Show.self])

    /// `ampora ca init`: creates the CA in the server's database and prints its certificate.
    struct Initialize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create the CA (ECDSA P-256) in the database and print its certificate (PEM).",
            discussion: """
                The CA key is kept either in a file of mode 0600 (--ca-key-file) or in the database, \
                encrypted with the passphrase in --ca-key-passphrase-file; `ampora serve` needs the \
                same flag to sign. With a CA, `ampora serve` signs the CSRs agents send \
                (ConnectionSettingsRequest), trusts the certificates it issued on the TLS listener, \
                renews them at two thirds of their lifetime, and publishes a revocation list at \
                /api/v1/ca/crl.pem. A second init refuses unless --force (which invalidates every \
                certificate issued so far).
                """)

        @Option(
            name: .customLong("database"),
            help: "sqlite:PATH or postgres://… (default AMPORA_DATABASE or sqlite:./ampora.db).")
        var database: String?

        @Option(name: .customLong("ca-key-file"), help: "Write the CA key to this new file (mode 0600).")
        var keyFile: String?

        @Option(
            name: .customLong("ca-key-passphrase-file"),
            help: "Keep the CA key in the database, encrypted (AES-256) with the passphrase in this file.")
        var passphraseFile: String?

        @Option(name: .customLong("days"), help: "Validity of the CA certificate in days.")
        var days: Int = 3650

        @Option(name: .customLong("common-name"), help: "The CA certificate's subject common name.")
        var commonName = "Ampora agent CA"

        @Flag(name: .customLong("force"), help: "Replace an existing CA (certificates it issued stop verifying).")
        var force = false

        func validate() throws {
            guard (keyFile == nil) != (passphraseFile == nil) else {
                throw ValidationError(
                    "say where the CA key goes: --ca-key-file FILE (a new file of mode 0600) or --ca-key-passphrase-file FILE (in the database, encrypted)"
                )
            }
            guard days >= 1 && days <= 36_500 else { throw ValidationError("--days must be between 1 and 36500") }
        }

        func run() throws {
            let url = Ampora.databaseURL(database)
            do {
                let store = try FleetStores.open(url)
                defer { store.close() }
                if try store.loadAuthority() != nil && !force {
                    fail("\(url) already has a CA; --force replaces it (certificates it issued stop verifying)")
                }
                let now = Int64(Date().timeIntervalSince1970)
                let authority = try CertificateAuthority.create(commonName: commonName, days: days, now: now)
                var row = AuthorityRow(
                    certificate: authority.certificatePEM, privateKey: nil, keyEncrypted: false, keyFile: nil,
                    createdAt: now * 1000)
                if let passphraseFile {
                    row.privateKey = try authority.keyPEM(passphrase: try CA.passphrase(passphraseFile))
                    row.keyEncrypted = true
                } else if let keyFile {
                    let path = URL(fileURLWithPath: keyFile).standardizedFileURL.path
                    try CA.writeSecret(try authority.keyPEM(passphrase: nil), to: path, replace: force)
                    row.keyFile = path
                }
                try store.saveAuthority(row)
                print(authority.certificatePEM, terminator: "")
            } catch let error as ExitCode {
                throw error
            } catch {
                fail("\(error)")
            }
        }
    }

    /// `ampora ca show`: prints the CA certificate (what agents and proxies trust).
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the CA certificate (PEM).")

        @Option(
            name: .customLong("database"),
            help: "sqlite:PATH or postgres://… (default AMPORA_DATABASE or sqlite:./ampora.db).")
        var database: String?

        func run() throws {
            let url = Ampora.databaseURL(database)
            do {
                let store = try FleetStores.open(url)
                defer { store.close() }
                guard let row = try store.loadAuthority() else { fail("\(url) has no CA: run `ampora ca init`") }
                print(row.certificate, terminator: "")
            } catch {
                fail("\(error)")
            }
        }
    }

    /// The CA from the database, with its key (nil when `ampora ca init` never ran).
    static func load(from store: any FleetStore, passphraseFile: String?, keyFile: String?) throws
        -> CertificateAuthority?
    {
        guard let row = try store.loadAuthority() else { return nil }
        let key: String
        var passphrase: String?
        if let stored = row.privateKey {
            key = stored
            if row.keyEncrypted {
                guard let passphraseFile else {
                    throw ValidationError("the CA key is encrypted in the database: give --ca-key-passphrase-file")
                }
                passphrase = try CA.passphrase(passphraseFile)
            }
        } else {
            guard let path = keyFile ?? row.keyFile else {
                throw ValidationError("the CA key's file is not known: give --ca-key-file")
            }
            do {
                key = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read the CA key \(path): \(error.localizedDescription)")
            }
        }
        do {
            return try CertificateAuthority.load(certificatePEM: row.certificate, keyPEM: key, passphrase: passphrase)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The passphrase in `file`, without its trailing newline.
    static func passphrase(_ file: String) throws -> String {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the passphrase file \(file): \(error.localizedDescription)")
        }
        let passphrase = text.trimmingCharacters(in: .newlines)
        guard passphrase.utf8.count >= 8 else {
            throw ValidationError("the passphrase in \(file) is shorter than 8 bytes")
        }
        return passphrase
    }

    /// Writes `text` to a new file readable by its owner only.
    static func writeSecret(_ text: String, to path: String, replace: Bool) throws {
        if replace { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let code = errno
            let hint = code == EEXIST ? " (--force replaces it)" : ""
            throw ValidationError("cannot create the CA key file \(path): \(String(cString: strerror(code)))\(hint)")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw ValidationError("cannot write \(path)") }
    }
}

/// Prints `message` as ampora's error and exits with status 1.
private func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ampora: ca: \(message)\n".utf8))
    Foundation.exit(1)
}
