import Core
import Foundation

/// A named, saved selector (attributes and `label:KEY` labels, all must match).
public struct AgentGroup: Sendable {
    /// Its name.
    public var name: String
    /// What its agents match.
    public var selector: [String: String]
    /// What it is for, in the operator's words.
    public var description: String
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64
    /// Milliseconds since the Unix epoch.
    public var updatedAt: Int64
    /// Its agents now.
    public var members = GroupMembers()

    /// Its entity tag: each change is strictly later than the one before, so the time names
    /// the version.
    public var etag: String { Self.etag(updatedAt: updatedAt) }

    static func etag(updatedAt: Int64) -> String { "\"g\(updatedAt)\"" }
}

/// How a group's agents stand.
public struct GroupMembers: Sendable, Equatable {
    /// Agents that match.
    public var total = 0
    /// Of which connected.
    public var connected = 0
    /// Of which reporting healthy.
    public var healthy = 0
    /// Of which reporting unhealthy.
    public var unhealthy = 0
    /// Agents per config state.
    public var configStates: [ConfigState: Int] = [:]
}

// Groups: few, written by operators; their membership is counted when asked for (one pass
// over the fleet for all groups of a listing).
extension FleetService {
    /// Creates or replaces group `name`. Written to the database before it is acknowledged.
    /// With `ifMatch` (an `ETag` of the group, or `*`), only a group that still has that tag is
    /// replaced; otherwise 412.
    public func putGroup(
        name: String, selector: [String: String], description: String, ifMatch: String? = nil
    ) throws(FleetError) -> AgentGroup {
        guard Self.isValidName(name) else {
            throw FleetError(
                .invalid, "invalid_name", "group names are 1-128 characters of letters, digits, '.', '_' and '-'")
        }
        // One writer at a time, so that a precondition checked stays true until the write.
        let row = try groupWrites.withLock { _ throws(FleetError) in
            let existing = groups.withLock { $0[name] }
            try Self.checkGroupPrecondition(ifMatch, existing, name)
            // Strictly later than the last change, so that each version has its own ETag.
            let now = max(options.clock(), (existing?.updatedAt ?? 0) + 1)
            let row = GroupRow(
                name: name, selector: selector, description: description, createdAt: existing?.createdAt ?? now,
                updatedAt: now)
            do throws(StoreError) {
                try store.saveGroup(row)
            } catch {
                throw FleetError(.unavailable, "database_unavailable", "the group was not stored: \(error.message)")
            }
            groups.withLock { $0[name] = row }
            return row
        }
        announceCatalogue()
        return group(name) ?? Self.group(row)
    }

    /// Group `name` with its members counted, if it exists.
    public func group(_ name: String) -> AgentGroup? {
        guard let row = groups.withLock({ $0[name] }) else { return nil }
        var group = Self.group(row)
        group.members = inventory.membership([row.selector])[0]
        return group
    }

    /// Every group with its members counted, by name.
    public func listGroups() -> [AgentGroup] {
        let rows = groups.withLock { $0.values.sorted { $0.name < $1.name } }
        let members = inventory.membership(rows.map(\.selector))
        return zip(rows, members).map { row, counted in
            var group = Self.group(row)
            group.members = counted
            return group
        }
    }

    /// Deletes group `name`; false when there was none. With `ifMatch`, only a group that still
    /// has that `ETag` is deleted; otherwise 412.
    public func deleteGroup(_ name: String, ifMatch: String? = nil) throws(FleetError) -> Bool {
        try groupWrites.withLock { _ throws(FleetError) in
            guard let existing = groups.withLock({ $0[name] }) else { return false }
            try Self.checkGroupPrecondition(ifMatch, existing, name)
            do throws(StoreError) {
                try store.deleteGroup(name)
            } catch {
                throw FleetError(.unavailable, "database_unavailable", "the group was not deleted: \(error.message)")
            }
            groups.withLock { $0[name] = nil }
            announceCatalogue()
            return true
        }
    }

    private static func checkGroupPrecondition(_ ifMatch: String?, _ existing: GroupRow?, _ name: String)
        throws(FleetError)
    {
        guard let ifMatch else { return }
        let current = existing.map { AgentGroup.etag(updatedAt: $0.updatedAt) }
        let matched = ifMatch.split(separator: ",").contains { part in
            let tag = part.trimmingCharacters(in: .whitespaces)
            return current != nil && (tag == "*" || tag == current)
        }
        guard !matched else { return }
        let now = current.map { "its ETag is \($0)" } ?? "there is no group \(name)"
        throw FleetError(.preconditionFailed, "precondition_failed", "If-Match is \(ifMatch), but \(now)")
    }

    /// Whether group `name` exists (without counting its members).
    public func hasGroup(_ name: String) -> Bool {
        groupSelector(name) != nil
    }

    /// The selector of group `name`, for a rollout's target.
    func groupSelector(_ name: String) -> [String: String]? {
        groups.withLock { $0[name]?.selector }
    }

    private static func group(_ row: GroupRow) -> AgentGroup {
        AgentGroup(
            name: row.name, selector: row.selector, description: row.description, createdAt: row.createdAt,
            updatedAt: row.updatedAt)
    }
}
