import Foundation
import WardenDetect
import WardenStore

/// Monitors keep their state in the store's named blobs.
extension SQLiteStore: MonitorStateStore {
    public func loadMonitor(_ name: String) async throws -> Data? { try await blob("monitor/\(name)") }
    public func saveMonitor(_ name: String, _ data: Data) async throws { try await setBlob("monitor/\(name)", data) }
}
