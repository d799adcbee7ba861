import Core
import Fleet

/// The connection settings every agent is offered (`ConnectionSettingsOffers`): the heartbeat
/// interval, with the URL agents use to reach this server, and where to send their own
/// telemetry. Agents only get the parts their capabilities accept (S15 in docs/PROTOCOL.md), and
/// get them again whenever they report another hash.
enum AgentConnectionSettings {
    /// The offers from the flags; nil when there is nothing to offer.
    static func offers(
        advertisedURL: String?, heartbeatSeconds: UInt64, ownMetrics: String?, ownTraces: String?, ownLogs: String?
    ) -> ConnectionSettingsOffers? {
        var offers = ConnectionSettingsOffers()
        // An OpAMP offer must name the server's URL (agents reconnect to it), which only the
        // operator knows: behind a load balancer it is not the address the server listens on.
        if let advertisedURL {
            var opamp = OpAMPConnectionSettings()
            opamp.destinationEndpoint = advertisedURL
            opamp.heartbeatIntervalSeconds = heartbeatSeconds
            offers.opamp = opamp
        }
        offers.ownMetrics = ownMetrics.map(telemetry)
        offers.ownTraces = ownTraces.map(telemetry)
        offers.ownLogs = ownLogs.map(telemetry)
        guard offers.opamp != nil || offers.ownMetrics != nil || offers.ownTraces != nil || offers.ownLogs != nil
        else { return nil }
        // The hash covers everything offered, so any change is offered again (and only then).
        offers.hash = ConfigHash.sha256(offers.serializedBytes())
        return offers
    }

    private static func telemetry(_ endpoint: String) -> TelemetryConnectionSettings {
        var settings = TelemetryConnectionSettings()
        settings.destinationEndpoint = endpoint
        return settings
    }
}
