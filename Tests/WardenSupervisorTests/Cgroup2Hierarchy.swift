import Foundation
import Synchronization
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// A cgroup v2 hierarchy in memory that behaves as Documentation/admin-guide/cgroup-v2.rst says the
/// kernel's does, for testing v2 on a host whose controllers are on v1:
///
/// - a new cgroup gets the core files and the interface files of the controllers its parent
///   enables in `cgroup.subtree_control`; its `cgroup.controllers` is that list;
/// - `+ctrl` in `cgroup.subtree_control` needs `ctrl` in the cgroup's `cgroup.controllers`, and
///   (except at the root) a cgroup with processes of its own cannot enable any (EBUSY): the
///   "no internal process" rule; nor can a process join a non-root cgroup that enables some;
/// - limits take `max` or a number (`cpu.max`: `QUOTA PERIOD`, `io.weight`: `default N`), EINVAL
///   otherwise; weights 1-10000;
/// - `cgroup.kill` ends every process (they leave `cgroup.procs`); `cgroup.events` says `populated`;
/// - `rmdir` fails with EBUSY while processes or child cgroups remain;
/// - a cgroup not delegated (`readOnly`) refuses writes and new children with EACCES.
///
/// The test moves processes and sets counters with ``place(_:in:)`` and ``set(_:_:_:)``.
final class Cgroup2Hierarchy: CgroupFileSystem {
    let mount: String
    private struct State {
        var dirs: [String: [String: String]] = [:]
        var readOnly: Set<String> = []
        var killed: [Int32] = []
        var writes: [(String, String)] = []
    }
    private let state = Mutex(State())

    static let controllerFiles: [String: [String: String]] = [
        "memory": [
            "memory.current": "0\n", "memory.max": "max\n", "memory.high": "max\n", "memory.swap.max": "max\n",
            "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
            "memory.stat": "anon 0\nfile 0\nkernel 0\n",
        ],
        "cpu": ["cpu.max": "max 100000\n", "cpu.weight": "100\n"],
        "io": ["io.weight": "default 100\n", "io.stat": ""],
        "pids": ["pids.max": "max\n", "pids.current": "0\n"],
    ]

    init(mount: String = "/sys/fs/cgroup", controllers: String = "cpuset cpu io memory hugetlb pids rdma misc") {
        self.mount = mount
        state.withLock {
            $0.dirs[mount] = [
                "cgroup.procs": "", "cgroup.controllers": controllers + "\n", "cgroup.subtree_control": "\n",
                "cgroup.stat": "nr_descendants 0\n", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
            ]
        }
    }

    /// Makes `path` (and its parents) as an administrator would, `processes` in it.
    func prepare(_ path: String, processes: [Int32] = [], readOnly: Bool = false) {
        var parts: [String] = []
        for component in path.dropFirst(mount.count).split(separator: "/") {
            parts.append(String(component))
            let dir = mount + "/" + parts.joined(separator: "/")
            state.withLock { s in if s.dirs[dir] == nil { s.dirs[dir] = Self.newCgroup(parent: s.dirs[parent(dir)]!) } }
        }
        for pid in processes { place(pid, in: path) }
        if readOnly { state.withLock { _ = $0.readOnly.insert(path) } }
    }

    /// Moves a process into `path` (out of every other cgroup).
    func place(_ pid: Int32, in path: String) {
        state.withLock { s in
            for (dir, files) in s.dirs {
                let others = CgroupFormats.pids(files["cgroup.procs"] ?? "").filter { $0 != pid }
                s.dirs[dir]!["cgroup.procs"] = others.map { "\($0)\n" }.joined()
            }
            let here = CgroupFormats.pids(s.dirs[path]!["cgroup.procs"] ?? "") + [pid]
            s.dirs[path]!["cgroup.procs"] = here.map { "\($0)\n" }.joined()
            Self.refreshEvents(&s.dirs, path)
        }
    }

    /// Sets what the kernel would have counted.
    func set(_ path: String, _ file: String, _ text: String) { state.withLock { $0.dirs[path]![file] = text } }
    func file(_ path: String) -> String? { read(path) }
    func isDirectory(_ path: String) -> Bool { state.withLock { $0.dirs[path] != nil } }
    var killed: [Int32] { state.withLock { $0.killed } }
    var writes: [(String, String)] { state.withLock { $0.writes } }

    private func parent(_ path: String) -> String { (path as NSString).deletingLastPathComponent }

    private static func newCgroup(parent: [String: String]) -> [String: String] {
        let enabled = CgroupFormats.controllers(parent["cgroup.subtree_control"] ?? "")
        var files: [String: String] = [
            "cgroup.procs": "", "cgroup.controllers": enabled.sorted().joined(separator: " ") + "\n",
            "cgroup.subtree_control": "\n", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0\n",
            "cgroup.kill": "", "cgroup.type": "domain\n", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
            "cpu.pressure":
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            "io.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        ]
        for controller in enabled { files.merge(controllerFiles[controller] ?? [:]) { a, _ in a } }
        return files
    }

    private static func refreshEvents(_ dirs: inout [String: [String: String]], _ path: String) {
        guard dirs[path]?["cgroup.events"] != nil else { return }
        let populated = !CgroupFormats.pids(dirs[path]!["cgroup.procs"] ?? "").isEmpty
        dirs[path]!["cgroup.events"] = "populated \(populated ? 1 : 0)\nfrozen 0\n"
    }

    // MARK: - CgroupFileSystem

    func read(_ path: String) -> String? {
        let dir = parent(path)
        let name = (path as NSString).lastPathComponent
        return state.withLock { $0.dirs[dir]?[name] }
    }

    func write(_ path: String, _ text: String) throws(CgroupError) {
        let dir = parent(path)
        let name = (path as NSString).lastPathComponent
        let result: Int32 = state.withLock { s in
            guard var files = s.dirs[dir], files[name] != nil else { return ENOENT }
            if s.readOnly.contains(dir) { return EACCES }
            let isRoot = dir == mount
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch name {
            case "cgroup.subtree_control":
                let available = CgroupFormats.controllers(files["cgroup.controllers"] ?? "")
                var enabled = CgroupFormats.controllers(files["cgroup.subtree_control"] ?? "")
                for token in value.split(separator: " ") {
                    let controller = String(token.dropFirst())
                    guard token.first == "+" || token.first == "-", available.contains(controller) else {
                        return EINVAL
                    }
                    if !isRoot, !CgroupFormats.pids(files["cgroup.procs"] ?? "").isEmpty { return EBUSY }
                    if token.first == "+" { enabled.insert(controller) } else { enabled.remove(controller) }
                }
                files[name] = enabled.sorted().joined(separator: " ") + "\n"
            case "cgroup.procs":
                guard let pid = Int32(value), pid > 0 else { return EINVAL }
                if !isRoot, !CgroupFormats.controllers(files["cgroup.subtree_control"] ?? "").isEmpty { return EBUSY }
                s.dirs[dir] = files
                for (other, otherFiles) in s.dirs where other != dir {
                    let left = CgroupFormats.pids(otherFiles["cgroup.procs"] ?? "").filter { $0 != pid }
                    s.dirs[other]!["cgroup.procs"] = left.map { "\($0)\n" }.joined()
                    Self.refreshEvents(&s.dirs, other)
                }
                files = s.dirs[dir]!
                files[name] = (CgroupFormats.pids(files[name] ?? "") + [pid]).map { "\($0)\n" }.joined()
            case "cgroup.kill":
                guard value == "1" else { return EINVAL }
                s.killed += CgroupFormats.pids(files["cgroup.procs"] ?? "")
                files["cgroup.procs"] = ""
            case "memory.max", "memory.high", "memory.swap.max", "pids.max":
                guard value == "max" || UInt64(value) != nil else { return EINVAL }
                files[name] = value + "\n"
            case "cpu.max":
                let parts = value.split(separator: " ")
                guard parts.count == 2, parts[0] == "max" || UInt64(parts[0]) != nil, let period = UInt64(parts[1]),
                    (1000...1_000_000).contains(period)
                else { return EINVAL }
                files[name] = value + "\n"
            case "cpu.weight":
                guard let w = Int(value), (1...10_000).contains(w) else { return ERANGE }
                files[name] = value + "\n"
            case "io.weight":
                let parts = value.split(separator: " ")
                guard parts.count == 2, parts[0] == "default", let w = Int(parts[1]), (1...10_000).contains(w) else {
                    return EINVAL
                }
                files[name] = value + "\n"
            case "cgroup.freeze":
                files[name] = value + "\n"
            default:
                return EACCES  // read-only interface files
            }
            s.dirs[dir] = files
            s.writes.append((path, value))
            Self.refreshEvents(&s.dirs, dir)
            return 0
        }
        if result != 0 { throw CgroupError(path: path, reason: String(cString: strerror(result))) }
    }

    func makeDirectory(_ path: String) throws(CgroupError) {
        let up = parent(path)
        let result: Int32 = state.withLock { s in
            if s.dirs[path] != nil { return 0 }
            guard let parentFiles = s.dirs[up] else { return ENOENT }
            if s.readOnly.contains(up) { return EACCES }
            s.dirs[path] = Self.newCgroup(parent: parentFiles)
            return 0
        }
        if result != 0 { throw CgroupError(path: path, reason: String(cString: strerror(result))) }
    }

    func removeDirectory(_ path: String) -> Bool {
        state.withLock { s in
            guard let files = s.dirs[path], CgroupFormats.pids(files["cgroup.procs"] ?? "").isEmpty,
                !s.dirs.keys.contains(where: { $0.hasPrefix(path + "/") })
            else { return false }
            s.dirs[path] = nil
            return true
        }
    }

    func exists(_ path: String) -> Bool {
        state.withLock { s in
            if s.dirs[path] != nil { return true }
            return s.dirs[parent(path)]?[(path as NSString).lastPathComponent] != nil
        }
    }

    func openForWriting(_ path: String) throws(CgroupError) -> Int32 {
        guard exists(path) else { throw CgroupError(path: path, reason: String(cString: strerror(ENOENT))) }
        return open("/dev/null", O_WRONLY | O_CLOEXEC)
    }
}
