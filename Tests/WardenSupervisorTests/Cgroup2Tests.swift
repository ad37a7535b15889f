import Testing
import WardenCore
import WardenSupervisor

/// Cgroup v2 (what current distributions mount) against its documented layout and rules
/// (``Cgroup2Hierarchy``): this host's controllers are on v1, so v2 cannot be tried live here.
@Suite("Cgroup v2 layout")
struct Cgroup2Tests {
    static let mountinfo = "26 25 0:24 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    static let unit = "/sys/fs/cgroup/system.slice/warden.service"

    /// Warden under systemd with Delegate=yes: its unit's cgroup is its own to divide.
    func delegated(pid: Int32 = 4242) -> (Cgroup2Hierarchy, CgroupTree) {
        let fs = Cgroup2Hierarchy()
        try! fs.write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu +io +memory +pids")
        fs.prepare("/sys/fs/cgroup/system.slice")
        try! fs.write("/sys/fs/cgroup/system.slice/cgroup.subtree_control", "+cpu +io +memory +pids")
        fs.prepare(Self.unit, processes: [pid])
        let tree = try! CgroupTree.discover(
            stateDir: "/var/lib/warden",
            files: fs,
            mountinfo: Self.mountinfo,
            membership: "0::/system.slice/warden.service\n",
            pid: pid
        ).get()
        return (fs, tree)
    }

    @Test func aDelegatedCgroupIsDividedWardenMovingToALeaf() throws {
        let (fs, tree) = delegated()
        let base = Self.unit + "/" + CgroupTree.baseName(stateDir: "/var/lib/warden")
        #expect(tree.version == .v2)
        #expect(tree.bases == ["": base])
        #expect(tree.controllers == ["cpu", "io", "memory", "pids"])
        // Warden left its unit's cgroup for a leaf, so the unit's cgroup could enable controllers.
        #expect(CgroupFormats.pids(fs.file(Self.unit + "/warden.supervisor/cgroup.procs") ?? "") == [4242])
        #expect(CgroupFormats.pids(fs.file(Self.unit + "/cgroup.procs") ?? "").isEmpty)
        #expect(CgroupFormats.controllers(fs.file(base + "/cgroup.subtree_control") ?? "") == tree.controllers)
        // The same state directory finds the same base again (the next Warden adopts its services).
        #expect(CgroupTree.baseName(stateDir: "/var/lib/warden") == CgroupTree.baseName(stateDir: "/var/lib/warden"))
        #expect(CgroupTree.baseName(stateDir: "/var/lib/warden") != CgroupTree.baseName(stateDir: "/var/lib/other"))
    }

    /// The next Warden of the unit (restarted by systemd, or started in the leaf by its
    /// DelegateSubgroup=) finds the same tree without moving anything.
    @Test func aRestartedWardenInItsLeafUsesTheSameTree() throws {
        let (fs, first) = delegated()
        fs.place(5353, in: Self.unit + "/warden.supervisor")
        let again = try CgroupTree.discover(
            stateDir: "/var/lib/warden",
            files: fs,
            mountinfo: Self.mountinfo,
            membership: "0::/system.slice/warden.service/warden.supervisor\n",
            pid: 5353
        ).get()
        #expect(again.bases == first.bases)
        #expect(again.controllers == first.controllers)
        #expect(!fs.isDirectory(Self.unit + "/warden.supervisor/warden.supervisor"))
    }

    @Test func limitsAreWrittenInV2sUnitsAndResetWhenRemoved() throws {
        let (fs, tree) = delegated()
        let cgroup = tree.service("api")
        try cgroup.create()
        let dir = cgroup.paths[0]
        #expect(cgroup.procsFiles() == [dir + "/cgroup.procs"])
        let limits = ResourceLimits(
            memoryMax: 256 << 20,
            memoryHigh: 200 << 20,
            cpuQuota: 1.5,
            cpuWeight: 300,
            tasksMax: 64,
            ioWeight: 50
        )
        #expect(cgroup.apply(limits) == [])
        #expect(fs.file(dir + "/memory.max") == "268435456\n")
        #expect(fs.file(dir + "/memory.high") == "209715200\n")
        #expect(fs.file(dir + "/cpu.max") == "150000 100000\n")
        #expect(fs.file(dir + "/cpu.weight") == "300\n")
        #expect(fs.file(dir + "/pids.max") == "64\n")
        #expect(fs.file(dir + "/io.weight") == "default 50\n")
        // A spec without limits puts the kernel's defaults back (the cgroup outlives a reload).
        #expect(cgroup.apply(ResourceLimits()) == [])
        #expect(fs.file(dir + "/memory.max") == "max\n")
        #expect(fs.file(dir + "/cpu.max") == "max 100000\n")
        #expect(fs.file(dir + "/pids.max") == "max\n")
        #expect(fs.file(dir + "/io.weight") == "default 100\n")
    }

    @Test func usageAndOOMKillsAreReadFromTheKernelsCounters() throws {
        let (fs, tree) = delegated()
        let cgroup = tree.service("api")
        try cgroup.create()
        let dir = cgroup.paths[0]
        fs.place(700, in: dir)
        fs.place(701, in: dir)
        fs.set(dir, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
        fs.set(dir, "memory.current", "104857600\n")
        fs.set(dir, "memory.stat", "anon 73400320\nfile 31457280\nkernel 1024\n")
        fs.set(dir, "io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n")
        fs.set(dir, "pids.current", "2\n")
        fs.set(dir, "memory.pressure", "some avg10=3.25 avg60=1.00 avg300=0.10 total=5000\n")
        fs.set(dir, "memory.events", "low 0\nhigh 7\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n")
        let u = cgroup.usage()
        #expect(u.cpuMicros == 2_500_000)
        #expect(u.memoryBytes == 104_857_600)
        #expect(u.anonBytes == 73_400_320)
        #expect(u.fileBytes == 31_457_280)
        #expect(u.ioReadBytes == 4096 && u.ioWriteBytes == 8192)
        #expect(u.tasks == 2)
        #expect(u.pressure["memory"] == 3.25)
        #expect(cgroup.oomKills() == 1)
        #expect(cgroup.memoryEvents()["max"] == 5)
        #expect(cgroup.processes() == [700, 701])
        #expect(cgroup.isPopulated())
    }

    /// Sampling a busy service costs cheap reads: while the memory charged stands still, the
    /// breakdown from `memory.stat` is the last one; once it moves, `memory.stat` is read again.
    @Test func theMemoryBreakdownIsReadAgainOnlyWhenTheMemoryChargedMoves() throws {
        let (fs, tree) = delegated()
        let cgroup = tree.service("api")
        try cgroup.create()
        let dir = cgroup.paths[0]
        fs.set(dir, "cpu.stat", "usage_usec 1000\n")
        fs.set(dir, "memory.current", "4096000\n")
        fs.set(dir, "memory.stat", "anon 3000000\nfile 1096000\n")
        let first = cgroup.usage()
        fs.set(dir, "cpu.stat", "usage_usec 2000\n")
        fs.set(dir, "memory.stat", "anon 1\nfile 2\n")
        let busy = cgroup.usage(given: cgroup.probe(), memory: first)
        #expect(busy.cpuMicros == 2000, "CPU time is read on every pass")
        #expect(busy.anonBytes == 3_000_000 && busy.fileBytes == 1_096_000, "memory.stat is not read again")
        fs.set(dir, "memory.current", "8192000\n")
        fs.set(dir, "memory.stat", "anon 7000000\nfile 1192000\n")
        let grown = cgroup.usage(given: cgroup.probe(), memory: busy)
        #expect(grown.memoryBytes == 8_192_000)
        #expect(grown.anonBytes == 7_000_000 && grown.fileBytes == 1_192_000)
    }

    @Test func killEndsEveryProcessAtOnceThenTheCgroupGoes() throws {
        let (fs, tree) = delegated()
        let cgroup = tree.service("api")
        try cgroup.create()
        let dir = cgroup.paths[0]
        for pid: Int32 in [900, 901, 902] { fs.place(pid, in: dir) }
        #expect(!cgroup.remove(), "a populated cgroup stays")
        cgroup.kill()
        #expect(fs.killed == [900, 901, 902])
        #expect(fs.writes.contains { $0 == (dir + "/cgroup.kill", "1") })
        #expect(!cgroup.isPopulated())
        #expect(cgroup.remove())
        #expect(!fs.isDirectory(dir))
        tree.removeEmpty(services: ["api"])
        #expect(!fs.isDirectory(tree.bases[""]!))
        #expect(fs.isDirectory(Self.unit + "/warden.supervisor"), "Warden's own leaf is not its to remove")
    }

    @Test func aCgroupThatIsNotDelegatedIsRefusedWithTheReason() {
        let fs = Cgroup2Hierarchy()
        try! fs.write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu +memory +pids")
        fs.prepare("/sys/fs/cgroup/user.slice/session-3.scope", processes: [4242], readOnly: true)
        let result = CgroupTree.discover(
            stateDir: "/s",
            files: fs,
            mountinfo: Self.mountinfo,
            membership: "0::/user.slice/session-3.scope\n",
            pid: 4242
        )
        guard case .failure(let error) = result else {
            Issue.record("discovered \(result)")
            return
        }
        #expect(error.path.hasPrefix("/sys/fs/cgroup/user.slice/session-3.scope/"))
        #expect(error.reason.contains("Permission denied"))
        #expect(error.reason.contains("Delegate=yes"))
    }

    @Test func aCgroupSharedWithOtherProcessesCannotEnableControllers() {
        let fs = Cgroup2Hierarchy()
        try! fs.write("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids")
        fs.prepare("/sys/fs/cgroup/shared.scope", processes: [4242, 5151])
        let result = CgroupTree.discover(
            stateDir: "/s",
            files: fs,
            mountinfo: Self.mountinfo,
            membership: "0::/shared.scope\n",
            pid: 4242
        )
        guard case .failure(let error) = result else {
            Issue.record("discovered \(result)")
            return
        }
        #expect(error.reason.contains("5151"))
    }

    @Test func limitsOfControllersNotDelegatedAreReportedNotSilentlyDropped() throws {
        let fs = Cgroup2Hierarchy()
        try fs.write("/sys/fs/cgroup/cgroup.subtree_control", "+pids")
        fs.prepare("/sys/fs/cgroup/w.service", processes: [1])
        let tree = try CgroupTree.discover(
            stateDir: "/s",
            files: fs,
            mountinfo: Self.mountinfo,
            membership: "0::/w.service\n",
            pid: 1
        ).get()
        #expect(tree.controllers == ["pids"])
        let cgroup = tree.service("db")
        try cgroup.create()
        let problems = cgroup.apply(ResourceLimits(memoryMax: 1 << 30, tasksMax: 10))
        #expect(problems == ["memory_max: the memory controller is not available to Warden"])
        #expect(fs.file(cgroup.paths[0] + "/pids.max") == "10\n")
    }

    @Test func theRootCgroupIsUsedWithoutMovingWarden() throws {
        let fs = Cgroup2Hierarchy()
        fs.prepare("/sys/fs/cgroup", processes: [1, 77])
        let tree = try CgroupTree.discover(
            stateDir: "/s",
            files: fs,
            mountinfo: Self.mountinfo,
            membership: "0::/\n",
            pid: 77
        ).get()
        #expect(tree.bases[""] == "/sys/fs/cgroup/" + CgroupTree.baseName(stateDir: "/s"))
        #expect(tree.controllers.isSuperset(of: ["cpu", "io", "memory", "pids"]))
        #expect(!fs.isDirectory("/sys/fs/cgroup/warden.supervisor"))
    }
}
