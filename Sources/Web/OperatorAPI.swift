import Core
import Dispatch
import Fleet
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Prometheus

/// The operator plane: health, metrics and the first REST endpoints, on Fleet's services.
/// The JSON shapes are a contract (the README's operator API table); scripts depend on them.
public struct OperatorAPI: Sendable {
    let fleet: FleetService
    let metrics: PrometheusCollectorRegistry
    let fleetMetrics: SnapshotMetrics<FleetMetrics>
    let refreshMetrics: @Sendable () -> Void
    let isReady: @Sendable () -> Bool
    let protectMetrics: Bool
    let identity: ServerIdentity
    let throttle = FailureThrottle()
    let oidc: OIDCVerifier?
    let sessions = BrowserSessions()
    let secureCookies: Bool

    /// An API over `fleet`. `/metrics` renders `metrics`, after `refreshMetrics` brought the
    /// caller's metrics in it up to date; the fleet's are registered in it here. With
    /// `protectMetrics`, `/metrics` wants a token like the `/api/` routes. With `oidc`, bearer
    /// JWTs of that provider are accepted and browsers sign in at `/auth/login`; session cookies
    /// are `Secure` when `secureCookies` (the operator port has TLS).
    public init(
        fleet: FleetService, metrics: PrometheusCollectorRegistry,
        refreshMetrics: @escaping @Sendable () -> Void, isReady: @escaping @Sendable () -> Bool,
        protectMetrics: Bool = false, oidc: OIDCSettings? = nil, secureCookies: Bool = false,
        identity: ServerIdentity = ServerIdentity()
    ) {
        self.protectMetrics = protectMetrics
        self.identity = identity
        self.oidc = oidc.map(OIDCVerifier.init)
        self.secureCookies = secureCookies
        self.fleet = fleet
        self.metrics = metrics
        self.fleetMetrics = SnapshotMetrics(registry: metrics, rows: Self.fleetRows) { fleet.metrics }
        self.refreshMetrics = refreshMetrics
        self.isReady = isReady
    }

    /// Bounds on the operator listener: its connections cannot grow without limit nor live for
    /// ever, so a client that opens many and says nothing cannot starve the process of descriptors.
    public struct Limits: Sendable {
        /// Open connections at most; beyond it new ones wait in the listen backlog.
        public var maxConnections = 512
        /// A connection with no complete request part (head or body) for this long is closed.
        public var idleTimeoutSeconds: Int64 = 30

        /// The defaults.
        public init() {}
    }

    /// Serves on `host:port` until the task is cancelled or, inside a `ServiceGroup`, until the
    /// group shuts down gracefully; `onRunning` gets the bound port.
    public func run(
        host: String, port: Int, limits: Limits = Limits(), tls: OperatorTLS? = nil, logger: Logger,
        onRunning: @escaping @Sendable (Int) -> Void
    ) async throws {
        var http1 = HTTP1Channel.Configuration()
        http1.idleTimeout = .seconds(limits.idleTimeoutSeconds)
        let server: HTTPServerBuilder =
            if let tls { try .tls(.http1(configuration: http1), tlsConfiguration: tls.configuration) } else {
                .http1(configuration: http1)
            }
        let app = Application(
            router: router(),
            server: server,
            // A burst of clients beyond `maxConnections` waits in the kernel's accept queue
            // (capped by net.core.somaxconn): with the default of 256 a burst of thousands
            // overflowed it and some clients were reset instead of answered.
            configuration: .init(
                address: .hostname(host, port: port), serverName: "ampora", backlog: 4096,
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
        // Signals belong to `ampora serve`, whose service group shuts the gateway down first and
        // then this server (its graceful shutdown reaches the application's own group).
        try await app.run()
    }

    /// The routes (exposed for in-process tests).
    public func router() -> Router<OperatorContext> {
        let router = Router(context: OperatorContext.self, options: .autoGenerateHeadEndpoints)
        router.add(
            middleware: Access(
                fleet: fleet, protectMetrics: protectMetrics, throttle: throttle, oidc: oidc, sessions: sessions))
        router.add(middleware: JSONErrors())
        router.get("/healthz") { _, _ in Self.text("ok\n") }
        router.get("/readyz") { _, _ in
            guard isReady() else { return Self.text("not ready\n", status: .serviceUnavailable) }
            let store = fleet.metrics.storeHealthy ? "ok" : "degraded (writes are retried)"
            return Self.text("ready\ndatabase: \(store)\n")
        }
        router.get("/metrics") { _, _ in
            refreshMetrics()
            fleetMetrics.refresh()
            return Self.text(metrics.emitToString(), contentType: "text/plain; version=0.0.4")
        }
        router.get("/api/v1/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        router.get("/api/v1/agents") { request, _ in try listAgents(request) }
        router.get("/api/v1/agents/facets") { _, _ in
            let facets = fleet.agentFacets()
            return Self.json([
                "total": facets.total, "connected": facets.connected, "disconnected": facets.total - facets.connected,
                "healthy": facets.healthy, "unhealthy": facets.unhealthy,
                "configStates": Self.stateCounts(facets.configStates, zeros: true),
            ])
        }
        router.get("/api/v1/server") { _, _ in serverInfo() }
        router.get("/api/v1/instances") { _, _ in try await instances() }
        router.get("/api/v1/events") { request, _ in try events(request) }
        router.get("/api/v1/agents/:uid") { _, context in try await agent(context.parameters.get("uid") ?? "") }
        addAgentPartRoutes(to: router)
        router.get("/api/v1/tokens") { _, _ in listEnrollmentTokens() }
        router.delete("/api/v1/tokens/:id") { _, context in
            try await revokeEnrollmentToken(context.parameters.get("id") ?? "")
        }
        router.get("/api/v1/configs") { _, _ in
            Self.list(fleet.listConfigs().map(Self.configJSON))
        }
        router.get("/api/v1/configs/:name") { _, context in
            let name = context.parameters.get("name") ?? ""
            guard let config = fleet.listConfigs().first(where: { $0.name == name }) else {
                throw APIError(.notFound, "config_not_found", "no config named \(name)")
            }
            // One read of the versions gives both the counts and the entity tag.
            let (counts, etag) = try await Self.fleetCall { () throws(FleetError) in
                try fleet.configStateCounts(name: name)
            }
            var body = Self.configJSON(config)
            body["configStates"] = Self.stateCounts(counts, zeros: true)
            var response = Self.json(body)
            response.headers[.eTag] = etag
            return response
        }
        router.put("/api/v1/configs/:name") { request, context in
            try await putConfig(request, name: context.parameters.get("name") ?? "", author: context.actor)
        }
        addConfigVersionRoutes(to: router)
        router.post("/api/v1/assignments") { request, _ in try await assign(request) }
        router.post("/api/v1/tokens") { request, _ in try await createToken(request) }
        router.post("/api/v1/agents/:uid/revoke") { _, context in
            try await revoke(context.parameters.get("uid") ?? "")
        }
        router.delete("/api/v1/agents/:uid/revocation") { _, context in
            try await readmit(context.parameters.get("uid") ?? "")
        }
        router.get("/api/v1/ca/crl.pem") { _, _ in try await revocationList() }
        router.post("/api/v1/rollouts") { request, _ in try await createRollout(request) }
        router.get("/api/v1/groups") { _, _ in await listGroups() }
        router.get("/api/v1/groups/:name") { _, context in try await getGroup(context.parameters.get("name") ?? "") }
        router.put("/api/v1/groups/:name") { request, context in
            try await putGroup(request, name: context.parameters.get("name") ?? "")
        }
        router.delete("/api/v1/groups/:name") { request, context in
            try await deleteGroup(context.parameters.get("name") ?? "", ifMatch: request.headers[.ifMatch])
        }
        router.post("/api/v1/agents/commands") { request, _ in try await commandMany(request) }
        for (path, kind) in [
            ("restart", AgentCommandKind.restart), ("report-full-state", .reportFullState),
            ("reconcile", .reconcile), ("disconnect", .disconnect),
        ] {
            router.post("/api/v1/agents/:uid/\(path)") { _, context in
                try command(kind, uid: context.parameters.get("uid") ?? "")
            }
        }
        router.get("/api/v1/rollouts") { _, _ in listRollouts() }
        router.get("/api/v1/rollouts/:id") { _, context in try getRollout(context.parameters.get("id") ?? "") }
        router.post("/api/v1/rollouts/:id/:action") { request, context in
            try await actOnRollout(
                id: context.parameters.get("id") ?? "", action: context.parameters.get("action") ?? "",
                ifMatch: request.headers[.ifMatch])
        }
        router.get("/api/v1/ca/certificate.pem") { _, _ in try authorityCertificate() }
        router.delete("/api/v1/agents/:uid/identity") { _, context in
            try await unbindIdentity(context.parameters.get("uid") ?? "")
        }
        addAccessRoutes(to: router)
        addLoginRoutes(to: router)
        addLintRoutes(to: router)
        addUIRoutes(to: router)
        router.get("/api/v1/assignments/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let status = fleet.assignmentStatus(id) else {
                throw APIError(.notFound, "assignment_not_found", "no assignment \(id)")
            }
            return Self.json([
                "id": status.assignment.id, "config": status.assignment.config, "hash": status.assignment.hash,
                "targets": status.targets, "applied": status.applied, "applying": status.applying,
                "failed": status.failed, "pending": status.pending,
            ])
        }
        return router
    }

    // MARK: Handlers

    private func listAgents(_ request: Request) throws -> Response {
        var query = AgentQuery()
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            let text = String(value)
            switch name {
            case "connected":
                guard text == "true" || text == "false" else {
                    throw APIError(.badRequest, "invalid_parameter", "connected must be true or false")
                }
                query.connected = text == "true"
            case "limit":
                guard let n = Int(text), n >= 1, n <= 1000 else {
                    throw APIError(.badRequest, "invalid_parameter", "limit must be an integer from 1 to 1000")
                }
                query.limit = n
            case "configState":
                guard let state = ConfigState(rawValue: text) else {
                    let names = ConfigState.allCases.map(\.rawValue).joined(separator: ", ")
                    throw APIError(.badRequest, "invalid_parameter", "configState must be one of \(names)")
                }
                query.configState = state
            case "healthy":
                guard text == "true" || text == "false" else {
                    throw APIError(.badRequest, "invalid_parameter", "healthy must be true or false")
                }
                query.healthy = text == "true"
            case "search":
                guard (1...256).contains(text.count) else {
                    throw APIError(.badRequest, "invalid_parameter", "search must be 1 to 256 characters")
                }
                query.search = text
            case "cursor":
                query.cursor = text
            case "sort":
                guard let sort = AgentSort(text) else {
                    let names = AgentSort.accepted.joined(separator: ", ")
                    throw APIError(.badRequest, "invalid_parameter", "sort must be one of \(names)")
                }
                query.sort = sort
            case "group":
                guard fleet.hasGroup(text) else {
                    throw APIError(.notFound, "group_not_found", "no group named \(text)")
                }
                query.group = text
            default:
                if name.hasPrefix("attr."), name.count > 5 {
                    query.attributes[String(name.dropFirst(5))] = text
                } else if name.hasPrefix("label."), name.count > 6 {
                    query.labels[String(name.dropFirst(6))] = text
                } else {
                    throw APIError(.badRequest, "invalid_parameter", "unknown query parameter \(name)")
                }
            }
        }
        // Checked once the sort is known: a cursor names a place in one order.
        if let cursor = query.cursor, AgentCursor(cursor, sort: query.sort) == nil {
            throw APIError(
                .badRequest, "invalid_parameter", "cursor is not one this API returned for sort \(query.sort.text)")
        }
        return Self.pageText(fleet.agents(query))
    }

    private func agent(_ text: String) async throws -> Response {
        guard let uid = InstanceUID(string: text) else {
            throw APIError(.badRequest, "invalid_uid", "\(text) is not a UUID")
        }
        let fleet = fleet
        guard let detail = await Self.offExecutor({ fleet.agent(uid) }) else {
            throw APIError(.notFound, "agent_not_found", "no agent \(uid)")
        }
        var body = Self.summaryJSON(detail.summary)
        body["descriptionTruncated"] = detail.descriptionTruncated
        body["health"] = Self.parse(detail.healthJSON)
        body["packageStatuses"] = Self.parse(detail.packageStatusesJSON)
        body["customCapabilities"] = Self.parse(detail.customCapabilitiesJSON)
        body["connectionSettingsStatus"] = Self.parse(detail.connectionSettingsStatusJSON)
        body["availableComponentsHash"] = detail.componentsHash ?? NSNull()
        body["owner"] = detail.owner
        body["labels"] = detail.labels
        body["revoked"] = detail.revoked
        body["historyComplete"] = detail.historyComplete
        body["history"] = detail.history.map { event in
            ["at": Self.rfc3339(event.at), "kind": event.kind, "detail": event.detail] as [String: Any]
        }
        // The description is the largest part: its canonical JSON goes in as it is, not parsed
        // into objects and written out again.
        return Self.json(body, splicing: "description", raw: detail.descriptionJSON ?? "null")
    }

    private func putConfig(_ request: Request, name: String, author: String) async throws -> Response {
        let type = request.headers[.contentType]?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        let yamlTypes = ["text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml", "text/plain"]
        guard let type, yamlTypes.contains(type) else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type", "send the config as Content-Type: text/yaml")
        }
        let body = try await Self.collect(request, limit: fleet.options.maxConfigBytes)
        let ifMatch = request.headers[.ifMatch]
        let fleet = fleet
        let stored = await Self.offExecutor {
            Result { () throws(FleetError) in
                try fleet.putConfigVersion(name: name, body: body, author: author, ifMatch: ifMatch)
            }
        }
        switch stored {
        case .success(let saved):
            var response = Self.json(["name": name, "hash": saved.info.hash, "version": saved.info.version])
            response.headers[.eTag] = saved.etag
            return response
        case .failure(let error): throw APIError(error)
        }
    }

    private func assign(_ request: Request) async throws -> Response {
        let body = try await Self.body(request, limit: 1 << 20, OperatorRequest.assignment)
        let fleet = fleet
        let made = await Self.offExecutor {
            Result { () throws(FleetError) in
                try fleet.assign(config: body.config, selector: body.selector, uids: body.uids)
            }
        }
        switch made {
        case .success(let row):
            var response = Self.json(["id": row.id, "config": row.config, "hash": row.hash], status: .created)
            response.headers[.location] = "/api/v1/assignments/\(row.id)"
            return response
        case .failure(let error): throw APIError(error)
        }
    }

    /// Where fleet calls that wait on the database run: never on the async executor, whose few
    /// threads serve every request (and Hummingbird's event loops).
    private static let blockingQueue = DispatchQueue(label: "ampora.operator.blocking", attributes: .concurrent)

    /// Runs `work` on `blockingQueue` and resumes with its result.
    static func offExecutor<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            blockingQueue.async { continuation.resume(returning: work()) }
        }
    }

    // MARK: Encoding

    static func summaryJSON(_ a: AgentSummary) -> [String: Any] {
        var attributes: [String: Any] = [:]
        for (key, value) in a.attributes { attributes[key] = value }
        var out: [String: Any] = [
            "instanceUid": a.instanceUID, "connected": a.connected, "lastSeen": rfc3339(a.lastSeen),
            "firstSeen": rfc3339(a.firstSeen), "attributes": attributes, "capabilities": a.capabilities,
            "effectiveConfigHash": a.effectiveConfigHash ?? NSNull(),
            "desiredConfigHash": a.desiredConfigHash ?? NSNull(),
            "healthy": a.healthy.map { $0 as Any } ?? NSNull(),
            "configState": a.configState.map { $0.rawValue as Any } ?? NSNull(),
            "instance": a.instance ?? NSNull(),
        ]
        if !a.configMessage.isEmpty { out["configMessage"] = a.configMessage }
        if let r = a.remoteConfigStatus {
            out["remoteConfigStatus"] = ["hash": r.hash, "status": r.status, "error": r.error]
        } else {
            out["remoteConfigStatus"] = ["hash": "", "status": "UNSET", "error": ""]
        }
        return out
    }

    /// Agents per config state as JSON: every state (`zeros`), or only those with agents.
    static func stateCounts(_ counts: [ConfigState: Int], zeros: Bool) -> [String: Int] {
        var out: [String: Int] = [:]
        for state in ConfigState.allCases where zeros || counts[state, default: 0] > 0 {
            out[state.rawValue] = counts[state, default: 0]
        }
        return out
    }

    static func configJSON(_ c: ConfigVersion) -> [String: Any] {
        ["name": c.name, "hash": c.hash, "version": c.version, "updatedAt": rfc3339(c.updatedAt)]
    }

    /// `2026-12-05T14:38:00.992Z`. Digits are written by hand: `String(format:)` is slow here,
    /// and listings write two times per agent.
    static func rfc3339(_ milliseconds: Int64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(24)
        appendRFC3339(milliseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `rfc3339(milliseconds)` to `out`.
    static func appendRFC3339(_ milliseconds: Int64, to out: inout [UInt8]) {
        var t = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        func digits(_ value: Int32, _ count: Int) {
            var divisor: Int32 = 1
            for _ in 1..<count { divisor *= 10 }
            var v = value
            while divisor > 0 {
                out.append(UInt8(48 + (v / divisor) % 10))
                v %= divisor
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(parts.tm_mday, 2)
        out.append(UInt8(ascii: "T"))
        digits(parts.tm_hour, 2)
        out.append(UInt8(ascii: ":"))
        digits(parts.tm_min, 2)
        out.append(UInt8(ascii: ":"))
        digits(parts.tm_sec, 2)
        out.append(UInt8(ascii: "."))
        digits(Int32(((milliseconds % 1000) + 1000) % 1000), 3)
        out.append(UInt8(ascii: "Z"))
    }

    static func parse(_ json: String?) -> Any {
        guard let json, let value = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { return NSNull() }
        return value
    }

    /// `object` with one more member whose value is JSON text already.
    static func json(_ object: [String: Any], splicing key: String, raw: String) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var buffer = ByteBuffer()
        buffer.writeString("{\"\(key)\":")
        buffer.writeString(raw)
        if data.count > 2 { buffer.writeString(",") }
        buffer.writeBytes(data.dropFirst())
        buffer.writeString("\n")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    /// A whole collection in the listings' shape: `{items, total, nextCursor: null}`.
    static func list(_ items: [Any]) -> Response {
        json(["items": items, "total": items.count, "nextCursor": NSNull()] as [String: Any])
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var buffer = ByteBuffer()
        buffer.writeBytes(data)
        buffer.writeString("\n")
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain")
        -> Response
    {
        Response(
            status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        do {
            var buffer = try await request.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "too_large", "the body is larger than \(limit) bytes")
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too_large", "the body is larger than \(limit) bytes")
        }
    }

    /// The fleet's metrics: names, types and help as scripts and dashboards know them.
    static let fleetRows: [SnapshotMetrics<FleetMetrics>.Row] = [
        .init("ampora_fleet_agents", help: "Agents in the inventory.", .gauge { Double($0.agentsKnown) }),
        .init(
            "ampora_fleet_agents_connected", help: "Agents held by a live connection.",
            .gauge { Double($0.agentsConnected) }),
        .init(
            "ampora_fleet_agents_forgotten_total", help: "Agents removed by the retention policy (--forget-after).",
            .count { $0.agentsForgotten }),
        .init(
            "ampora_persistence_backlog_rows", help: "Rows waiting to be written to the database.",
            .gauge { Double($0.backlogAgents + $0.backlogTouches + $0.backlogHistory) }),
        .init(
            "ampora_persistence_backlog_history", help: "History events waiting.", .gauge { Double($0.backlogHistory) }),
        .init("ampora_persistence_flushes_total", help: "Successful batch writes.", .count { $0.flushes }),
        .init(
            "ampora_persistence_flush_failures_total", help: "Failed batch writes (retried).",
            .count { $0.flushFailures }),
        .init("ampora_persistence_rows_written_total", help: "Rows written.", .count { $0.rowsWritten }),
        .init(
            "ampora_persistence_last_flush_seconds", help: "Duration of the last batch write.",
            .gauge { $0.lastFlushSeconds }),
        .init(
            "ampora_persistence_flush_seconds_total", help: "Time spent writing batches.",
            .sum { $0.flushSecondsTotal }),
        .init(
            "ampora_persistence_history_dropped_total", help: "History dropped during an outage.",
            .count { $0.historyDropped }),
        .init(
            "ampora_persistence_healthy", help: "1 while database writes succeed.", .gauge { $0.storeHealthy ? 1 : 0 }),
        .init(
            "ampora_persistence_sqlite_heap_bytes",
            help: "Heap SQLite holds in this process, its page cache included (0 on PostgreSQL).",
            .gauge { Double($0.sqliteHeapBytes) }),
        .init(
            "ampora_fleet_pushes_requested_total", help: "Agents offered a new desired state.",
            .count { $0.pushesRequested }),
        .init("ampora_fleet_changes_total", help: "Agent messages ingested.", .count { $0.changesIngested }),
        .init(
            "ampora_fleet_status_changes_total", help: "Agent messages ingested that changed something.",
            .count { $0.statusChangesIngested }),
        .init(
            "ampora_fleet_ingest_cpu_seconds_total", help: "CPU time spent applying status changes to the inventory.",
            .sum { $0.ingestCPUSeconds }),
        .init(
            "ampora_rollout_controller_cpu_seconds_total", help: "CPU time spent in the rollout controller's passes.",
            .sum { $0.controllerCPUSeconds }),
        .init(
            "ampora_fleet_fenced_writes_total",
            help: "Agent rows refused by the ownership fence (a newer connection is held by another instance).",
            .count { $0.fencedWrites }),
        .init(
            "ampora_fleet_identity_conflicts_total",
            help: "Connections closed because another instance had bound their uid to another identity first.",
            .count { $0.identityConflicts }),
        .init(
            "ampora_cluster_leader", help: "1 while this instance does the cluster's periodic work.",
            .gauge { $0.leader ? 1 : 0 }),
    ]
}

/// An API failure rendered as `{"error": {"code", "message"}}`.
struct APIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// The `Allow` header of a 405.
    var allow: String?
    /// The `WWW-Authenticate` header of a 401.
    var challenge: String?
    /// What the Toolkit found in a refused config, rendered as `ampora-tool lint --format json` does.
    var findings: [ConfigFinding]?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ error: FleetError) {
        let status: HTTPResponse.Status =
            switch error.kind {
            case .invalid: .unprocessableContent
            case .notFound: .notFound
            case .unavailable: .serviceUnavailable
            case .tooLarge: .contentTooLarge
            case .preconditionFailed: .preconditionFailed
            case .conflict: .conflict
            }
        self.init(status, error.code, error.message)
        findings = error.findings
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var error: [String: Any] = ["code": code, "message": message]
        if let findings { error["findings"] = findings.map(OperatorAPI.findingJSON) }
        var response = OperatorAPI.json(["error": error], status: status)
        if status == .serviceUnavailable { response.headers[.retryAfter] = "5" }
        if let allow { response.headers[.allow] = allow }
        if let challenge { response.headers[.wwwAuthenticate] = challenge }
        return response
    }
}

/// Every failure, including Hummingbird's own (no route, body too large), leaves as JSON.
struct JSONErrors: RouterMiddleware {
    typealias Context = OperatorContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            // RFC 9110 §15.5.6: a resource that exists but not for this method is a 405 with Allow.
            if let allow = AccessRules.allowedMethods(for: request.uri.path) {
                var refusal = APIError(
                    .methodNotAllowed, "method_not_allowed",
                    "\(request.method.rawValue) is not allowed here; use \(allow)")
                refusal.allow = allow
                throw refusal
            }
            throw APIError(.notFound, "not_found", error.body ?? "no such resource")
        } catch let error as HTTPError {
            let code =
                switch error.status {
                case .notFound: "not_found"
                case .methodNotAllowed: "method_not_allowed"
                case .contentTooLarge: "too_large"
                default: "http_\(error.status.code)"
                }
            throw APIError(error.status, code, error.body ?? error.status.reasonPhrase)
        } catch {
            throw APIError(.internalServerError, "internal", "\(error)")
        }
    }
}
