//! Client operations on registries: copying an image (or index) to one or more registries,
//! merging images into one index, pulling an image into the local Docker Engine or into an
//! OCI Image Layout directory, and
//! the same for images saved by builds, found through the Depot API. Each reports its progress
//! per blob to a [`ProgressSink`].
//!
//! Registries on loopback addresses (and hosts listed in `DEPOT_INSECURE_REGISTRIES`,
//! comma-separated) are spoken to over plain HTTP, as Docker does; every other registry over
//! HTTPS.

mod copy;
mod credentials;
mod docker;
mod engine_progress;
mod index;
mod layout;
mod manifests;
mod mount_token;
mod packaged;
mod progress;
mod pull_layout;
mod saved;

use std::path::PathBuf;

use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
pub use oci_client::secrets::RegistryAuth;

pub use copy::{CopyOptions, copy_image};
pub use credentials::push_credentials;
pub use docker::{DockerPull, pull_into_docker};
pub use index::{IndexSource, OCI_INDEX, PushedIndex, push_index};
pub use packaged::{PullRequest, Pulled, copy_references, pull_reference};
pub use progress::{BlobTransfer, ProgressEvent, ProgressSink};
pub use pull_layout::{LayoutPull, pull_into_layout};
pub use saved::{
    PullDestination, Pushed, SavedError, SavedImage, destination, list_images, load_build,
    push_build, resolve, resolve_build, resolve_tag, single,
};

/// Blobs transferred at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Everything client operations can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An image reference could not be parsed.
    #[error("invalid image reference {reference:?}: {message}")]
    Reference {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// A registry refused or failed a request.
    #[error("{operation} {reference}")]
    Registry {
        /// What was being done.
        operation: &'static str,
        /// The image.
        reference: String,
        /// The cause.
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    /// A manifest could not be understood.
    #[error("{reference}: {message}")]
    Manifest {
        /// The image.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// Credentials could not be read.
    #[error("credentials for {host}: {message}")]
    Credentials {
        /// The registry.
        host: String,
        /// What is wrong.
        message: String,
    },
    /// Content did not match its descriptor.
    #[error("blob {digest}: {message}")]
    Integrity {
        /// The digest the content should have.
        digest: String,
        /// What is wrong.
        message: String,
    },
    /// An image layout directory is not usable.
    #[error("image layout {}: {message}", path.display())]
    Layout {
        /// The offending file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing an image layout failed.
    #[error("image layout {}", path.display())]
    LayoutIo {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The Docker Engine API failed.
    #[error("the Docker Engine failed")]
    Docker(#[from] bollard::errors::Error),
    /// A copy was asked for with nowhere to copy to.
    #[error("name at least one destination to copy to")]
    NoDestination,
    /// The Docker Engine could not pull an image.
    #[error("the Docker Engine could not pull {reference}: {message}")]
    DockerPull {
        /// The image.
        reference: String,
        /// The Engine's message.
        message: String,
    },
}

impl depot_core::Classify for ClientError {
    fn kind(&self) -> depot_core::ErrorKind {
        use depot_core::ErrorKind;
        match self {
            ClientError::Reference { .. } | ClientError::NoDestination => {
                ErrorKind::InvalidArgument
            }
            ClientError::Credentials { .. } => ErrorKind::Config,
            _ => ErrorKind::Registry,
        }
    }
}

/// An image and the credentials to reach it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The image (`host[:port]/repository[:tag|@digest]`).
    pub reference: Reference,
    /// Credentials for its registry.
    pub auth: RegistryAuth,
}

impl Endpoint {
    /// Parses `reference`; a reference without a registry host means Docker Hub.
    pub fn parse(reference: &str, auth: RegistryAuth) -> Result<Self, ClientError> {
        let parsed =
            reference
                .parse()
                .map_err(|e: oci_client::ParseError| ClientError::Reference {
                    reference: reference.to_owned(),
                    message: e.to_string(),
                })?;
        Ok(Self {
            reference: parsed,
            auth,
        })
    }
}

/// Whether `host` is spoken to over plain HTTP.
pub fn is_insecure(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback
        || std::env::var("DEPOT_INSECURE_REGISTRIES").is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .any(|entry| entry == host || entry == name)
        })
}

/// An oci-client for talking to `registry`.
pub(crate) fn oci_client(registry: &str) -> oci_client::Client {
    // oci-client's TLS stack needs a process-wide crypto provider; installing it twice is a
    // harmless error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if is_insecure(registry) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        use_monolithic_push: true,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_insecure() {
        assert!(is_insecure("127.0.0.1:5000"));
        assert!(is_insecure("localhost"));
        assert!(is_insecure("[::1]:5000"));
        assert!(!is_insecure("registry.example.com"));
        assert!(!is_insecure("10.0.0.1:5000"));
    }
}
