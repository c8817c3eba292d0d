//! gzip, the one compression Connect peers negotiate in practice.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::error::{Code, ConnectError};

/// Compresses `data` with gzip.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Decompresses gzip `data`, refusing output larger than `limit` bytes (a decompression bomb).
pub fn gunzip(data: &[u8], limit: usize) -> Result<Bytes, ConnectError> {
    let mut out = Vec::new();
    GzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ConnectError::invalid_argument("invalid gzip data").with_source(e))?;
    if out.len() > limit {
        return Err(ConnectError::new(
            Code::ResourceExhausted,
            format!("decompressed message exceeds the limit of {limit} bytes"),
        ));
    }
    Ok(out.into())
}
