//! The call layer: dialogs, the B2BUA logic and topology hiding, on top of the
//! transaction layer.

mod config;
mod core;
mod digest;
mod headers;
mod ids;
mod media;
mod side;
mod state;

pub use self::config::{
    Advertised, B2buaConfig, Credentials, DEFAULT_ALLOWED, NEVER_CROSS, Pbx, Trunk,
};
pub use self::core::{B2bua, B2buaEvent, Counters, HandleError, TrunkDownReason};
pub use self::media::{CallAdmission, CallHandle, MediaAllocator, MediaAnchor, MediaRefused};
pub use self::side::{Outside, PeerId, Side};
pub use self::state::Leg;
