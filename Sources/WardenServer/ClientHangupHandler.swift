import NIOCore

/// Closes a connection once the client has closed its side of it.
///
/// Hummingbird allows half-closed connections, so a client that hangs up mid-request would leave
/// the connection (and the request's work) open until the answer is written. Closing it fires the
/// channel's close future, which ``APIServer/bounded(_:timeout:_:)`` turns into cancellation of
/// the work (nginx's "client closed request"). A client that half-closes and still expects an
/// answer is not served; HTTP clients do not do that.
final class ClientHangupHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
