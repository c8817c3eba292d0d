//! depot-rs's end-to-end tests, one binary with a module per suite: real depot-server
//! processes (`depot_tests`, the harness), Docker Engine 26's BuildKit, CNCF distribution, the
//! official `depot` CLI, docker, skopeo and oras. Run them all with `cargo test -p depot-tests`
//! (after `cargo build --workspace --all-targets`), or one suite with a filter:
//! `cargo test -p depot-tests --test it -- registry::`.

mod api;
mod bake;
mod build_lifecycle;
mod builder_pool;
mod builders;
mod buildkit;
mod dashboard;
mod depot_build;
mod depot_cli;
mod dockerfile_builds;
mod limits;
mod multi_platform;
mod official_cli;
mod official_sdk;
mod oidc;
mod protocols;
mod public_api;
mod pull_push;
mod registry;
mod registry_clients;
mod registry_tokens;
mod registry_uploads;
mod step_logs;
mod trust_policies;
