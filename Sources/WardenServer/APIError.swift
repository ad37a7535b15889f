import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error the API answers with on purpose: a status, a stable code, a message and the field at
/// fault. Anything else that escapes a handler becomes a bare 500 (details stay in the log).
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public static func badRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, "bad_request", message, field: field)
    }

    public static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [String: String] = ["code": code, "message": message]
        if let field { body["field"] = field }
        let data = try APICoding.encoder().encode(["error": body])
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
