import Testing
import WardenSupervisor

/// The kernel's cgroup files, as Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/*.rst show
/// them, and the process's own view of its mounts and cgroups.
@Suite("Cgroup file formats")
struct CgroupFormatsTests {
    @Test func keyedFilesGiveTheirCounters() {
        let events = CgroupFormats.keyed("low 0\nhigh 12\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n")
        #expect(events["oom_kill"] == 1)
        #expect(events["high"] == 12)
        let oomControl = CgroupFormats.keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
        #expect(oomControl["oom_kill"] == 4)
        // A line that is not `key number` is left out, not misread.
        #expect(CgroupFormats.keyed("some avg10=0.00 total=3\nusage_usec 17\n") == ["usage_usec": 17])
        #expect(CgroupFormats.number("max\n") == nil)
        #expect(CgroupFormats.number("8192\n") == 8192)
    }

    /// The scan that keeps only some keys reads what the general parser reads, on the host's own
    /// v1 `memory.stat` and on lines that are not counters.
    @Test func keyedWithChosenKeysReadsWhatTheGeneralParserReads() throws {
        let host = try String(contentsOfFile: "/sys/fs/cgroup/memory/memory.stat", encoding: .utf8)
        let odd = "total_rss\ncache 12x\nrss 99999999999999999999999\n\nanon 5 6\nfile  42  \nmapped_file 7"
        for text in [host, odd, "", "\n\n"] {
            let all = CgroupFormats.keyed(text)
            #expect(all.count > 20 || text != host, "the host's memory.stat has its counters")
            for keys: Set<String> in [
                ["total_rss", "rss", "total_cache", "cache"], ["anon", "file"], ["mapped_file"],
            ] {
                #expect(CgroupFormats.keyed(text, only: keys) == all.filter { keys.contains($0.key) }, "\(keys)")
            }
        }
        #expect(
            CgroupFormats.keyed("file  42  \nmapped_file 7", only: ["file", "mapped_file"]) == [
                "file": 42, "mapped_file": 7,
            ]
        )
        #expect(CgroupFormats.value(of: "usage_usec", in: "usage_usec 17\nuser_usec 3\n") == 17)
    }

    @Test func ioCountersAreSummedOverDevices() {
        let v2 = CgroupFormats.ioStat(
            "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n"
                + "8:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021\n"
        )
        #expect(v2.read == 1_459_200 + 90_430_464)
        #expect(v2.written == 314_773_504 + 299_008_000)
        let v1 = CgroupFormats.blkioServiceBytes(
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12288\n"
                + "8:16 Read 1\n8:16 Write 2\nTotal 12291\n"
        )
        #expect(v1.read == 4097)
        #expect(v1.written == 8194)
    }

    @Test func pressureReadsTheSomeLine() {
        let p = CgroupFormats.pressure(
            "some avg10=12.50 avg60=1.00 avg300=0.00 total=123456\nfull avg10=2.00 avg60=0.00 avg300=0.00 total=99\n"
        )
        #expect(p?.avg10 == 12.5)
        #expect(p?.totalMicros == 123_456)
        #expect(CgroupFormats.pressure("full avg10=2.00 avg60=0.00 avg300=0.00 total=99\n") == nil)
    }

    @Test func mountsAndMembershipOfAHybridHost() {
        let mountinfo = """
            25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
            26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
            27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
            31 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
            32 25 0:30 /docker/abc /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup rw,memory
            40 25 0:31 / /mnt/with\\040space rw - cgroup cgroup rw,pids
            41 30 0:32 / /proc rw - proc proc rw
            """
        let mounts = CgroupFormats.mounts(mountinfo)
        #expect(mounts.count == 5)
        #expect(mounts.first { $0.unified }?.path == "/sys/fs/cgroup/unified")
        #expect(mounts.first { $0.controllers.contains("cpuacct") }?.controllers == ["cpu", "cpuacct"])
        #expect(mounts.first { $0.controllers.contains("memory") }?.root == "/docker/abc")
        #expect(mounts.first { $0.controllers.contains("pids") }?.path == "/mnt/with space")
        let own = CgroupFormats.membership("12:pids:/a\n4:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n")
        #expect(own["pids"] == "/a")
        #expect(own["cpu"] == "/b" && own["cpuacct"] == "/b")
        #expect(own[""] == "/d")
    }

    @Test func procsAndControllers() {
        #expect(CgroupFormats.pids("12\n345\n\n0\n-1\nx\n") == [12, 345])
        #expect(CgroupFormats.controllers("cpuset cpu io memory pids\n") == ["cpuset", "cpu", "io", "memory", "pids"])
    }
}
