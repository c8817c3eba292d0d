//! One module per command.

pub mod cache;
pub mod init;
pub mod list;
pub mod login;
pub mod projects;
pub mod pull_token;
