import ArgumentParser
import Foundation
import WardenCore
import WardenStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit trail: check that its chain of records is whole.",
        subcommands: [AuditVerifyCommand.self]
    )
}

struct AuditVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every record of the audit chain; say which were edited, deleted or reordered.",
        discussion: """
            Exits 0 when the chain is whole, 1 when something is wrong (each problem on a line of its
            own: its kind, the record's number and what was found). With --against, the chain is also
            compared with a copy shipped as it happened (audit.file), which shows a chain rewritten
            from some record on and records cut off its end.
            """
    )

    @OptionGroup var spec: SpecOptions
    @Option(name: .customLong("against"), help: "A JSON-lines copy shipped by audit.file to compare with.")
    var shipped: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        let store = try target.store()
        var verifier = AuditVerifier(anchor: try await store.auditAnchor())
        var after = try await store.auditAnchor()?.seq ?? 0
        while true {
            let batch = try await store.auditLinks(after: after, limit: 5_000)
            guard let last = batch.last else { break }
            for (link, stored) in batch { verifier.check(link, stored: stored) }
            after = last.link.seq
        }
        verifier.finish(highestWritten: try await store.auditHighestWritten())
        var shippedLines = 0
        if let shipped {
            guard let handle = FileHandle(forReadingAtPath: shipped) else {
                printError("warden: cannot read \(shipped)")
                throw ExitCode(1)
            }
            defer { try? handle.close() }
            var lineNumber = 0
            var pending: [UInt8] = []
            func take(_ line: ArraySlice<UInt8>) async throws {
                lineNumber += 1
                if line.isEmpty { return }
                guard let value = JSONValue.parse(String(decoding: line, as: UTF8.self)),
                    let seq = value["seq"]?.intValue, let hash = value["hash"]?.stringValue
                else {
                    printError("warden: \(shipped):\(lineNumber): not a record of the audit trail")
                    throw ExitCode(1)
                }
                shippedLines += 1
                verifier.compare(shipped: seq, hash: hash, stored: try await store.auditLink(seq))
            }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                pending += chunk
                var start = pending.startIndex
                while let nl = pending[start...].firstIndex(of: 10) {
                    try await take(pending[start..<nl])
                    start = nl + 1
                }
                pending.removeSubrange(..<start)
            }
            if !pending.isEmpty { try await take(pending[...]) }
        }
        try await store.close()
        let problems = verifier.problems
        if json {
            print(
                JSONValue.object([
                    "records": .int(Int64(verifier.checked)),
                    "first": verifier.first.map { .int($0) } ?? .null,
                    "last": verifier.head.map { .int($0.seq) } ?? .null,
                    "head": verifier.head.map { .string(AuditLink.hex($0.hash)) } ?? .null,
                    "shipped": .int(Int64(shippedLines)),
                    "problems": .array(
                        problems.map {
                            .object([
                                "kind": .string($0.kind.rawValue), "record": .int($0.seq),
                                "message": .string($0.message),
                            ])
                        }
                    ),
                    "more_problems": .int(Int64(verifier.moreProblems)),
                ]).jsonText
            )
        } else {
            for p in problems { print(p.description) }
            if verifier.moreProblems > 0 { print("… and \(verifier.moreProblems) more problems") }
            if problems.isEmpty {
                if let head = verifier.head, let first = verifier.first {
                    let against = shipped.map { ", and agrees with the \(shippedLines) records of \($0)" } ?? ""
                    print(
                        "the audit chain is whole: \(verifier.checked) records, \(first)…\(head.seq), head "
                            + "\(AuditLink.hex(head.hash))\(against)"
                    )
                } else {
                    print("the audit chain is empty")
                }
            }
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}
