import Crypto
import Foundation
import WardenCore

/// One record of the audit trail, chained to the one before it.
///
/// Every `audit.*` event the store commits becomes a link, in the same transaction: its number
/// (`seq`, 1, 2, 3 … with no gaps), the event as it was stored, the hash of the link before
/// (32 zero bytes for the first) and its own hash, the SHA-256 of all of that (see
/// ``digest(previous:seq:eventID:timeMicros:type:source:subject:payload:)``). Editing a link's
/// content, deleting one or reordering two breaks a hash or a `previous`; rewriting the whole
/// chain from some link on is caught against a copy shipped elsewhere as it happened (a JSON-lines
/// file or syslog, see ``AuditShipper``), which is what makes the trail tamper-evident rather
/// than tamper-proof: someone who can write the database can recompute it, not the copies.
public struct AuditLink: Sendable, Hashable {
    public var seq: Int64
    public var eventID: Int64
    /// Microseconds since 1970, as the event's time is stored.
    public var timeMicros: Int64
    public var type: String
    public var source: String
    public var subject: String
    /// The event's payload as stored (JSON text).
    public var payload: String
    public var previous: [UInt8]
    public var hash: [UInt8]

    public init(
        seq: Int64,
        eventID: Int64,
        timeMicros: Int64,
        type: String,
        source: String,
        subject: String,
        payload: String,
        previous: [UInt8],
        hash: [UInt8]
    ) {
        self.seq = seq
        self.eventID = eventID
        self.timeMicros = timeMicros
        self.type = type
        self.source = source
        self.subject = subject
        self.payload = payload
        self.previous = previous
        self.hash = hash
    }

    /// The link that follows `previous` (nil: the first) for `event`.
    public init(event: Event, after previous: (seq: Int64, hash: [UInt8])?) {
        let prev = previous?.hash ?? AuditLink.genesis
        let seq = (previous?.seq ?? 0) + 1
        let micros = StoreValues.micros(event.time)
        let payload = event.payload.jsonText
        self.init(
            seq: seq,
            eventID: event.id,
            timeMicros: micros,
            type: event.type,
            source: event.source,
            subject: event.subject,
            payload: payload,
            previous: prev,
            hash: AuditLink.digest(
                previous: prev,
                seq: seq,
                eventID: event.id,
                timeMicros: micros,
                type: event.type,
                source: event.source,
                subject: event.subject,
                payload: payload
            )
        )
    }

    /// What the first link follows.
    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// SHA-256 over the previous hash, the three numbers (8 bytes each, big-endian) and the four
    /// texts, each preceded by its length in bytes (8, big-endian), so that no two different
    /// links hash the same bytes.
    public static func digest(
        previous: [UInt8],
        seq: Int64,
        eventID: Int64,
        timeMicros: Int64,
        type: String,
        source: String,
        subject: String,
        payload: String
    ) -> [UInt8] {
        var h = SHA256()
        func number(_ n: Int64) {
            withUnsafeBytes(of: n.bigEndian) { h.update(bufferPointer: $0) }
        }
        func text(_ s: String) {
            var s = s
            number(Int64(s.utf8.count))
            s.withUTF8 { h.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        }
        h.update(data: previous)
        number(seq)
        number(eventID)
        number(timeMicros)
        text(type)
        text(source)
        text(subject)
        text(payload)
        return Array(h.finalize())
    }

    /// The hash this link's content calls for.
    public var expectedHash: [UInt8] {
        Self.digest(
            previous: previous,
            seq: seq,
            eventID: eventID,
            timeMicros: timeMicros,
            type: type,
            source: source,
            subject: subject,
            payload: payload
        )
    }

    /// The event this link records.
    public var event: Event {
        Event(
            id: eventID,
            time: StoreValues.date(timeMicros),
            type: type,
            source: source,
            subject: subject,
            payload: JSONValue.parse(payload) ?? .string(payload)
        )
    }

    /// One line of a shipped copy: the link's numbers and hashes and the event.
    public var json: JSONValue {
        .object([
            "seq": .int(seq), "event_id": .int(eventID), "time": .string(ISOTime.format(StoreValues.date(timeMicros))),
            "time_us": .int(timeMicros), "type": .string(type), "source": .string(source),
            "subject": .string(subject), "payload": JSONValue.parse(payload) ?? .string(payload),
            "previous": .string(Self.hex(previous)), "hash": .string(Self.hex(hash)),
        ])
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Where the chain kept in the store begins when older links were pruned by retention: the last
/// pruned link's number and hash.
public struct AuditAnchor: Sendable, Hashable {
    public var seq: Int64
    public var hash: [UInt8]

    public init(seq: Int64, hash: [UInt8]) {
        self.seq = seq
        self.hash = hash
    }
}

/// Something `warden audit verify` found wrong.
public struct AuditProblem: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A link's content no longer matches its hash.
        case edited
        /// Links are missing between two that remain (or at the end, against a shipped copy).
        case deleted
        /// A link does not follow the one stored before it: moved, or replaced by another.
        case reordered
        /// The stored chain and a shipped copy disagree about a link: the chain was rewritten.
        case rewritten
        /// The event a link records was changed in the events table.
        case eventEdited = "event-edited"
    }

    public var kind: Kind
    /// The link concerned.
    public var seq: Int64
    public var message: String

    public var description: String { "\(kind.rawValue) at record \(seq): \(message)" }
}

/// Checks a chain link by link; costs one pass and keeps only the last link.
public struct AuditVerifier: Sendable {
    public private(set) var problems: [AuditProblem] = []
    public private(set) var checked = 0
    public private(set) var first: Int64?
    /// The last link seen.
    public private(set) var head: AuditLink?
    private var expectedSeq: Int64
    private var expectedPrevious: [UInt8]
    /// Problems beyond this many are counted, not kept.
    public static let maxProblems = 1_000
    public private(set) var moreProblems = 0

    /// Starts after `anchor` (the pruned part), or at the first link.
    public init(anchor: AuditAnchor?) {
        expectedSeq = (anchor?.seq ?? 0) + 1
        expectedPrevious = anchor?.hash ?? AuditLink.genesis
    }

    /// Checks the next link in stored order; `stored` is the event its id names in the events
    /// table (nil: gone, as retention deletes old events).
    public mutating func check(_ link: AuditLink, stored: Event?) {
        if first == nil { first = link.seq }
        checked += 1
        let intact = link.expectedHash == link.hash
        if !intact {
            report(.edited, link.seq, "its content does not match its hash (\(link.type) \(link.subject))")
        }
        if link.seq > expectedSeq {
            let gap = link.seq - expectedSeq == 1 ? "\(expectedSeq)" : "\(expectedSeq)…\(link.seq - 1)"
            report(.deleted, expectedSeq, "record \(gap) is missing before record \(link.seq)")
        } else if link.seq < expectedSeq {
            report(.reordered, link.seq, "it is stored after record \(expectedSeq - 1)")
        }
        if link.seq == expectedSeq, link.previous != expectedPrevious {
            report(.reordered, link.seq, "it does not follow record \(link.seq - 1) (moved or replaced)")
        }
        if intact, let stored, stored != link.event {
            report(.eventEdited, link.seq, "event \(link.eventID) in the events table differs from the record")
        }
        expectedSeq = max(expectedSeq, link.seq + 1)
        expectedPrevious = link.hash
        head = link
    }

    /// Checks that the chain ends where the store says the highest record was written (a tail
    /// deleted without a shipped copy to compare with).
    public mutating func finish(highestWritten: Int64) {
        let last = head?.seq ?? (expectedSeq - 1)
        if highestWritten > last {
            let gap = highestWritten == last + 1 ? "\(highestWritten)" : "\(last + 1)…\(highestWritten)"
            report(.deleted, last + 1, "record \(gap) was written and is gone from the end of the chain")
        }
    }

    /// Compares the stored chain with one line of a shipped copy (`seq` and `hash` from it).
    /// Call after every stored link was checked, with the stored link of that number (nil: none).
    public mutating func compare(shipped seq: Int64, hash: String, stored: AuditLink?) {
        guard let stored else {
            if let head, seq > head.seq {
                report(.deleted, seq, "the shipped copy has it; the store ends at record \(head.seq)")
            } else if let first, seq >= first {
                report(.deleted, seq, "the shipped copy has it; the store does not")
            }
            return
        }
        if AuditLink.hex(stored.hash) != hash {
            report(.rewritten, seq, "its hash differs from the shipped copy's")
        }
    }

    private mutating func report(_ kind: AuditProblem.Kind, _ seq: Int64, _ message: String) {
        if problems.count < Self.maxProblems {
            problems.append(AuditProblem(kind: kind, seq: seq, message: message))
        } else {
            moreProblems += 1
        }
    }
}
