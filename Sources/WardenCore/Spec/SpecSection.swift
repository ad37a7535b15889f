import Yams

/// A top-level section of the spec that a domain owns: WardenDefense reads `defense:` into its
/// own types, next to the code they configure. Core does not know the section's types; the
/// composition root hands the sections to the ``SpecLoader`` (`SpecLoader(sections:)`), and the
/// domain reads its value back with `spec.sections[Section.self]` (usually through a property
/// it adds to ``Spec``, such as `spec.defense`).
public protocol SpecSection {
    /// What the section reads into.
    associatedtype Value: Sendable & Equatable
    /// The section's top-level key, such as `defense`.
    static var key: String { get }
    /// Other top-level keys the section reads (healing also reads `notify:` and `policies:`).
    static var otherKeys: [String] { get }
    /// Keys the section reads inside the named entries of other sections, by section: healing
    /// reads `heal:` in `services:` and `monitors:` entries (`["services": ["heal"], ...]`).
    /// The owner of those entries allows the keys only when a section that reads them is
    /// registered, so a key nobody reads is an error, never silently ignored.
    static var entryKeys: [String: [String]] { get }
    /// Reads the section's node, reporting every problem to `reader` (with nil when the section
    /// is unusable).
    static func read(_ node: Node, _ context: SpecContext, _ reader: inout YAMLReader) -> Value?
    /// Reads the section from the whole top-level mapping; called for every registered section,
    /// even when its key is absent (healing must read the `heal:` of services without a
    /// `healing:` key). By default, reads `key`'s node when present.
    static func read(top: YAMLReader.Fields, _ context: SpecContext, _ reader: inout YAMLReader) -> Value?
}

/// What a section may consult while it reads: the spec's core sections (services, samples, …)
/// and the sections registered before it, the loader (secret references, the environment) and
/// the directory relative paths resolve against.
public struct SpecContext: Sendable {
    public var spec: Spec
    public var loader: SpecLoader
    public var baseDir: String
}

extension SpecSection {
    public static var otherKeys: [String] { [] }
    public static var entryKeys: [String: [String]] { [:] }

    /// A section that reads the whole top level (``read(top:_:_:)``) need not read a single node.
    public static func read(_ node: Node, _ context: SpecContext, _ reader: inout YAMLReader) -> Value? { nil }

    public static func read(top: YAMLReader.Fields, _ context: SpecContext, _ reader: inout YAMLReader) -> Value? {
        guard let node = top[key] else { return nil }
        return read(node, context, &reader)
    }
}

/// The values of the domain sections of one spec, by section.
public struct SpecSections: Sendable, Equatable {
    private struct Entry: Sendable {
        let value: any Sendable
        let equals: @Sendable (any Sendable) -> Bool
    }
    private var entries: [String: Entry] = [:]

    public init() {}

    /// The value read for `section`, nil when the spec has no such section.
    public subscript<S: SpecSection>(_ section: S.Type) -> S.Value? {
        get { entries[S.key]?.value as? S.Value }
        set {
            guard let newValue else {
                entries[S.key] = nil
                return
            }
            entries[S.key] = Entry(value: newValue, equals: { ($0 as? S.Value) == newValue })
        }
    }

    /// The keys of the sections present.
    public var keys: [String] { entries.keys.sorted() }

    /// Whether the section `key` is the same in both (both absent included).
    public func same(_ key: String, as other: SpecSections) -> Bool {
        switch (entries[key], other.entries[key]) {
        case (nil, nil): return true
        case (let a?, let b?): return a.equals(b.value)
        default: return false
        }
    }

    public static func == (a: SpecSections, b: SpecSections) -> Bool {
        a.entries.count == b.entries.count
            && a.entries.allSatisfy { key, entry in b.entries[key].map { entry.equals($0.value) } ?? false }
    }
}
