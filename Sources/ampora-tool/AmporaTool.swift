import ArgumentParser
import Core
import Foundation

/// `ampora-tool`: offline tools for OpAMP messages and OpenTelemetry Collector configs.
@main
struct AmporaTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ampora-tool",
        abstract: "Offline tools for OpAMP messages and OpenTelemetry Collector configs.",
        subcommands: [
            Validate.self, Lint.self, Normalize.self, Fix.self, Graph.self, Components.self, Diff.self, Rules.self,
            OpAMP.self,
        ]
    )

    /// Exit codes are a contract: 0 success, 1 bad input, 2 usage error (ArgumentParser's 64
    /// is mapped to 2 so scripts can tell a typo from a malformed file).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as InputFailure {
            FileHandle.standardError.write(Data("ampora-tool: \(failure.message)\n".utf8))
            Foundation.exit(1)
        } catch let failure as UsageFailure {
            FileHandle.standardError.write(Data("ampora-tool: \(failure.message)\n".utf8))
            Foundation.exit(2)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

/// A file that cannot be read or a bad option value for the config commands: one line, exit status 2.
struct UsageFailure: Error {
    var message: String
}

/// Malformed input: reported in one line with exit status 1.
struct InputFailure: Error {
    var message: String
}
