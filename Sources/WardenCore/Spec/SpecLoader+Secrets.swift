import Foundation

/// Secret references: what the spec writes instead of a secret.
extension SpecLoader {
    /// Resolves `env:NAME` or `file:PATH`; a literal secret in the spec is refused.
    public func resolveSecret(_ reference: String) -> Result<Secret, SecretProblem> {
        if reference.hasPrefix("env:") {
            let name = String(reference.dropFirst(4))
            guard let value = environment[name], !value.isEmpty else {
                return .failure(
                    SecretProblem(
                        message:
                            "the environment variable \(name) is not set (or empty); export it before starting Warden"
                    )
                )
            }
            return .success(Secret(value))
        }
        if reference.hasPrefix("file:") {
            let path = String(reference.dropFirst(5))
            guard let contents = BoundedFile.read(path, limit: 65536) else {
                return .failure(SecretProblem(message: "cannot read the secret file \(path)"))
            }
            guard case .whole(let bytes) = contents else {
                return .failure(
                    SecretProblem(message: "the secret file \(path) is larger than 64KB; it must hold one secret")
                )
            }
            let value = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { return .failure(SecretProblem(message: "the secret file \(path) is empty")) }
            return .success(Secret(value))
        }
        return .failure(
            SecretProblem(message: "secrets are referenced, never written in the spec: use env:NAME or file:PATH")
        )
    }

    /// Why a secret reference could not be resolved (never contains the secret).
    public struct SecretProblem: Error {
        public var message: String
    }
}
