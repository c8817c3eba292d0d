//! Depot's API messages and typed clients, generated from `depot-core/proto` at build time.
//!
//! Each service has a `<Service>Client` (e.g. [`depot::cli::v1::BuildServiceClient`]) and a
//! module of procedure paths (e.g. [`depot::cli::v1::build_service::CREATE_BUILD`]).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Every `.proto` file above (and the well-known types they use) as an encoded
/// `google.protobuf.FileDescriptorSet`: what the server transcodes JSON and gRPC with.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// Depot's own packages.
pub mod depot {
    /// APIs used by the `depot` CLI.
    pub mod cli {
        /// `depot.cli.v1`: builds and pushes.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/depot.cli.v1.rs"));
        }
        /// `depot.cli.v1beta1`: login and projects.
        pub mod v1beta1 {
            include!(concat!(env!("OUT_DIR"), "/depot.cli.v1beta1.rs"));
        }
    }
    /// Core platform APIs.
    pub mod core {
        /// `depot.core.v1`: organizations, projects and trust policies.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/depot.core.v1.rs"));
        }
    }
    /// Build platform APIs.
    pub mod build {
        /// `depot.build.v1`: builds of the public API, and registry images.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/depot.build.v1.rs"));
        }
    }
    /// Depot's public BuildKit API.
    pub mod buildkit {
        /// `depot.buildkit.v1`: a registered build's BuildKit endpoint.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/depot.buildkit.v1.rs"));
        }
    }
}

/// The subset of BuildKit's control API that Depot's API carries.
pub mod moby {
    /// BuildKit.
    pub mod buildkit {
        /// `moby.buildkit.v1`: build status.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.rs"));
        }
    }
}

/// depot-rs extensions of Depot's API, served by depot-server only.
pub mod depotrs {
    /// `depotrs.v1`: registry retention policies.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/depotrs.v1.rs"));
    }
}
