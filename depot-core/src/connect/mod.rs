//! The Connect protocol (<https://connectrpc.com/docs/protocol>) as Depot's API speaks it:
//! binary protobuf, unary calls with raw bodies, streaming calls with enveloped messages, and
//! errors as JSON `{"code","message"}`.

mod client;
pub mod compression;
pub mod envelope;
mod error;

pub use client::{
    Client, ClientOptions, MAX_MESSAGE_BYTES, ResponseStream, STREAM_PROTO, UNARY_PROTO,
};
pub use error::{Code, ConnectError};
