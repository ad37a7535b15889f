#if canImport(Glibc)
import Glibc
#endif

/// Users and groups of the host, for dropping privileges.
public enum Accounts {
    /// A resolved identity to run a service as.
    public struct Identity: Sendable, Hashable {
        public var uid: UInt32
        public var gid: UInt32
        public var groups: [UInt32]
        public var userName: String?
        public var home: String?
    }

    /// The uid and primary gid of `user` (a name or a number), or nil when there is no such user.
    public static func user(_ user: String) -> (uid: UInt32, gid: UInt32, name: String, home: String)? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let uid = UInt32(user) {
            getpwuid_r(uid, &pwd, &buffer, buffer.count, &result)
            guard result != nil else { return (uid, uid, user, "/") }
        } else {
            getpwnam_r(user, &pwd, &buffer, buffer.count, &result)
            guard result != nil else { return nil }
        }
        return (pwd.pw_uid, pwd.pw_gid, String(cString: pwd.pw_name), String(cString: pwd.pw_dir))
    }

    /// The gid of `group` (a name or a number), or nil when there is no such group.
    public static func group(_ group: String) -> UInt32? {
        if let gid = UInt32(group) { return gid }
        var grp = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        getgrnam_r(group, &grp, &buffer, buffer.count, &result)
        guard result != nil else { return nil }
        return grp.gr_gid
    }

    /// The identity for `user`/`group` with the user's supplementary groups; nil when either does
    /// not exist.
    public static func identity(user: String?, group: String?) -> Identity? {
        var uid = getuid()
        var gid = getgid()
        var name: String?
        var home: String?
        if let user {
            guard let u = Self.user(user) else { return nil }
            uid = u.uid
            gid = u.gid
            name = u.name
            home = u.home
        }
        if let group {
            guard let g = Self.group(group) else { return nil }
            gid = g
        }
        var groups: [UInt32] = [gid]
        if let name {
            var count: Int32 = 64
            var list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(name, gid, &list, &count) == -1 {
                list = [gid_t](repeating: 0, count: Int(count))
                getgrouplist(name, gid, &list, &count)
            }
            groups = Array(list.prefix(Int(max(0, count))))
        }
        return Identity(uid: uid, gid: gid, groups: groups, userName: name, home: home)
    }
}
