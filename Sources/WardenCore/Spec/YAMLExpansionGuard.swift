import CYaml

/// Bounds what a YAML text stands for once its aliases are expanded, before the tree is composed.
///
/// An alias is shared when composed, but the YAML library hashes every mapping key whole to find
/// duplicates, and a key built of aliases of aliases ("billion laughs") is expanded into
/// trillions of nodes there; a reader that walks an aliased value does the same. The guard reads
/// the parser's events once, gives every node its expanded size (an alias counts as the node it
/// names) and refuses the text when the whole document would hold more than ``maxExpandedNodes``.
/// A spec written by hand holds a few thousand; anchors and aliases used to share settings stay
/// far below the bound.
///
/// The guard runs the same parser the composer runs, so it sees keys exactly as the composer
/// does: an alias key, a flow collection of aliases used as a key, a key that spans lines.
/// Syntax errors are left to the composer, which reports them with its own message.
enum YAMLExpansionGuard {
    /// The most nodes a document may expand to.
    static let maxExpandedNodes = 1_000_000

    /// Where the expansion passed the bound, and how far it had come.
    struct Excess: Error, Equatable {
        /// 1-based line and column of the alias (or node) that took the count past the bound.
        var line: Int
        var column: Int
    }

    /// Nil when the text's documents each expand to at most `limit` nodes (or the text does not parse).
    static func excess(in text: String, limit: Int = maxExpandedNodes) -> Excess? {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return nil }
        return bytes.withUnsafeMutableBufferPointer { buffer -> Excess? in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return nil }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            // Expanded sizes of the collections being read, outermost first, and their anchors.
            var open: [(size: Int, anchor: String?)] = []
            var anchors: [String: Int] = [:]
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                let mark = Excess(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
                // A finished node of `size`: counted into its parent, or into the document.
                func add(_ size: Int, anchor: String?) -> Excess? {
                    if let anchor { anchors[anchor] = size }
                    if open.isEmpty {
                        return size > limit ? mark : nil
                    }
                    open[open.count - 1].size += size
                    return open[open.count - 1].size > limit ? mark : nil
                }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return nil
                case YAML_DOCUMENT_START_EVENT:
                    anchors.removeAll(keepingCapacity: true)
                case YAML_SCALAR_EVENT:
                    if let found = add(1, anchor: name(event.data.scalar.anchor)) { return found }
                case YAML_ALIAS_EVENT:
                    // An alias of an anchor not yet closed (or never defined) is the composer's error.
                    let size = name(event.data.alias.anchor).flatMap { anchors[$0] } ?? 1
                    if let found = add(size, anchor: nil) { return found }
                case YAML_SEQUENCE_START_EVENT:
                    open.append((1, name(event.data.sequence_start.anchor)))
                case YAML_MAPPING_START_EVENT:
                    open.append((1, name(event.data.mapping_start.anchor)))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let closed = open.popLast() else { return nil }
                    if let found = add(closed.size, anchor: closed.anchor) { return found }
                default:
                    break
                }
            }
        }
    }

    private static func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
