import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where one Warden keeps its services' cgroups: a directory `warden-<id>` (the id derived from
/// the state directory, so the next Warden on the same state finds its services' cgroups again)
/// under Warden's own cgroup, in the unified hierarchy (v2) or in each v1 controller hierarchy.
///
/// Found once, at start, by ``discover(stateDir:files:mountinfo:membership:pid:)``: on cgroup v2
/// Warden's own cgroup must be delegated to it (systemd's `Delegate=yes`, or Warden running as
/// root in the root cgroup); Warden then moves itself into a leaf `warden.supervisor` (v2 allows
/// processes only in leaves of a tree with controllers) and enables the memory, cpu, io and pids
/// controllers for its services. A host with v2 mounted but its controllers held by v1 hierarchies
/// (hybrid mode) is used through v1.
public struct CgroupTree: Sendable {
    public enum Version: String, Sendable { case v1, v2 }

    public let version: Version
    /// v2: `""` → the base directory; v1: each controller → the base directory in its hierarchy
    /// (co-mounted controllers share one).
    public let bases: [String: String]
    /// The controllers services get: on v2 those enabled for the base's children, on v1 those
    /// whose hierarchy is mounted and writable.
    public let controllers: Set<String>
    let files: any CgroupFileSystem

    /// The leaf Warden moves itself to on v2.
    public static let supervisorLeaf = "warden.supervisor"

    /// The controllers Warden uses.
    static let wanted: Set<String> = ["memory", "cpu", "cpuacct", "pids", "io", "blkio", "freezer"]

    /// The base directory's name for a state directory.
    public static func baseName(stateDir: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in stateDir.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "warden-" + String(hash & 0xffff_ffff_ffff, radix: 16)
    }

    /// Finds the host's cgroups and prepares Warden's part of them.
    ///
    /// - Parameters:
    ///   - mountinfo: `/proc/self/mountinfo`'s text (read when nil).
    ///   - membership: `/proc/self/cgroup`'s text (read when nil).
    ///   - pid: the process to move into the supervisor's leaf on v2 (Warden itself).
    /// - Returns: the tree, or why services cannot have cgroups here.
    public static func discover(
        stateDir: String,
        files: any CgroupFileSystem = KernelCgroupFiles(),
        mountinfo: String? = nil,
        membership: String? = nil,
        pid: Int32 = getpid()
    ) -> Result<CgroupTree, CgroupError> {
        let mounts = CgroupFormats.mounts(mountinfo ?? files.read("/proc/self/mountinfo") ?? "")
        let own = CgroupFormats.membership(membership ?? files.read("/proc/self/cgroup") ?? "")
        let name = baseName(stateDir: stateDir)
        let unified = mounts.first { $0.unified }
        let v1 = mounts.filter { !$0.unified && !$0.controllers.isDisjoint(with: wanted) }

        if let unified, let path = own[""] {
            var inside = relative(path, to: unified.root)
            // Already in its leaf (a previous start moved it, or systemd's DelegateSubgroup put
            // it there): the delegated cgroup is the leaf's parent.
            if inside.hasSuffix("/" + supervisorLeaf) { inside = String(inside.dropLast(supervisorLeaf.count + 1)) }
            if inside.isEmpty { inside = "/" }
            let dir = join(unified.path, inside)
            let available = CgroupFormats.controllers(files.read(dir + "/cgroup.controllers") ?? "")
            // Hybrid: the unified tree without controllers, the controllers in v1 hierarchies.
            if !(available.isDisjoint(with: wanted) && !v1.isEmpty) {
                return setUpV2(
                    dir: dir,
                    atRoot: inside == "/",
                    available: available.intersection(wanted),
                    name: name,
                    files: files,
                    pid: pid
                )
            }
        }
        guard !v1.isEmpty else {
            return .failure(
                CgroupError(path: "/proc/self/mountinfo", reason: "no cgroup file system is mounted")
            )
        }
        return setUpV1(mounts: v1, own: own, name: name, files: files)
    }

    private static func setUpV2(
        dir: String,
        atRoot: Bool,
        available: Set<String>,
        name: String,
        files: any CgroupFileSystem,
        pid: Int32
    ) -> Result<CgroupTree, CgroupError> {
        let notDelegated = "; Warden needs its cgroup delegated to it (systemd: Delegate=yes in its unit)"
        func enable() -> Set<String> {
            for controller in available.sorted() {
                try? files.write(dir + "/cgroup.subtree_control", "+" + controller)
            }
            return CgroupFormats.controllers(files.read(dir + "/cgroup.subtree_control") ?? "")
        }
        // The root cgroup may hold processes and enable controllers; any other only when it holds
        // no process itself (a cgroup namespace's root refuses with EBUSY): Warden moves to a leaf.
        var enabled: Set<String> = atRoot && !available.isEmpty ? enable() : []
        if enabled.isEmpty, !available.isEmpty {
            let leaf = dir + "/" + supervisorLeaf
            do {
                try files.makeDirectory(leaf)
                if CgroupFormats.pids(files.read(dir + "/cgroup.procs") ?? "").contains(pid) {
                    try files.write(leaf + "/cgroup.procs", String(pid))
                }
            } catch {
                return .failure(CgroupError(path: error.path, reason: error.reason + notDelegated))
            }
            let others = CgroupFormats.pids(files.read(dir + "/cgroup.procs") ?? "")
            if !others.isEmpty {
                let list = others.prefix(5).map(String.init).joined(separator: ", ")
                return .failure(
                    CgroupError(
                        path: dir + "/cgroup.procs",
                        reason:
                            "other processes (\(list)) share Warden's cgroup, so it cannot enable controllers for its services"
                    )
                )
            }
            enabled = enable()
        }
        let base = dir + "/" + name
        do {
            try files.makeDirectory(base)
            for controller in enabled.sorted() {
                try files.write(base + "/cgroup.subtree_control", "+" + controller)
            }
        } catch {
            return .failure(CgroupError(path: error.path, reason: error.reason + notDelegated))
        }
        let usable = CgroupFormats.controllers(files.read(base + "/cgroup.subtree_control") ?? "")
        return .success(CgroupTree(version: .v2, bases: ["": base], controllers: usable, files: files))
    }

    private static func setUpV1(
        mounts: [CgroupFormats.Mount],
        own: [String: String],
        name: String,
        files: any CgroupFileSystem
    ) -> Result<CgroupTree, CgroupError> {
        var bases: [String: String] = [:]
        var firstError: CgroupError?
        for mount in mounts {
            let controllers = mount.controllers.intersection(wanted)
            guard let any = controllers.sorted().first, let path = own[any] else { continue }
            let base = join(join(mount.path, relative(path, to: mount.root)), name)
            do {
                try files.makeDirectory(base)
                for controller in controllers { bases[controller] = base }
            } catch {
                firstError = firstError ?? error
            }
        }
        guard !bases.isEmpty else {
            return .failure(
                firstError ?? CgroupError(path: "/proc/self/cgroup", reason: "Warden is in no v1 hierarchy")
            )
        }
        return .success(CgroupTree(version: .v1, bases: bases, controllers: Set(bases.keys), files: files))
    }

    /// The cgroup of the service `name` (not created yet: see ``ServiceCgroup/create()``).
    public func service(_ name: String) -> ServiceCgroup {
        var directories: [String: String] = [:]
        for (controller, base) in bases { directories[controller] = base + "/" + name }
        return ServiceCgroup(version: version, directories: directories, controllers: controllers, files: files)
    }

    /// Removes what is left of Warden's part of the tree once no service runs: the services'
    /// empty cgroups, then the base. Populated ones stay (services left running for the next Warden).
    public func removeEmpty(services: [String]) {
        for name in services { service(name).remove() }
        for base in Set(bases.values) { files.removeDirectory(base) }
    }

    static func relative(_ path: String, to root: String) -> String {
        guard root != "/", path.hasPrefix(root) else { return path }
        let rest = String(path.dropFirst(root.count))
        return rest.isEmpty ? "/" : rest
    }

    static func join(_ a: String, _ b: String) -> String {
        let left = a.hasSuffix("/") ? String(a.dropLast()) : a
        if b == "/" || b.isEmpty { return left }
        return left + (b.hasPrefix("/") ? b : "/" + b)
    }
}
