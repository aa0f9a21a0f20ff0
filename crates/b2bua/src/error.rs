//! Errors of the transaction layer, one enum per failure domain.

use crate::TransactionId;

/// Why a message could not be matched to, or start, a transaction. Messages that went
/// through `drawbridge_sip::parse_message` only hit this for a missing RFC 3261 branch
/// on a request the TU sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A header the transaction layer needs is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header the transaction layer needs does not parse.
    #[error("unparseable {0} header")]
    BadHeader(&'static str),
    /// A request we send must carry a top Via branch starting with `z9hG4bK` (RFC 3261
    /// §8.1.1.7); use `TransactionLayer::new_branch`.
    #[error("top Via has no branch starting with z9hG4bK; generate one with new_branch()")]
    NoRfc3261Branch,
}

/// Why the TU's request or response was refused. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No live transaction has this id (it terminated, or never existed).
    #[error("no transaction {0:?}: it has terminated or never existed")]
    UnknownTransaction(TransactionId),
    /// The id names a client transaction; responses go on server transactions.
    #[error("{0:?} is a client transaction; send responses on server transactions")]
    NotServer(TransactionId),
    /// A final response was already sent; only a 2xx to an INVITE may be retransmitted
    /// by the TU (RFC 6026 Accepted state).
    #[error("{id:?} already sent its final response; {status} cannot follow it")]
    AfterFinal {
        /// The transaction.
        id: TransactionId,
        /// The refused status code.
        status: u16,
    },
    /// Status codes outside 100..=699 cannot be sent.
    #[error("status code {0} is outside 100..=699")]
    BadStatus(u16),
    /// ACK is not a transaction: send ACK for 2xx with `send_stateless`.
    #[error("ACK for a 2xx is not a transaction; send it with send_stateless")]
    AckIsNotATransaction,
    /// A client transaction with the same branch and method is still alive.
    #[error("a client transaction with this branch and method already exists: {0:?}")]
    DuplicateBranch(TransactionId),
    /// The transaction cap is reached; try later or answer 503.
    #[error("transaction limit of {limit} reached")]
    Overloaded {
        /// The configured cap.
        limit: usize,
    },
    /// The message lacks what the transaction layer needs.
    #[error(transparent)]
    Message(#[from] MessageError),
}
