//! Errors of building a guard from a configuration.

/// Why a [`Guard`](crate::Guard) or one of its parts could not be built.
///
/// Configuration validation (`drawbridge check`) already rejects these; the guard checks
/// again because it must never run with a policy it cannot enforce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// A dial prefix is not digits with an optional leading `+`.
    #[error(
        "guard.dial.{list}[{index}] = {value:?} is not a dial prefix; write digits with an optional leading +, e.g. \"+1900\""
    )]
    InvalidDialPrefix {
        /// `allow_prefixes` or `deny_prefixes`.
        list: &'static str,
        /// Position in the list.
        index: usize,
        /// The prefix as written.
        value: String,
    },
    /// A scanner User-Agent pattern is empty and would match every request.
    #[error(
        "guard.scanner_user_agents[{index}] is empty and would match every User-Agent; remove it"
    )]
    EmptyScannerPattern {
        /// Position in the list.
        index: usize,
    },
    /// More trunks than a [`TrunkId`](crate::TrunkId) can number.
    #[error("{count} trunks configured; at most {max} are supported")]
    TooManyTrunks {
        /// Trunks configured.
        count: usize,
        /// The limit.
        max: usize,
    },
}
