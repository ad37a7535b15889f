import Synchronization
import WardenStore

/// Gives new jobs straight to this process's workflow worker while it has room.
///
/// An intake reserves places, leases the jobs it queues to them in the same transaction as
/// the queueing (``JobStore/enqueue(_:recording:leasing:)``), and hands them over: the worker
/// starts them without being woken and without asking the store for them (two round trips
/// fewer on every webhook's way to its run). The leases are ordinary ones: a Warden that dies
/// with them is taken back at the next start, or by another worker when they run out.
final class JobHandoff: Sendable {
    private struct Open {
        let room: AsyncLimiter
        let jobs: AsyncStream<Job>.Continuation
        let owner: String
        let lease: Duration
        /// Which opening this is: only its worker closes it.
        let token: Int
        var handed = 0
    }
    private let state = Mutex<Open?>(nil)
    private let openings = Atomic<Int>(0)

    /// Places taken for an intake: one lease owner each.
    struct Reservation: Sendable {
        var owners: [String]
        var lease: Duration
        fileprivate let room: AsyncLimiter
        fileprivate let jobs: AsyncStream<Job>.Continuation
    }

    /// Opens the way to a worker whose places are `room`; jobs handed over come out of the
    /// stream, each holding a place of `room` that the worker releases when done with it.
    /// Leases are named `owner` and a number, and last `lease`. A worker opening it takes it over
    /// from the one before (whose stream ends). Returns the token that closes it.
    func open(room: AsyncLimiter, owner: String, lease: Duration) -> (jobs: AsyncStream<Job>, token: Int) {
        let (stream, continuation) = AsyncStream<Job>.makeStream()
        let token = openings.add(1, ordering: .relaxed).newValue
        let previous = state.withLock { s -> Open? in
            defer { s = Open(room: room, jobs: continuation, owner: owner, lease: lease, token: token) }
            return s
        }
        previous?.jobs.finish()
        return (stream, token)
    }

    /// Whether a worker takes jobs this way now.
    var isOpen: Bool { state.withLock { $0 != nil } }

    /// Closes the way opened with `token` (not one a later worker opened since): reservations
    /// fail from now on, and its stream ends.
    func close(_ token: Int) {
        state.withLock { s -> Open? in
            guard let open = s, open.token == token else { return nil }
            s = nil
            return open
        }?.jobs.finish()
    }

    /// Takes up to `count` free places of the worker (nil when it is closed or has no room).
    func reserve(_ count: Int) -> Reservation? {
        state.withLock { s -> Reservation? in
            guard var open = s, count > 0 else { return nil }
            var owners: [String] = []
            while owners.count < count, open.room.tryAcquire() {
                open.handed &+= 1
                owners.append("\(open.owner)\(open.handed)")
            }
            s = open
            guard !owners.isEmpty else { return nil }
            return Reservation(owners: owners, lease: open.lease, room: open.room, jobs: open.jobs)
        }
    }

    /// Hands `jobs` (leased to the reservation's owners) to the worker and gives back the places
    /// left unused. Returns the jobs the worker could not take (it closed meanwhile): their
    /// leases are the caller's to give back.
    func hand(_ jobs: [Job], _ reservation: Reservation) -> [Job] {
        var taken = 0
        var refused: [Job] = []
        for job in jobs {
            if case .enqueued = reservation.jobs.yield(job) {
                taken += 1
            } else {
                refused.append(job)
            }
        }
        for _ in 0..<max(0, reservation.owners.count - taken) { reservation.room.release() }
        return refused
    }

    /// Gives back every place of a reservation whose jobs were not queued.
    func cancel(_ reservation: Reservation) {
        for _ in reservation.owners { reservation.room.release() }
    }
}
