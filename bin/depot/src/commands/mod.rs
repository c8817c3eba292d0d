//! One module per command.

pub mod bake;
pub mod build;
pub mod builder_settings;
pub mod cache;
pub mod image;
pub mod init;
pub mod list;
pub mod login;
pub mod projects;
pub mod pull;
pub mod pull_token;
pub mod push;
pub mod registry;
pub mod trust_policies;
