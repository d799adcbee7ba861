import ArgumentParser
import Core
import Foundation

/// `ampora-tool opamp`: convert OpAMP messages between binary protobuf and canonical JSON.
struct OpAMP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "opamp",
        abstract: "Convert OpAMP messages between binary protobuf and protobuf canonical JSON.",
        subcommands: [Decode.self, Encode.self]
    )
}

/// Which OpAMP top-level message a file holds.
enum MessageKind: String, ExpressibleByArgument, CaseIterable {
    case agentToServer = "agent-to-server"
    case serverToAgent = "server-to-agent"
}

/// Options shared by decode and encode.
struct MessageOptions: ParsableArguments {
    @Option(name: .long, help: "The message type: agent-to-server or server-to-agent.")
    var message: MessageKind = .agentToServer

    @Flag(
        name: .long,
        help: "The binary side is a WebSocket OpAMP payload: a varint header (0) before the protobuf bytes.")
    var ws = false

    @Argument(help: "Input file, or - for standard input.")
    var file: String = "-"

    func readInput() throws -> Data {
        if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw InputFailure(message: "cannot read \(file): no such file or not readable")
        }
        return data
    }
}

extension OpAMP {
    /// `ampora-tool opamp decode`: binary → JSON.
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode a binary OpAMP message and print it as protobuf canonical JSON.",
            discussion: "Exit status: 0 decoded, 1 malformed input (one-line error on stderr), 2 usage error."
        )

        @OptionGroup var options: MessageOptions

        @Flag(name: .long, help: "Print the JSON on one line.")
        var compact = false

        func run() throws {
            let data = try options.readInput()
            let text: String
            do {
                let bytes = Array(data)
                let raw = bytes.span.bytes
                let body = options.ws ? try OpAMPWebSocketPayload.body(of: raw, acceptLegacy: false) : raw
                switch options.message {
                case .agentToServer: text = try AgentToServer(validating: body).jsonString(pretty: !compact)
                case .serverToAgent: text = try ServerToAgent(validating: body).jsonString(pretty: !compact)
                }
            } catch {
                throw InputFailure(message: "malformed \(options.message.rawValue) message: \(error)")
            }
            print(text)
        }
    }

    /// `ampora-tool opamp encode`: JSON → binary.
    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode protobuf JSON as a binary OpAMP message on standard output.",
            discussion:
                "Accepts lowerCamelCase or proto field names. Exit status: 0 encoded, 1 invalid JSON, 2 usage error."
        )

        @OptionGroup var options: MessageOptions

        func run() throws {
            let data = try options.readInput()
            var out: [UInt8] = options.ws ? OpAMPWebSocketPayload.header : []
            do {
                let json = try JSONParser.parse(Array(data))
                switch options.message {
                case .agentToServer: out += try AgentToServer(json: json).serializedBytes()
                case .serverToAgent: out += try ServerToAgent(json: json).serializedBytes()
                }
            } catch let error as JSONError {
                throw InputFailure(message: "invalid \(options.message.rawValue) JSON: \(error)")
            }
            FileHandle.standardOutput.write(Data(out))
        }
    }
}
