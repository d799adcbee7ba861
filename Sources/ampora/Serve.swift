import ArgumentParser
import Core
import Fleet
import Foundation
import Gateway
import GatewayCore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import Web

/// A `HOST:PORT` listen address.
struct ListenAddress: ExpressibleByArgument, CustomStringConvertible {
    var host: String
    var port: UInt16

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = UInt16(argument[argument.index(after: colon)...])
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Which I/O engine the gateway runs.
enum IOMode: String, ExpressibleByArgument, CaseIterable {
    case auto, uring, epoll
}

/// `ampora serve`: the README's flag table is the contract for these flags and their environment
/// variables (tests, benchmarks and users script against them).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve OpAMP agents and the operator API.",
        discussion: """
            Every option can also be set with an environment variable (AMPORA_OPAMP_LISTEN, \
            AMPORA_HTTP_LISTEN, AMPORA_DATABASE, AMPORA_IO, AMPORA_LOOPS, AMPORA_LOG_FORMAT, \
            AMPORA_LOG_LEVEL); a flag wins over the environment.
            """
    )

    @Option(name: .customLong("opamp-listen"), help: "Where agents connect (WebSocket and HTTP), HOST:PORT.")
    var opampListen: ListenAddress?

    @Option(name: .customLong("http-listen"), help: "Operator REST API and UI, HOST:PORT.")
    var httpListen: ListenAddress?

    @Option(name: .customLong("database"), help: "sqlite:PATH or postgres://… (default sqlite:./ampora.db).")
    var database: String?

    @Option(name: .customLong("io"), help: "I/O engine: auto (io_uring unless unavailable), uring or epoll.")
    var io: IOMode?

    @Option(name: .customLong("loops"), help: "Event loops (default: one per core).")
    var loops: Int?

    @Option(
        name: .customLong("log-format"),
        help: "Log lines on standard error: text, or json (one JSON object per line; default text).")
    var logFormat: LogFormat?

    @Option(name: .customLong("log-level"), help: "The least severe level logged (default info).")
    var logLevel: LogLevel?

    @Option(name: .customLong("idle-timeout"), help: "Seconds without traffic before an agent connection is closed.")
    var idleTimeout: UInt64 = 120

    @Option(name: .customLong("header-timeout"), help: "Seconds an agent may take to send an HTTP request head.")
    var headerTimeout: UInt64 = 10

    @Option(
        name: .customLong("max-message-bytes"),
        help: "Largest OpAMP message accepted (WebSocket 1009, HTTP 413 beyond).")
    var maxMessageBytes: Int = 64 << 20

    @Option(
        name: .customLong("max-rings"),
        help: "io_uring rings the server may grow to as rings fill (each holds up to the open-file limit of agents).")
    var maxRings: Int = 64

    @Option(
        name: .customLong("last-seen-write-interval"),
        help:
            "Seconds between database writes of a heartbeating agent's last-seen time (the API is always exact; changes, disconnects and shutdown write at once)."
    )
    var lastSeenWriteInterval: UInt64 = 300

    @Option(
        name: .customLong("max-attributes"),
        help: "Attributes one agent description may carry; a message with more is refused (BAD_REQUEST).")
    var maxAttributes: Int = 1000

    @Option(
        name: .customLong("max-agents"),
        help: "Agents the inventory may hold; new agents beyond it get UNAVAILABLE with a retry hint.")
    var maxAgents: Int = 2_000_000

    @Option(
        name: .customLong("registration-rate"),
        help:
            "New agents per second one source address, and one connection, may register (bursts of 20× pass; 0: no limit). Beyond it: UNAVAILABLE with a retry hint."
    )
    var registrationRate: Int = 1000

    @Option(
        name: .customLong("forget-after"),
        help: "Days after which a disconnected agent not seen is removed with its history (0: never).")
    var forgetAfter: Double = 30

    @Option(
        name: .customLong("http-agent-timeout"),
        help: "Seconds without a poll after which a plain-HTTP agent is marked disconnected.")
    var httpAgentTimeout: UInt64 = 90

    @Option(
        name: .customLong("http-max-connections"),
        help: "Connections the operator listener holds at most (more wait in its backlog).")
    var httpMaxConnections: Int = 512

    @Option(
        name: .customLong("http-idle-timeout"),
        help: "Seconds an operator connection may stay silent (or half-sent) before it is closed.")
    var httpIdleTimeout: Int64 = 30

    @Flag(name: .customLong("websocket-deflate"), help: "Accept permessage-deflate when agents offer it.")
    var websocketDeflate = false

    @Option(
        name: .customLong("tls-cert"),
        help: "Serve agents over TLS (wss://, https://) with this certificate chain (PEM); needs --tls-key.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The private key (PEM, ECDSA or RSA) of --tls-cert.")
    var tlsKey: String?

    @Option(
        name: .customLong("tls-client-ca"),
        help: "CA certificates (PEM) that sign agents' client certificates; turns on client authentication.")
    var tlsClientCA: String?

    @Option(
        name: .customLong("tls-client-auth"),
        help:
            "none, optional (verify a client certificate when one is sent) or require (default optional with --tls-client-ca, else none)."
    )
    var tlsClientAuth: TLSClientAuth?

    @Option(
        name: .customLong("http-tls-cert"), help: "Serve the operator API over TLS with this PEM certificate chain.")
    var httpTLSCert: String?

    @Option(name: .customLong("http-tls-key"), help: "The PEM private key of --http-tls-cert.")
    var httpTLSKey: String?

    @Option(
        name: .customLong("opamp-tls-listen"),
        help: "With --tls-cert: serve TLS here and plain text on --opamp-listen (HOST:PORT).")
    var opampTLSListen: ListenAddress?

    @Option(name: .customLong("tls-min-version"), help: "Oldest TLS version accepted: 1.2 or 1.3.")
    var tlsMinVersion: TLSMinimumVersion = .tls12

    @Option(
        name: .customLong("advertised-url"),
        help:
            "The URL agents use to reach this server (wss://… or https://…/v1/opamp); with it agents that accept OpAMP connection settings are offered --heartbeat-interval."
    )
    var advertisedURL: String?

    @Option(
        name: .customLong("heartbeat-interval"),
        help: "Seconds between heartbeats offered to agents that report heartbeats (needs --advertised-url).")
    var heartbeatInterval: UInt64 = 30

    @Option(
        name: .customLong("own-metrics-endpoint"),
        help: "Where agents that report their own metrics send them (OTLP URL).")
    var ownMetricsEndpoint: String?

    @Option(
        name: .customLong("own-traces-endpoint"),
        help: "Where agents that report their own traces send them (OTLP URL).")
    var ownTracesEndpoint: String?

    @Option(
        name: .customLong("own-logs-endpoint"), help: "Where agents that report their own logs send them (OTLP URL).")
    var ownLogsEndpoint: String?

    @Flag(
        name: .customLong("require-enrollment"),
        help:
            "Agents must show an enrollment token (Authorization: Bearer, from `ampora token create`); without a valid one they get 401."
    )
    var requireEnrollment = false

    @Option(
        name: .customLong("ca-key-passphrase-file"),
        help: "The passphrase of the CA key kept encrypted in the database (see `ampora ca init`).")
    var caKeyPassphraseFile: String?

    @Option(
        name: .customLong("ca-key-file"),
        help: "Where the CA key is, when `ampora ca init --ca-key-file` put it somewhere else since.")
    var caKeyFile: String?

    @Option(
        name: .customLong("agent-cert-lifetime"),
        help: "Lifetime of the client certificates the CA signs for agents (30d, 12h, …); renewed at two thirds.")
    var agentCertLifetime: String = "30d"

    @Option(
        name: .customLong("config-apply-timeout"),
        help: "Seconds an agent may take to report a new config applied or failed before it is STALLED.")
    var configApplyTimeout: UInt64 = 300

    @Option(
        name: .customLong("admin-token-file"),
        help: ArgumentHelp(
            "A file holding an admin token for the operator API (created with a new token if absent).",
            discussion:
                "Without it, a first start on a database with no operator token prints a one-time admin token on standard error."
        ))
    var adminTokenFile: String?

    @Flag(
        name: .customLong("metrics-require-token"),
        help: "Ask for a token (any role) on /metrics too; by default it is open like /healthz.")
    var metricsRequireToken = false

    @Option(
        name: .customLong("oidc-issuer"),
        help: "An OpenID Connect issuer URL: its bearer JWTs are accepted and browsers sign in at /auth/login.")
    var oidcIssuer: String?

    @Option(name: .customLong("oidc-client-id"), help: "The client id registered with the issuer (required with it).")
    var oidcClientID: String?

    @Option(name: .customLong("oidc-client-secret-file"), help: "A file holding the client secret, if it has one.")
    var oidcClientSecretFile: String?

    @Option(name: .customLong("oidc-audience"), help: "The audience bearer JWTs must name (default: the client id).")
    var oidcAudience: String?

    @Option(
        name: .customLong("oidc-role-claim"),
        help: "The claim with the caller's groups or roles (default groups; a.b reaches into objects).")
    var oidcRoleClaim: String = "groups"

    @Option(
        name: .customLong("oidc-role"),
        help: "VALUE=ROLE: a value of the role claim and the role it grants (repeatable; the strongest wins).")
    var oidcRoles: [String] = []

    @Option(
        name: .customLong("oidc-redirect-url"),
        help: "Where the issuer sends browsers back (default: http[s]://HOST/auth/callback as the browser asked).")
    var oidcRedirectURL: String?

    @Option(
        name: .customLong("event-buffer"),
        help:
            "Events /api/v1/events keeps for subscribers that fall behind or resume with Last-Event-ID (memory grows with the events seen, up to about 300 bytes each)."
    )
    var eventBuffer: Int = 524_288

    @Option(
        name: .customLong("custom-capability"),
        help: ArgumentHelp(
            "A custom capability this server announces to agents (reverse-FQDN name, repeatable): the custom "
                + "messages agents send for it are kept for GET /api/v1/agents/{uid}/custom-messages.",
            valueName: "NAME"))
    var customCapabilities: [String] = []

    @Option(
        name: .customLong("audit-retention"),
        help: "How long audit entries are kept (400d, 12h, …; 0: for ever).")
    var auditRetention: String = "400d"

    @Option(
        name: .customLong("instance-id"),
        help: ArgumentHelp(
            "This server's name among the instances sharing one PostgreSQL (default: the host name); "
                + "each instance needs its own.",
            valueName: "NAME"))
    var instanceID: String?

    @Option(
        name: .customLong("leader-lease"),
        help: ArgumentHelp(
            "With PostgreSQL: how long a silent leader keeps the periodic work (retention, audit pruning) before "
                + "another instance takes it (2s or more).",
            valueName: "DURATION"))
    var leaderLease: String = "10s"

    @Option(
        name: .customLong("ownership-grace"),
        help: ArgumentHelp(
            "With PostgreSQL: how long this instance keeps its agents while the database is out of reach before "
                + "it lets them go to instances that can record them.",
            valueName: "DURATION"))
    var ownershipGrace: String = "30s"

    /// The OpenID Connect provider, when `--oidc-issuer` names one.
    func oidcSettings() throws -> OIDCSettings? {
        guard let issuer = oidcIssuer else {
            guard oidcClientID == nil, oidcRoles.isEmpty else {
                throw ValidationError("--oidc-client-id and --oidc-role need --oidc-issuer")
            }
            return nil
        }
        guard let url = URL(string: issuer), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw ValidationError("--oidc-issuer \(issuer): use https://HOST[/PATH]")
        }
        guard let clientID = oidcClientID, !clientID.isEmpty else {
            throw ValidationError("--oidc-issuer needs --oidc-client-id")
        }
        guard !oidcRoles.isEmpty else {
            throw ValidationError("--oidc-issuer needs at least one --oidc-role VALUE=ROLE, or nobody gets a role")
        }
        var settings = OIDCSettings(issuer: issuer, clientID: clientID)
        settings.audience = oidcAudience ?? clientID
        settings.roleClaim = oidcRoleClaim
        settings.redirectURL = oidcRedirectURL
        for pair in oidcRoles {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let role = OperatorRole(rawValue: String(parts[1])) else {
                throw ValidationError("--oidc-role \(pair): use VALUE=admin, VALUE=operator or VALUE=viewer")
            }
            settings.roles[String(parts[0])] = role
        }
        if let file = oidcClientSecretFile {
            guard let data = FileManager.default.contents(atPath: file),
                let secret = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
                !secret.isEmpty
            else { throw ValidationError("--oidc-client-secret-file \(file): cannot be read, or is empty") }
            settings.clientSecret = secret
        }
        return settings
    }

    /// The effective configuration after flags, environment and defaults.
    struct Settings {
        var opamp: ListenAddress
        var http: ListenAddress
        var database: String
        var io: IOMode
        var loops: Int
        var logFormat: LogFormat
        var logLevel: LogLevel
    }

    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        func env<T: ExpressibleByArgument>(_ name: String, _ type: T.Type) throws -> T? {
            guard let raw = environment[name], !raw.isEmpty else { return nil }
            guard let value = T(argument: raw) else { throw ValidationError("\(name)=\(raw) is not valid") }
            return value
        }
        let loops = try loops ?? env("AMPORA_LOOPS", Int.self) ?? ProcessInfo.processInfo.activeProcessorCount
        guard loops >= 1 && loops <= 1024 else { throw ValidationError("--loops must be between 1 and 1024") }
        let database = try database ?? env("AMPORA_DATABASE", String.self) ?? Ampora.defaultDatabase
        guard database.hasPrefix("sqlite:") || database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")
        else { throw ValidationError("--database must be sqlite:PATH or postgres://…, got \(database)") }
        return Settings(
            opamp: try opampListen ?? env("AMPORA_OPAMP_LISTEN", ListenAddress.self) ?? ListenAddress(
                argument: "0.0.0.0:4320")!,
            http: try httpListen ?? env("AMPORA_HTTP_LISTEN", ListenAddress.self) ?? ListenAddress(
                argument: "127.0.0.1:8080")!,
            database: database,
            io: try io ?? env("AMPORA_IO", IOMode.self) ?? .auto,
            loops: loops,
            logFormat: try logFormat ?? env("AMPORA_LOG_FORMAT", LogFormat.self) ?? .text,
            logLevel: try logLevel ?? env("AMPORA_LOG_LEVEL", LogLevel.self) ?? .info
        )
    }

    func run() async throws {
        // First, before anything (libpq included) makes OpenSSL allocate.
        let pooledRecordBuffers = TLSRecordBuffers.install()
        let s = try settings()
        let opampAddress: SocketAddress
        let httpAddress: SocketAddress
        do {
            opampAddress = try SocketAddress(host: s.opamp.host, port: s.opamp.port)
            httpAddress = try SocketAddress(host: s.http.host, port: s.http.port)
        } catch {
            throw ValidationError("listen addresses must be IP literals or localhost: \(error)")
        }
        let engine = IOEngine(rawValue: s.io.rawValue) ?? .auto
        guard idleTimeout >= 1, headerTimeout >= 1, maxMessageBytes >= 1024 else {
            throw ValidationError("timeouts must be at least 1 s and --max-message-bytes at least 1024")
        }
        var configuration = GatewayConfiguration()
        configuration.idleTimeoutMilliseconds = idleTimeout * 1000
        configuration.headerTimeoutMilliseconds = headerTimeout * 1000
        configuration.bodyTimeoutMilliseconds = max(headerTimeout, 30) * 1000
        configuration.maxMessageSize = maxMessageBytes
        configuration.httpLimits.maxBodyBytes = maxMessageBytes
        configuration.allowWebSocketDeflate = websocketDeflate
        guard maxRings >= 1 && maxRings <= 1024 else { throw ValidationError("--max-rings must be between 1 and 1024") }
        configuration.maxRings = maxRings
        guard maxAttributes >= 1, maxAgents >= 1, registrationRate >= 0, forgetAfter >= 0, httpAgentTimeout >= 1,
            httpMaxConnections >= 1, httpIdleTimeout >= 1
        else {
            throw ValidationError(
                "--max-attributes, --max-agents, --http-agent-timeout, --http-max-connections and --http-idle-timeout must be at least 1; --registration-rate and --forget-after at least 0"
            )
        }
        configuration.maxAttributesPerDescription = maxAttributes
        configuration.registrationsPerSecond = registrationRate
        configuration.registrationBurst = max(1, registrationRate * 20)
        configuration.httpAgentTimeoutMilliseconds = httpAgentTimeout * 1000
        configuration.reservedDescriptors = httpMaxConnections + 512
        let oidc = try oidcSettings()
        guard (1...10_000_000).contains(eventBuffer) else {
            throw ValidationError("--event-buffer must be between 1 and 10000000")
        }
        for name in customCapabilities
        where name.isEmpty || name.utf8.count > 256 || name.contains(where: \.isWhitespace) {
            throw ValidationError("--custom-capability \"\(name)\": use a reverse-FQDN name such as io.example.debug")
        }
        let auditRetentionMilliseconds: Int64
        if auditRetention == "0" {
            auditRetentionMilliseconds = 0
        } else {
            guard let kept = Token.Create.milliseconds(auditRetention) else {
                throw ValidationError("--audit-retention \(auditRetention): use a number with s, m, h or d, or 0")
            }
            auditRetentionMilliseconds = kept
        }
        guard let lifetime = Token.Create.milliseconds(agentCertLifetime), lifetime >= 10_000 else {
            throw ValidationError(
                "--agent-cert-lifetime \(agentCertLifetime): use a number with s, m, h or d of at least 10s")
        }
        guard let lease = Token.Create.milliseconds(leaderLease), lease >= 2000 else {
            throw ValidationError("--leader-lease \(leaderLease): use a number with s, m or h of at least 2s")
        }
        guard let grace = Token.Create.milliseconds(ownershipGrace) else {
            throw ValidationError("--ownership-grace \(ownershipGrace): use a number with s, m or h")
        }
        Logs.bootstrap(format: s.logFormat, level: s.logLevel)
        let logger = Logger(label: "ampora")
        if !pooledRecordBuffers {
            logger.warning("OpenSSL allocated before start: TLS record buffers come from malloc")
        }
        let store: any FleetStore
        var clusterSession: PostgresStore?
        do {
            store = try FleetStores.open(s.database)
            // One server per SQLite file; several share a PostgreSQL, each with a session of its
            // own for heartbeats and the leadership lock.
            if let sqlite = store as? SQLiteStore { try sqlite.lockForServing() }
            if store is PostgresStore {
                clusterSession = try PostgresStore.clusterSession(url: s.database, leaseMilliseconds: lease)
            }
        } catch {
            logger.error("database \(s.database): \(error)")
            throw ExitCode(1)
        }
        let authority = try CA.load(from: store, passphraseFile: caKeyPassphraseFile, keyFile: caKeyFile)
        // S17: only a server that can sign says it accepts connection settings requests.
        if authority != nil { configuration.serverCapabilities.insert(.acceptsConnectionSettingsRequest) }
        configuration.tls = try tlsContext(authority: authority)
        var tlsAddress: SocketAddress?
        if let opampTLSListen {
            guard configuration.tls != nil else { throw ValidationError("--opamp-tls-listen needs --tls-cert") }
            do {
                tlsAddress = try SocketAddress(host: opampTLSListen.host, port: opampTLSListen.port)
            } catch {
                throw ValidationError("listen addresses must be IP literals or localhost: \(error)")
            }
        }
        configuration.requireEnrollment = requireEnrollment
        if let advertisedURL {
            let schemes = ["ws://", "wss://", "http://", "https://"]
            guard schemes.contains(where: { advertisedURL.hasPrefix($0) }) else {
                throw ValidationError("--advertised-url must be a ws://, wss://, http:// or https:// URL")
            }
        }
        guard heartbeatInterval >= 1 else { throw ValidationError("--heartbeat-interval must be at least 1") }
        let settings = AgentConnectionSettings.offers(
            advertisedURL: advertisedURL, heartbeatSeconds: heartbeatInterval, ownMetrics: ownMetricsEndpoint,
            ownTraces: ownTracesEndpoint, ownLogs: ownLogsEndpoint)
        var operatorTLS: OperatorTLS?
        switch (httpTLSCert, httpTLSKey) {
        case (nil, nil): break
        case (let cert?, let key?):
            do {
                operatorTLS = try OperatorTLS(certificateFile: cert, keyFile: key)
            } catch {
                throw ValidationError("\(error)")
            }
        default: throw ValidationError("--http-tls-cert and --http-tls-key go together")
        }
        var operatorLimits = OperatorAPI.Limits()
        operatorLimits.maxConnections = httpMaxConnections
        operatorLimits.idleTimeoutSeconds = httpIdleTimeout

        // One registry behind /metrics, and behind swift-metrics for any library that reports there.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let early = await Signals.watchEarly()

        let fleet: FleetService
        let bootstrap: String?
        do {
            var options = FleetOptions(instance: instanceID ?? ProcessInfo.processInfo.hostName)
            options.log = { logger.notice("\($0)") }
            options.lastSeenWriteIntervalMilliseconds = Int64(min(lastSeenWriteInterval, 86_400 * 365) * 1000)
            options.maxAgents = maxAgents
            options.forgetAfterMilliseconds = Int64(min(forgetAfter, 36_500) * 86_400_000)
            // A retention shorter than a minute (tests) is swept as often as it expires.
            options.retentionSweepMilliseconds = max(1000, min(60_000, options.forgetAfterMilliseconds / 4))
            options.connectionSettings = settings
            options.authority = authority
            options.agentCertificateLifetimeSeconds = lifetime / 1000
            options.configApplyTimeoutMilliseconds = Int64(max(1, min(configApplyTimeout, 86_400))) * 1000
            options.auditRetentionMilliseconds = auditRetentionMilliseconds
            options.eventBuffer = eventBuffer
            options.customCapabilities = customCapabilities
            options.leaderLeaseMilliseconds = lease
            options.ownershipGraceMilliseconds = grace
            options.address = "\(s.opamp.host):\(s.opamp.port)"
            fleet = try FleetService(store: store, options: options, clusterSession: clusterSession)
            logger.info("database \(fleet.backend) ready (\(fleet.metrics.agentsKnown) agents known)")
            bootstrap = try OperatorBootstrap.run(fleet: fleet, adminTokenFile: adminTokenFile)
        } catch let error as OperatorBootstrap.Failure {
            logger.error("\(error.message)")
            throw ExitCode(1)
        } catch {
            logger.error("database \(s.database): \(error)")
            throw ExitCode(1)
        }
        // With --opamp-tls-listen, plain text on --opamp-listen and TLS there: two servers in one
        // process that share the uid table, the HTTP sessions and the registration buckets.
        var plain = configuration
        if tlsAddress != nil { plain.tls = nil }
        let gateway = GatewayServer(
            configuration: plain, address: opampAddress, loops: s.loops, engine: engine,
            directory: FleetDirectory(fleet: fleet))
        let tlsGateway = tlsAddress.map {
            GatewayServer(
                configuration: configuration, address: $0, loops: s.loops, engine: engine,
                directory: FleetDirectory(fleet: fleet), companion: gateway)
        }
        let gateways = [gateway] + (tlsGateway.map { [$0] } ?? [])
        fleet.onPush = { uids in
            for server in gateways {
                if let uids { server.push(uids) } else { server.pushAll() }
            }
        }
        fleet.onDisconnect = { uid in for server in gateways { server.disconnect(uid) } }
        fleet.onMovedAway = { uids in for server in gateways { server.forgetHTTPSessions(uids) } }
        fleet.onOwnership = { admit in
            guard !admit else { return }
            let released = gateways.reduce(0) { $0 + $1.releaseAll() }
            logger.warning("released \(released) agents to other instances")
        }
        fleet.onCommand = { uid, kind in
            let command: AgentCommand =
                switch kind {
                case .restart: .restart
                case .reportFullState: .reportFullState
                case .reconcile: .reconcile
                case .disconnect: .disconnect
                }
            return gateways.contains { $0.command(command, to: uid) }
        }
        fleet.onCustomMessage = { uid, message in gateways.contains { $0.command(.custom(message), to: uid) } }

        let readiness = Readiness()
        if let bootstrap { readiness.announce(bootstrap) }
        let gatewayMetrics = SnapshotMetrics(registry: registry, rows: GatewayMetrics.rows) {
            gateways.reduce(into: GatewayCounters()) { $0.add($1.counters) }
        }
        var identity = ServerIdentity()
        identity.version = Ampora.version
        identity.instance = fleet.options.instance
        identity.engine = { readiness.engine }
        let api = OperatorAPI(
            fleet: fleet, metrics: registry,
            refreshMetrics: { gatewayMetrics.refresh() },
            isReady: { readiness.isAccepting }, protectMetrics: metricsRequireToken, oidc: oidc,
            secureCookies: operatorTLS != nil, identity: identity)
        // The group starts the three together and stops them in reverse order: the gateway
        // (agents get 1001), then the operator API, then the fleet, which writes what is pending.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: FleetLifecycle(fleet: fleet, logger: logger), serviceName: "fleet"),
                    .init(
                        service: OperatorAPIService(
                            api: api, host: httpAddress.host, port: Int(httpAddress.port), limits: operatorLimits,
                            tls: operatorTLS,
                            readiness: readiness, logger: Logger(label: "ampora.http")),
                        serviceName: "operator-api"),
                    .init(
                        service: GatewayLifecycle(
                            gateway: gateway, host: opampAddress.host,
                            tls: tlsGateway.map { ($0, tlsAddress?.host ?? "") }
                                ?? (configuration.tls != nil ? (gateway, opampAddress.host) : nil),
                            readiness: readiness, logger: logger),
                        serviceName: "gateway"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        let relay = Signals.relay(early, to: group, logger: logger) { readiness.stopAccepting() }
        defer { relay.cancel() }
        let reloads = configuration.tls.map { Signals.reloadOnHangUp($0, logger: logger) }
        defer { reloads?.cancel() }
        do {
            try await group.run()
        } catch {
            logger.error("\(readiness.wasReady ? "stopped" : "cannot start"): \(error)")
            throw ExitCode(1)
        }
    }
}

extension Serve {
    /// The agent listener's TLS setup from the flags, checked now: an unreadable certificate or
    /// key is a usage error at start, not a failure at the first agent.
    func tlsContext(authority: CertificateAuthority? = nil) throws -> TLSContext? {
        guard let tlsCert else {
            guard tlsKey == nil, tlsClientCA == nil, tlsClientAuth == nil else {
                throw ValidationError("--tls-key, --tls-client-ca and --tls-client-auth need --tls-cert")
            }
            return nil
        }
        guard let tlsKey else { throw ValidationError("--tls-cert needs --tls-key") }
        if tlsClientAuth != nil && tlsClientAuth != TLSClientAuth.none && tlsClientCA == nil && authority == nil {
            throw ValidationError(
                "--tls-client-auth \(tlsClientAuth!.rawValue) needs --tls-client-ca (or `ampora ca init`)")
        }
        // The Ampora CA, once created, signs client certificates like any --tls-client-ca.
        let settings = TLSSettings(
            certificateFile: tlsCert, keyFile: tlsKey, clientCAFile: tlsClientCA,
            clientCAs: authority.map { [$0.certificatePEM] } ?? [], clientAuth: tlsClientAuth,
            minimumVersion: tlsMinVersion)
        do {
            return try TLSContext(settings)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

extension TLSClientAuth: ExpressibleByArgument {}
extension TLSMinimumVersion: ExpressibleByArgument {}

/// The gateway's view of the fleet (wiring only: the gateway never learns about Fleet).
struct FleetDirectory: AgentDirectory {
    let fleet: FleetService

    func desiredState(for uid: InstanceUID) -> DesiredState { fleet.desiredState(for: uid) }
    func desiredState(for uid: InstanceUID, firstMessage: AgentToServerView) -> DesiredState {
        fleet.desiredState(for: uid, firstMessage: firstMessage)
    }
    func knownState(for uid: InstanceUID) -> SessionSeed? {
        fleet.knownState(for: uid)
    }
    func record(_ changes: StatusChanges) { fleet.record(changes) }
    func record(_ changes: StatusChanges, loop: Int) { fleet.record(changes, loop: loop) }
    func heartbeat(_ uid: InstanceUID, loop: Int) { fleet.heartbeat(uid, loop: loop) }
    func isKnown(_ uid: InstanceUID) -> Bool { fleet.isKnown(uid) }
    func register(_ uid: InstanceUID) -> Bool { fleet.register(uid) }
    func isAdmitting() -> Bool { fleet.isAdmitting }
    func bind(_ uid: InstanceUID, identity: String) -> Bool { fleet.bind(uid, identity: identity) }
    func enrollmentIsValid(tokenHash: String) -> Bool { fleet.enrollmentIsValid(tokenHash: tokenHash) }
    func enroll(_ uid: InstanceUID, tokenHash: String) -> Bool { fleet.enroll(uid, tokenHash: tokenHash) }
    func certificateRequest(_ uid: InstanceUID, csr: [UInt8]) -> String? { fleet.certificateRequest(uid, csr: csr) }
    func isRevoked(identity: String) -> Bool { fleet.isRevoked(identity) }
    func isRevoked(uid: InstanceUID) -> Bool { fleet.isRevoked(uid) }
}
