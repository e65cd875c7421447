import VaultFuse

public typealias VaultFuseStatsPayload = ManagerStats
