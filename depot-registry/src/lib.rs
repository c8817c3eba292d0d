//! depot-registry: OCI distribution for depot-rs.
//!
//! - [`reference`](mod@reference): the spec's grammar (repository names, tags, digests) and streaming hashers;
//! - `server` (feature `server`): the registry server (OCI Distribution Spec v1.1), mounted by
//!   depot-server;
//! - `client` (feature `client`): copying images between registries and pulling them into the
//!   Docker Engine or an OCI image layout directory.

#[cfg(feature = "client")]
pub mod client;
pub mod reference;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "server")]
use rand::Rng;
#[cfg(feature = "server")]
use rand::distr::Alphanumeric;

/// A random 32-character alphanumeric id (upload sessions, temporary files).
#[cfg(feature = "server")]
pub(crate) fn random_id() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Whether `id` could come from [`random_id`]; checked before ids reach file paths.
#[cfg(feature = "server")]
pub(crate) fn is_random_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}
