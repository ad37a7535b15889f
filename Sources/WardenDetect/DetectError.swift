import WardenCore

extension WardenError.Code {
    /// A model or detector parameter is out of range (`nu` outside (0, 1], an unknown detector).
    public static let invalidParameter = WardenError.Code("invalid_parameter")
    /// Input data cannot be used: empty, ragged, not finite, unparsable CSV.
    public static let invalidData = WardenError.Code("invalid_data")
}
