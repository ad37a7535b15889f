import Foundation
import WardenCore
import WardenDefense
import WardenDetect
import WardenFleet
import WardenFlow
import WardenGitOps
import WardenHeal
import WardenIdentity
import WardenIngest
import WardenSLO
import WardenServer
import WardenStore

/// The entry points the fuzzer drives, one per parser of outside input. Each takes any bytes and
/// must neither crash nor hang; where a parser promises something about its result (every accepted
/// sample within the limits, an address only from the line's own text, a token check equal to
/// plain equality), a broken promise stops the process (`preconditionFailure`) so that the fuzzer
/// reports the input. The same functions replay the committed corpus in `swift test`.
public enum FuzzTargets {
    /// A target's name (the corpus directory under `Fuzz/Corpus/`) and its function.
    public static let all: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("spec", spec), ("json-ingest", jsonIngest), ("prometheus", prometheus), ("influx", influx),
        ("sshd", sshd), ("access-log", accessLog), ("token", token), ("json-value", jsonValue),
        ("address", address), ("fleet-batch", fleetBatch), ("address-list", addressList), ("jwt", jwt),
        ("hook", hook), ("flow", flow), ("matcher", matcher), ("backup", backup), ("fail2ban", fail2ban),
        ("log-time", logTime), ("fail2ban-reading", fail2banReading), ("detectors", detectors),
    ]

    /// Telemetry through every streaming detector: `warden detect` takes any number in a CSV, and a
    /// detector must survive whatever reaches it. The input is records of a control byte and eight
    /// bytes, read as a value (any bit pattern, a small integer, a value near the largest Double)
    /// at a time that steps on, jumps anywhere or goes back. No detector may trap. Through
    /// ``AnyStreamingDetector``, what monitors and `warden detect` use, every unit score is a
    /// number in [0, 1]; the ensemble on its own, fed NaN and infinities as they come, stays in
    /// [0, 1).
    public static func detectors(_ bytes: [UInt8]) {
        // At most 400 records: enough for every warm-up and four days of quarter-hours, and short
        // enough that the fuzzer tries many inputs (ten detectors score each record).
        guard bytes.count <= 400 * 9 else { return }
        var boxed = DetectorKind.allCases.map { $0.make() }
        var ensemble = EnsembleDetector(restPeriod: 0)
        var robust = RobustZScore(window: 16, warmUp: 2)
        var time = 1_800_000_000.0
        var i = 0
        while i + 9 <= bytes.count {
            let control = bytes[i]
            var word: UInt64 = 0
            for k in 1...8 { word = word << 8 | UInt64(bytes[i + k]) }
            i += 9
            let value: Double
            switch control & 3 {
            case 0: value = Double(bitPattern: word)
            case 1: value = Double(Int16(truncatingIfNeeded: word))
            case 2: value = (word & 1 == 0 ? 1 : -1) * .greatestFiniteMagnitude / Double(1 + (word >> 1) % 4)
            default: value = Double(Int32(truncatingIfNeeded: word)) / 1024
            }
            switch (control >> 2) & 3 {
            case 0: time += 60
            case 1: time = Double(bitPattern: word.byteSwapped)
            case 2: time -= Double(word % 100_000)
            default: time += 900 * Double(1 + control >> 4)  // a quarter of an hour to four hours
            }
            for k in boxed.indices {
                let score = boxed[k].unitScore(boxed[k].observe(value, at: time))
                if !(score >= 0 && score <= 1) {
                    preconditionFailure("\(DetectorKind.allCases[k]) scored \(score) for \(value) at \(time)")
                }
            }
            let score = ensemble.observe(value, at: time)
            if !(score >= 0 && score < 1) {
                preconditionFailure("the ensemble scored \(score) for \(value) at \(time)")
            }
            _ = robust.observe(value, at: time)
        }
    }

    /// A filter reading a log (anyone's lines): the first line is a `datepattern` (the
    /// operator's), the rest go through fail2ban's date detector, that pattern, and a reader with
    /// a multi-line buffer and sessions. A date found lies within its line; a reader never holds
    /// more lines than its `maxlines`.
    public static func fail2banReading(_ bytes: [UInt8]) {
        guard bytes.count <= 1 << 16 else { return }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let custom = lines.first.flatMap { try? Fail2banDates(datepattern: String($0)) }
        var reader = readingReader
        for line in lines.dropFirst().prefix(200) {
            let text = String(line.prefix(4096))
            for dates in [Fail2banDates.defaults] + (custom.map { [$0] } ?? []) {
                guard let found = dates.find(in: text, reference: now) else { continue }
                let length = (text as NSString).length
                if found.range.location < 0 || found.range.location + found.range.length > length {
                    preconditionFailure("a date outside its line: \(found.range) of \(length)")
                }
                if let d = found.date, !d.timeIntervalSince1970.isFinite { preconditionFailure("a date not finite") }
            }
            _ = reader.feed(text, budget: .milliseconds(100))
            if reader.buffer.count > 4 { preconditionFailure("\(reader.buffer.count) lines held; maxlines is 4") }
        }
    }

    /// A multi-line filter with sessions, as sshd's and mongodb-auth's are.
    static let readingReader: Fail2banReader = {
        let filter = Fail2banFilter(
            name: "fuzz",
            failregex: [
                #"^\s*s <F-MLFID>\d+</F-MLFID> from <HOST>$"#,
                #"^\s*s <F-MLFID>\d+</F-MLFID> <F-NOFAIL>ok <F-USER>\S+</F-USER></F-NOFAIL>$"#,
                #"^\s*s <F-MLFID>\d+</F-MLFID> <F-MLFFORGET>bye</F-MLFFORGET>$"#,
                #"^\s*login <F-ALT_USER>\S+</F-ALT_USER><SKIPLINES>^\s*denied <HOST>$"#,
            ],
            maxlines: 4
        )
        return Fail2banReader(try! Fail2banMatcher(filter))
    }()

    /// The time a log line states (a line is anyone's text): nil, or a time from 1970 to 9999
    /// that is not after the reading by more than a day when it came from a year-less stamp.
    public static func logTime(_ bytes: [UInt8]) {
        guard bytes.count <= 1 << 16 else { return }
        guard let date = bytes.withUnsafeBufferPointer({ LogTime.stamp($0, reference: now) }) else { return }
        let seconds = date.timeIntervalSince1970
        if !(seconds.isFinite && seconds > -86_400 * 2 && seconds < 253_402_387_200) {
            preconditionFailure("a stated time out of range: \(seconds)")
        }
    }

    /// A fail2ban filter file (`defense.fail2ban` reads the operator's): parsed, its tags
    /// substituted, each value tried as a regex (translated from Python's syntax and compiled).
    public static func fail2ban(_ bytes: [UInt8]) {
        guard bytes.count <= 1 << 16 else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let sections = try? Fail2banConfig.parse(text, file: "fuzz.conf") else { return }
        for section in sections {
            let values = Dictionary(section.values, uniquingKeysWith: { _, b in b })
            let resolved = (try? Fail2banFilter.substituteTags(values) { _ in nil }) ?? values
            for value in resolved.values.prefix(20) {
                for line in value.split(separator: "\n").prefix(20) {
                    if let regex = try? Fail2banRegex(String(line)) {
                        _ = try? regex.firstMatch(
                            in: String(text.prefix(4096)),
                            deadline: .now + .milliseconds(100)
                        )
                    }
                }
            }
        }
    }

    /// The target called `name`.
    public static func named(_ name: String) -> (@Sendable ([UInt8]) -> Void)? {
        all.first { $0.name == name }?.run
    }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let rules = IngestRules(now: now, maxAge: .seconds(86400), maxFuture: .seconds(600))

    /// The spec reader: UTF-8 check, YAML, every section's validation.
    public static func spec(_ bytes: [UInt8]) {
        let loader = SpecLoader(
            environment: ["PATH": "/usr/bin:/bin", "FUZZ_SECRET": "s3cret-token-value"],
            sections: [
                APISection.self, MonitorsSection.self, DefenseSection.self, HealingSection.self, StoreSection.self,
                BackupSection.self,
                FleetSection.self, AuditSection.self, HooksSection.self, FlowSection.self, SLOSection.self,
                AlertingSection.self, GitOpsSection.self,
            ]
        )
        _ = try? loader.parse(bytes: bytes, file: "fuzz.yaml", baseDir: "/nonexistent")
    }

    /// A backup file as `warden restore` reads it (anyone with the file may have changed it): every
    /// input is refused or read whole, never a crash, and what is read is what is said to be.
    public static func backup(_ bytes: [UInt8]) {
        let dir = NSTemporaryDirectory() + "warden-fuzz-backup-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = dir + "/in.wbk"
        let destination = dir + "/out"
        FileManager.default.createFile(atPath: source, contents: Data(bytes))
        // The first byte picks the key: none, or the one the seeds were sealed with.
        let key: [UInt8]? = bytes.first.map { $0 & 1 == 0 ? nil : Array("fuzzing key of enough length".utf8) } ?? nil
        guard let read = try? BackupContainer.read(source: source, destination: destination, key: key) else { return }
        let written = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int64) ?? -1
        guard written == read.size else {
            preconditionFailure("read \(read.size) bytes of backup but wrote \(String(describing: written))")
        }
    }

    /// A label matcher as a silence's author writes it (API, CLI, spec): parsed, matched against
    /// labels of any length, and written back to the same matcher.
    public static func matcher(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self) else { return }
        guard let m = try? LabelMatcher.parse(text) else { return }
        for value in ["", text, String(repeating: "a", count: 5000), "api"] { _ = m.matches([m.name: value]) }
        guard let again = try? LabelMatcher.parse(m.description), again == m else {
            preconditionFailure("\(text) reads as \(m) but \(m.description) does not read back as it")
        }
    }

    /// What a workflow reads from outside: its conditions and templates (from the spec), and
    /// a model's answer (chat completion, JSON, schema check). The first byte picks the part;
    /// conditions and templates are evaluated against a context built from the rest.
    public static func flow(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        let text = String(decoding: rest, as: UTF8.self)
        let context: JSONValue = [
            "event": ["subject": "api", "payload": ["n": 3, "list": [1, "two", ["x": nil]]]],
            "steps": ["a": ["status": "succeeded", "output": ["action": "restart"]]],
        ]
        switch first % 3 {
        case 0:
            if case .success(let c) = FlowCondition.parse(text) {
                _ = c.evaluate(context)
                _ = c.paths
            }
        case 1:
            if case .success(let t) = FlowTemplate.parse(text) {
                _ = t.render(context)
                _ = t.value(context)
            }
            _ = FlowTemplate.fill(["a": .string(text), "b": [.string(text)]], context)
        default:
            let call = LLMCall(
                model: "m",
                prompt: try! FlowTemplate.parse("x").get(),
                schema: [
                    "type": "object", "required": ["action"],
                    "properties": [
                        "action": ["enum": ["restart", "notify"]], "n": ["type": "integer", "maximum": 9],
                    ],
                ]
            )
            if case .success(let answer) = ModelPool.parse(rest, call: call, endpoint: "m") {
                precondition(
                    JSONSchemaCheck.problem(answer.output, call.schema!) == nil,
                    "an answer outside its schema"
                )
            }
            if let v = JSONValue.parse(bytes: rest) { _ = JSONSchemaCheck.unsupported(v) }
        }
    }

    public static func jsonIngest(_ bytes: [UInt8]) {
        let result = bytes.withUnsafeBytes { raw in try? JSONSampleParser.parse(raw, rules: rules) }
        if let result { check(result) }
    }

    public static func prometheus(_ bytes: [UInt8]) {
        check(bytes.withUnsafeBytes { PrometheusTextParser.parse($0, rules: rules) })
        check(bytes.withUnsafeBytes { PrometheusTextParser.parse($0, rules: rules, openMetrics: true) })
    }

    /// The first byte picks the precision.
    public static func influx(_ bytes: [UInt8]) {
        let precisions = InfluxLineParser.Precision.allCases
        let precision = precisions[Int(bytes.first ?? 0) % precisions.count]
        check(bytes.dropFirst().withUnsafeBytes { InfluxLineParser.parse($0, precision: precision, rules: rules) })
    }

    /// A control plane's reading of an agent's batch: parsed or refused with a field, and an
    /// accepted batch keeps its promises (ids increasing, nothing from the far future).
    public static func fleetBatch(_ bytes: [UInt8]) {
        guard case .success(let batch) = FleetBatch.parse(bytes) else { return }
        if batch.problem(now: now) == nil {
            var previous: Int64 = 0
            for e in batch.events {
                precondition(e.id > previous, "ids not increasing in an accepted batch")
                previous = e.id
                precondition(
                    e.timeUs <= Int64((now.timeIntervalSince1970 + 600) * 1_000_000),
                    "an event from the future"
                )
            }
            precondition(batch.events.count <= FleetBatch.maxEvents, "too many events accepted")
            if let samples = batch.samples {
                precondition(samples.points.count <= FleetSamples.maxPoints, "too many points accepted")
                precondition(samples.series.count <= FleetSamples.maxSeries, "too many series accepted")
                previous = 0
                for p in samples.points {
                    precondition(p.series >= 0 && p.series < samples.series.count, "a point of no series")
                    precondition(p.id > previous, "point ids not increasing in an accepted batch")
                    previous = p.id
                    precondition(p.timeUs >= 0, "a point before 1970")
                    precondition(p.timeUs <= Int64((now.timeIntervalSince1970 + 600) * 1_000_000), "a future point")
                }
                for key in samples.series {
                    precondition(SampleRules.isValidSeriesName(key.name), "an invalid series name")
                    precondition(key.labels.count <= SampleRules.maxLabels, "too many labels")
                    for l in key.labels { precondition(SampleRules.isValidLabelName(l.name), "an invalid label name") }
                }
            }
        }
    }

    /// A list read is at most the limit, and written back out it reads the same.
    public static func addressList(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self),
            case .success(let list) = AddressList.parse(text)
        else { return }
        precondition(list.count <= AddressList.maxAddresses, "too many addresses accepted")
        let again = AddressList.parse(list.map(\.description).joined(separator: "\n"))
        guard case .success(let same) = again, same == list else {
            preconditionFailure("a list written back out does not read the same")
        }
    }

    /// Every accepted sample obeys the rules, whatever the format.
    static func check(_ r: IngestResult) {
        precondition(r.origins.count == r.batch.points.count, "a point without its origin")
        for p in r.batch.points {
            precondition(Int(p.series) >= 0 && Int(p.series) < r.batch.series.count, "a point of no series")
            precondition(p.value.isFinite, "a value that is not finite")
            precondition(abs(p.value) <= IngestRules.maxMagnitude, "a value beyond the largest magnitude")
            precondition(p.time >= rules.oldest && p.time <= rules.newest, "a time out of range")
        }
        for key in r.batch.series {
            precondition(SampleRules.isValidSeriesName(key.name), "an invalid series name")
            precondition(key.labels.count <= rules.maxLabels, "too many labels")
            precondition(Set(key.labels.map(\.name)).count == key.labels.count, "a label twice")
            for l in key.labels {
                precondition(SampleRules.isValidLabelName(l.name), "an invalid label name")
                precondition(l.value.utf8.count <= rules.maxLabelValue, "a label value too long")
            }
        }
    }

    public static func sshd(_ bytes: [UInt8]) { lineParser(SSHParser(), bytes) }

    public static func accessLog(_ bytes: [UInt8]) { lineParser(AccessLogParser(), bytes) }

    /// An address a parser reports must be written in the line, as a word of its own.
    static func lineParser(_ parser: any LineParser, _ bytes: [UInt8]) {
        var found: [IPAddress] = []
        _ = bytes.withUnsafeBufferPointer { line in parser.parse(line) { _, a in found.append(a) } }
        guard !found.isEmpty else { return }
        // Split bytes, not Characters: a space followed by a combining mark is one Character, so
        // a split on Characters would not end the word there (a false alarm the fuzzer found).
        let separators = Set(" \t[]()\"',=".utf8)
        let words = bytes.split(whereSeparator: { separators.contains($0) }).compactMap { word -> IPAddress? in
            let text = String(decoding: word, as: UTF8.self)
            return IPAddress(text) ?? IPAddress(text.hasSuffix(":") ? String(text.dropLast()) : text)
        }
        for a in found { precondition(words.contains(a), "an address that is not in the line: \(a)") }
    }

    /// The first two bytes (big-endian) are the secret's length; the secret and then the candidate
    /// follow.
    public static func token(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else { return }
        let rest = Array(bytes.dropFirst(2))
        let cut = min(Int(bytes[0]) << 8 | Int(bytes[1]), rest.count)
        let secret = Array(rest[..<cut])
        let candidate = Array(rest[cut...])
        let matched = Secret(String(decoding: secret, as: UTF8.self)).matches(candidate)
        let stored = Array(String(decoding: secret, as: UTF8.self).utf8)
        precondition(matched == (!stored.isEmpty && candidate == stored), "the token check disagrees with equality")
    }

    /// The JSON reader behind journal entries, stored labels and rebuild outputs.
    public static func jsonValue(_ bytes: [UInt8]) {
        guard let value = JSONValue.parse(String(decoding: bytes, as: UTF8.self)) else { return }
        precondition(JSONValue.parse(value.jsonText) == value, "JSON that does not survive a round trip")
    }

    /// Addresses, blocks, durations and sizes as people and logs write them.
    public static func address(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let a = IPAddress(text) {
            precondition(IPAddress(a.description) == a, "an address that does not round-trip")
        }
        if let c = CIDR(text) { precondition(c.contains(c.base), "a block without its base") }
        if let d = DurationFormat.parse(text) { precondition(d >= .zero, "a negative duration") }
        if let b = ByteSize.parse(text) { precondition(b >= 0, "a negative size") }
        _ = ISOTime.parse(text)
    }

    static let issuer = OIDCIssuerSpec(
        issuer: "https://id.example/realms/ops",
        audiences: ["warden"],
        roles: RoleMapping(claim: "realm.groups", values: [.viewer: ["read"], .operator: ["ops"], .admin: ["root"]])
    )

    /// A bearer token as the API receives it (taken apart and its claims checked, as before any
    /// key is fetched) and a `Cookie` header as the dashboard's session reads it. An accepted
    /// shape names an accepted algorithm; an identity has a role its claims map to, and no more
    /// than the operator's reading when it shows no second factor.
    public static func jwt(_ bytes: [UInt8]) {
        let cookie = SessionCookie.value(of: [String(decoding: bytes, as: UTF8.self)])
        if let cookie {
            precondition(cookie.utf8.count <= 128 && !cookie.contains(";"), "a session id out of bounds")
        }
        guard case .success(let shape) = JWTShape.parse(bytes) else { return }
        precondition(JWTShape.acceptedAlgorithms.contains(shape.algorithm), "an algorithm that is not accepted")
        guard case .success(let who) = ClaimCheck.check(shape.claims, against: issuer, now: 1.8e9) else { return }
        let granted = ClaimCheck.strings(at: issuer.roles.claim, in: shape.claims)
        precondition(issuer.roles.role(for: granted) == who.mappedRole, "a role the claims do not map to")
        precondition(who.mfa || who.role == .viewer, "more than reading without a second factor")
    }

    static let hooks: [HookSpec] = HookSpec.Format.allCases.map { format in
        HookSpec(
            name: format.rawValue,
            verify: .timestamped(header: "Sig", secret: Secret("fuzz-secret"), tolerance: .seconds(300)),
            format: format,
            eventType: "hook.fuzz",
            subjectPath: "data.object.id"
        )
    }

    /// A webhook delivery: the first line is every header's value, the rest the body. Each
    /// verification reads it (a signature it did not make is never verified) and each format maps
    /// it (at most the alert limit of events, each of the format's own types).
    public static func hook(_ bytes: [UInt8]) {
        let cut = bytes.firstIndex(of: 10) ?? bytes.count
        let value = String(decoding: bytes[..<cut], as: UTF8.self)
        let body = Array(bytes[min(cut + 1, bytes.count)...])
        let header = { (_: String) -> String? in value }
        for verification in [
            HookSpec.Verification.token(header: "Authorization", secret: Secret("fuzz-token")),
            .github(secret: Secret("fuzz-secret")),
            .timestamped(header: "Sig", secret: Secret("fuzz-secret"), tolerance: .seconds(300)),
        ] {
            if case .verified = HookVerifier.verify(verification, header: header, body: body, now: 1_800_000_000) {
                // Only the token can be guessed by a fuzzer, and only by writing it.
                guard case .token = verification else { preconditionFailure("a signature verified without the secret") }
                precondition(value.contains("fuzz-token"), "a token verified that is not the token")
            }
        }
        for spec in hooks {
            guard case .success(let events) = HookMapper.events(spec, body: body, header: header) else { continue }
            precondition(events.count <= HookMapper.maxAlerts, "more events than alerts allowed")
            for e in events {
                let prefix = spec.format == .github ? "github." : spec.format == .json ? "hook.fuzz" : "alert."
                precondition(e.type.hasPrefix(prefix), "an event of another type: \(e.type)")
                precondition(e.subject.utf8.count <= 800, "a subject out of bounds")
            }
        }
    }
}
