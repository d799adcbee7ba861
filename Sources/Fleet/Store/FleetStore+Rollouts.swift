/// A rollout as stored (its spec as JSON).
struct RolloutRow: Sendable, Equatable {
    var id: String
    var spec: String
    var state: String
    var stage: Int
    var stages: Int
    var reason: String?
    var etag: Int64
    var stageDoneAt: Int64?
    var rollbackOf: String?
    var createdAt: Int64
    var updatedAt: Int64
    /// `StageCounts.gateBaseline` of the current stage ('' : nothing discounted).
    var gateBaseline = ""
}

/// One agent of a rollout, as stored.
struct RolloutMemberRow: Sendable, Equatable {
    var uid: String
    var stage: Int
    /// The hash the agent is given when its stage starts; empty: its pin is removed.
    var pin: String
    var previous: String?
}

// Rollouts: one row each, rewritten on every change; members written in chunks of multi-row
// statements (a rollout may have a million), in one transaction with their rollout.
extension FleetStore {
    func saveRollout(_ row: RolloutRow, members: [RolloutMemberRow] = []) throws(StoreError) {
        var statements: [(sql: String, params: [String?])] = [
            (
                """
                INSERT INTO rollouts (id, spec, state, stage, stages, reason, etag, stage_done_at, rollback_of, created_at, updated_at, gate_baseline)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (id) DO UPDATE SET state = excluded.state, stage = excluded.stage, reason = excluded.reason,
                    etag = excluded.etag, stage_done_at = excluded.stage_done_at, updated_at = excluded.updated_at,
                    gate_baseline = excluded.gate_baseline
                """,
                [
                    row.id, row.spec, row.state, String(row.stage), String(row.stages), row.reason, String(row.etag),
                    row.stageDoneAt.map(String.init), row.rollbackOf, String(row.createdAt), String(row.updatedAt),
                    row.gateBaseline,
                ]
            )
        ]
        statements += Self.memberStatements(row.id, members)
        try execute(statements)
    }

    /// Stores a change of a rollout unless the stored row is newer (its ETag), or as new with
    /// another state or stage: false when another instance changed the rollout at the same
    /// moment and stored first. (A stage's end, which starts its soak, keeps the ETag: the
    /// same ETag, state and stage go through.)
    func updateRollout(_ row: RolloutRow) throws(StoreError) -> Bool {
        let stored = try select(
            """
            INSERT INTO rollouts (id, spec, state, stage, stages, reason, etag, stage_done_at, rollback_of, created_at, updated_at, gate_baseline)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, stage = excluded.stage, reason = excluded.reason,
                etag = excluded.etag, stage_done_at = excluded.stage_done_at, updated_at = excluded.updated_at,
                gate_baseline = excluded.gate_baseline
            WHERE rollouts.etag < excluded.etag
                OR (rollouts.etag = excluded.etag AND rollouts.state = excluded.state AND rollouts.stage = excluded.stage)
            RETURNING id
            """,
            [
                row.id, row.spec, row.state, String(row.stage), String(row.stages), row.reason, String(row.etag),
                row.stageDoneAt.map(String.init), row.rollbackOf, String(row.createdAt), String(row.updatedAt),
                row.gateBaseline,
            ])
        return !stored.isEmpty
    }

    /// Records what members had applied when their stage started.
    func saveRolloutPrevious(_ rollout: String, _ members: [RolloutMemberRow]) throws(StoreError) {
        try execute(Self.memberStatements(rollout, members))
    }

    /// Takes `uids` out of `rollout` (a newer rollout superseded it for them).
    func removeRolloutMembers(_ rollout: String, _ uids: [String]) throws(StoreError) {
        var statements: [(sql: String, params: [String?])] = []
        var start = 0
        while start < uids.count {
            let chunk = Array(uids[start..<min(uids.count, start + 500)])
            let marks = (0..<chunk.count).map { "$\($0 + 2)" }.joined(separator: ", ")
            statements.append(
                ("DELETE FROM rollout_agents WHERE rollout = $1 AND uid IN (\(marks))", [rollout] + chunk))
            start += 500
        }
        if !statements.isEmpty { try execute(statements) }
    }

    func loadRollouts() throws(StoreError) -> [RolloutRow] {
        try select(
            "SELECT id, spec, state, stage, stages, reason, etag, stage_done_at, rollback_of, created_at, updated_at, gate_baseline FROM rollouts ORDER BY created_at, id",
            []
        ).map { r in
            RolloutRow(
                id: r[0] ?? "", spec: r[1] ?? "{}", state: r[2] ?? "aborted", stage: Int(r[3] ?? "") ?? 0,
                stages: Int(r[4] ?? "") ?? 1, reason: r[5], etag: Int64(r[6] ?? "") ?? 0,
                stageDoneAt: r[7].flatMap { Int64($0) }, rollbackOf: r[8], createdAt: Int64(r[9] ?? "") ?? 0,
                updatedAt: Int64(r[10] ?? "") ?? 0, gateBaseline: r[11] ?? "")
        }
    }

    func loadRolloutMembers(_ rollout: String) throws(StoreError) -> [RolloutMemberRow] {
        try select("SELECT uid, stage, pin, previous FROM rollout_agents WHERE rollout = $1", [rollout]).map { r in
            RolloutMemberRow(uid: r[0] ?? "", stage: Int(r[1] ?? "") ?? 0, pin: r[2] ?? "", previous: r[3])
        }
    }

    /// Upserts of members, 200 to a statement.
    private static func memberStatements(_ rollout: String, _ members: [RolloutMemberRow]) -> [(
        sql: String, params: [String?]
    )] {
        // Every full chunk has the same text: a million members make 5 000 statements.
        func sql(_ rows: Int) -> String {
            let values = (0..<rows).map { row in
                let base = row * 5
                return "($\(base + 1), $\(base + 2), $\(base + 3), $\(base + 4), $\(base + 5))"
            }
            return
                "INSERT INTO rollout_agents (rollout, uid, stage, pin, previous) VALUES \(values.joined(separator: ", ")) ON CONFLICT (rollout, uid) DO UPDATE SET previous = excluded.previous"
        }
        let chunk = 200
        let full = members.count >= chunk ? sql(chunk) : ""
        var statements: [(sql: String, params: [String?])] = []
        statements.reserveCapacity((members.count + chunk - 1) / chunk)
        var start = 0
        while start < members.count {
            let rows = members[start..<min(members.count, start + chunk)]
            var params: [String?] = []
            params.reserveCapacity(rows.count * 5)
            for member in rows {
                params += [rollout, member.uid, String(member.stage), member.pin, member.previous]
            }
            statements.append((rows.count == chunk ? full : sql(rows.count), params))
            start += chunk
        }
        return statements
    }
}

/// A saved selector.
struct GroupRow: Sendable, Equatable {
    var name: String
    var selector: [String: String]
    var description: String
    var createdAt: Int64
    var updatedAt: Int64
}

extension FleetStore {
    func saveGroup(_ row: GroupRow) throws(StoreError) {
        try execute([
            (
                """
                INSERT INTO agent_groups (name, selector, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (name) DO UPDATE SET selector = excluded.selector, description = excluded.description,
                    updated_at = excluded.updated_at
                """,
                [
                    row.name, StoreJSON.encode(row.selector), row.description, String(row.createdAt),
                    String(row.updatedAt),
                ]
            )
        ])
    }

    func deleteGroup(_ name: String) throws(StoreError) {
        try execute([("DELETE FROM agent_groups WHERE name = $1", [name])])
    }

    func loadGroups() throws(StoreError) -> [GroupRow] {
        try select("SELECT name, selector, description, created_at, updated_at FROM agent_groups ORDER BY name", []).map
        {
            r in
            GroupRow(
                name: r[0] ?? "", selector: StoreJSON.decodeMap(r[1] ?? "{}"), description: r[2] ?? "",
                createdAt: Int64(r[3] ?? "") ?? 0, updatedAt: Int64(r[4] ?? "") ?? 0)
        }
    }
}
