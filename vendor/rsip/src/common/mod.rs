pub mod language;
pub mod method;
pub mod status_code;
pub mod transport;
pub mod uri;
pub mod version;

pub use language::Language;
pub use method::Method;
pub use status_code::{StatusCode, StatusCodeKind};
pub use transport::Transport;
pub use uri::param;
pub use uri::Uri;
pub use version::Version;
