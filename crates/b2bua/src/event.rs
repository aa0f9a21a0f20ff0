//! What the transaction layer hands its caller: [`TuEvent`]s for the TU, [`Transmit`]s for
//! the transport, and the [`Incoming`] disposition of each received message.

use std::sync::Arc;

use rsip::{Request, Response};

use crate::{Flow, TimerKind, TransactionId};

/// Something the transaction user (the B2BUA core) must act on. Drain with
/// [`crate::TransactionLayer::poll_event`] after every `handle_*` and `send_*` call.
#[derive(Debug)]
#[non_exhaustive]
pub enum TuEvent {
    /// A new request created server transaction `id`; answer it with
    /// [`crate::TransactionLayer::send_response`]. Retransmissions never produce a second
    /// event. For a CANCEL, `cancels` names the INVITE server transaction it matches
    /// (RFC 3261 §9.2; the TU answers 200 to the CANCEL and 487 to that INVITE), or is
    /// `None` (answer 481).
    Request {
        /// The new server transaction.
        id: TransactionId,
        /// The request, as parsed.
        request: Request,
        /// Where it came from; responses go back there.
        flow: Flow,
        /// For a CANCEL: the INVITE server transaction with the same branch and sent-by.
        cancels: Option<TransactionId>,
    },
    /// An ACK no transaction absorbed: it acknowledges a 2xx, which is end-to-end
    /// (RFC 3261 §13.3.1.4, RFC 6026 §8.7), or it is stray. `transaction` is the INVITE
    /// server transaction in Accepted it matched by branch, if any.
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        flow: Flow,
        /// The matched INVITE server transaction (only when the peer reused its branch).
        transaction: Option<TransactionId>,
    },
    /// A response for client transaction `id`: provisional, final, or (RFC 6026 Accepted)
    /// a retransmitted or forked 2xx to an INVITE, which the TU must ACK again.
    Response {
        /// The client transaction.
        id: TransactionId,
        /// The response.
        response: Response,
    },
    /// A response that matches no client transaction (§17.1.3): a late 2xx retransmission,
    /// or garbage. The TU decides (RFC 3261 §18.1.2: a UA core drops it; a proxy forwards).
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        flow: Flow,
    },
    /// Timer B or F (client: no final response) or Timer H (server: no ACK) fired; a
    /// `Terminated` event follows.
    Timeout {
        /// The transaction.
        id: TransactionId,
        /// Which timer: [`TimerKind::B`], [`TimerKind::F`] or [`TimerKind::H`].
        timer: TimerKind,
    },
    /// The transport reported a failure for this transaction (§17.1.4, §17.2.4); a
    /// `Terminated` event follows.
    TransportError {
        /// The transaction.
        id: TransactionId,
    },
    /// The transaction is gone; its id will never be used again.
    Terminated {
        /// The transaction.
        id: TransactionId,
    },
}

/// Bytes to send, and where. Drain with [`crate::TransactionLayer::poll_transmit`].
///
/// Transmits leave in exactly the order the layer produced them (one FIFO queue for the
/// whole layer), so within a transaction a 180 handed over before a 200 is sent first,
/// and a request goes out before its retransmissions.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// The flow to send on.
    pub flow: Flow,
    /// One whole SIP message. Shared with the transaction that may retransmit it.
    pub bytes: Arc<[u8]>,
    /// The transaction that sent it (`None` for [`crate::TransactionLayer::send_stateless`]);
    /// report a failure with [`crate::TransactionLayer::handle_transport_error`].
    pub transaction: Option<TransactionId>,
}

/// What [`crate::TransactionLayer::handle_incoming`] did with a message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Incoming {
    /// A new server transaction; a [`TuEvent::Request`] is queued.
    New(TransactionId),
    /// The message belonged to this transaction (a response, a retransmission that was
    /// absorbed or answered, an ACK).
    Matched(TransactionId),
    /// No transaction: queued as [`TuEvent::Ack`] or [`TuEvent::StrayResponse`].
    PassedUp,
    /// A new request but the transaction cap is reached: no state was created. Answer it
    /// `503 Service Unavailable` statelessly (e.g. `drawbridge_sip::response_to` +
    /// [`crate::TransactionLayer::send_stateless`]), or drop it. An ACK is never refused.
    Overloaded(Box<Request>),
}
