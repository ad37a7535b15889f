#if canImport(Glibc)
import Glibc
#endif

/// CPU time and resident memory of one group of processes.
public struct GroupUsage: Sendable, Equatable {
    /// User and system CPU time of the live processes, in clock ticks.
    public var ticks: UInt64 = 0
    /// Resident bytes of the live processes.
    public var rss: Int64 = 0
    /// How many live processes were counted.
    public var processes = 0
}

/// Sums CPU time and resident memory of the processes in each supervised process group or
/// session, from /proc, pass after pass.
///
/// A pass reads the stat file of members only: a member's file stays open and is read again (no
/// path lookup), and a pid found not to belong to any group is remembered and skipped, since a
/// process cannot join another session's group. /proc is listed again only when a process was
/// created since the last pass (the namespace's last pid moved): on a quiet host a pass is one
/// small read per member. What is remembered is dropped when the groups change (a service started
/// or stopped), when the pid leaves the listing, and every `fullEvery` passes, which bounds what a
/// pid reused between two passes can hide.
///
/// Not thread-safe: one task owns it. Open descriptors are capped at `maxOpen` (by default 2048,
/// and never more than a quarter of the process's descriptor limit, so that a service with
/// thousands of processes cannot starve Warden's sockets and database of descriptors); members beyond
/// it are opened and closed on each pass.
public final class GroupUsageSampler {
    private var open: [pid_t: Int32] = [:]
    private var others: Set<pid_t> = []
    private var groups: [pid_t: String] = [:]
    private var passes = 0
    private var lastPid: Int64?
    private let fullEvery: Int
    private let maxOpen: Int

    public init(fullEvery: Int = 12, maxOpen: Int = 2048) {
        self.fullEvery = max(1, fullEvery)
        var limit = rlimit()
        let budget = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur / 4) : 64
        self.maxOpen = max(0, min(maxOpen, budget))
    }

    deinit {
        for fd in open.values { close(fd) }
    }

    /// How many stat files are kept open.
    public var openFiles: Int { open.count }

    /// Usage per service name; `groups` maps a process group or session id to its service. A
    /// process counts for a service when its group or its session is the service's.
    public func measure(groups: [pid_t: String]) -> [String: GroupUsage] {
        var usage: [String: GroupUsage] = [:]
        let full = groups != self.groups || passes % fullEvery == 0
        if full { others.removeAll(keepingCapacity: true) }
        self.groups = groups
        passes &+= 1
        guard !groups.isEmpty else {
            forgetAll()
            return usage
        }
        let last = ProcFS.lastPid()
        if !full, let last, last == lastPid, open.count < maxOpen, let quiet = rereadMembers() {
            return quiet
        }
        lastPid = last
        let listed = ProcFS.allPids()
        var seen = Set<pid_t>(minimumCapacity: listed.count)
        for pid in listed {
            seen.insert(pid)
            if others.contains(pid) { continue }
            let cached = open[pid]
            let fd = cached ?? ProcFS.openStat(pid)
            guard fd >= 0 else { continue }
            guard let st = ProcFS.stat(fd: fd) else {
                // Gone (or a new process under an old pid): look again next pass.
                close(fd)
                open[pid] = nil
                continue
            }
            guard let name = groups[st.pgrp] ?? groups[st.session] else {
                close(fd)
                open[pid] = nil
                others.insert(pid)
                continue
            }
            if cached == nil {
                if open.count < maxOpen { open[pid] = fd } else { close(fd) }
            }
            if st.isZombie { continue }
            usage[name, default: GroupUsage()].ticks += st.utime + st.stime
            usage[name, default: GroupUsage()].rss += st.rssPages * ProcFS.pageSize
            usage[name, default: GroupUsage()].processes += 1
        }
        if open.count > 0 {
            for (pid, fd) in open where !seen.contains(pid) {
                close(fd)
                open[pid] = nil
            }
        }
        others.formIntersection(seen)
        return usage
    }

    /// The pass when no process was created since the last one: every member is known and open.
    /// Nil when a member's group changed (it left for a session of its own), which needs a full
    /// look.
    private func rereadMembers() -> [String: GroupUsage]? {
        var usage: [String: GroupUsage] = [:]
        for (pid, fd) in open {
            guard let st = ProcFS.stat(fd: fd) else {
                close(fd)
                open[pid] = nil
                continue
            }
            guard let name = groups[st.pgrp] ?? groups[st.session] else { return nil }
            if st.isZombie { continue }
            usage[name, default: GroupUsage()].ticks += st.utime + st.stime
            usage[name, default: GroupUsage()].rss += st.rssPages * ProcFS.pageSize
            usage[name, default: GroupUsage()].processes += 1
        }
        return usage
    }

    private func forgetAll() {
        for fd in open.values { close(fd) }
        open.removeAll()
        others.removeAll()
    }
}
