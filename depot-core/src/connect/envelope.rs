//! Connect streaming envelopes: `[flags:u8][length:u32 big-endian][payload]`.

use bytes::{Buf, Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

use super::compression;
use super::error::{Code, ConnectError};

/// The payload is compressed with the stream's negotiated encoding.
pub const FLAG_COMPRESSED: u8 = 0x01;
/// The envelope ends the stream; its payload is the JSON end-of-stream message.
pub const FLAG_END_STREAM: u8 = 0x02;

const HEADER_LEN: usize = 5;

/// Frames `payload` as one envelope.
pub fn encode(flags: u8, payload: &[u8]) -> Bytes {
    let len = u32::try_from(payload.len()).expect("envelope payloads are bounded far below 4 GiB");
    let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&[flags]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.freeze()
}

/// The end-of-stream envelope for a stream that ended with `error` (or cleanly with `None`).
pub fn end_stream(error: Option<&ConnectError>) -> Bytes {
    let payload = match error {
        Some(err) => format!(
            "{{\"error\":{}}}",
            String::from_utf8(err.to_json()).expect("JSON is UTF-8")
        ),
        None => "{}".to_owned(),
    };
    encode(FLAG_END_STREAM, payload.as_bytes())
}

/// One decoded envelope.
#[derive(Debug)]
pub struct Envelope {
    /// Flag bits (see [`FLAG_COMPRESSED`], [`FLAG_END_STREAM`]).
    pub flags: u8,
    /// The payload, already decompressed.
    pub payload: Bytes,
}

/// Reads envelopes from an HTTP body as they arrive, never holding more than one message
/// (bounded by `max_message`) plus one read chunk in memory.
pub struct EnvelopeReader<B> {
    body: B,
    buf: BytesMut,
    max_message: usize,
    gzip: bool,
    done: bool,
}

impl<B> EnvelopeReader<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Reads from `body`; `gzip` says whether compressed envelopes use gzip.
    pub fn new(body: B, max_message: usize, gzip: bool) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
            max_message,
            gzip,
            done: false,
        }
    }

    /// The next envelope, or `None` at a clean end of body.
    pub async fn next(&mut self) -> Result<Option<Envelope>, ConnectError> {
        loop {
            if self.buf.len() >= HEADER_LEN {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().expect("4 bytes")) as usize;
                if len > self.max_message {
                    return Err(ConnectError::new(
                        Code::ResourceExhausted,
                        format!(
                            "message of {len} bytes exceeds the limit of {} bytes",
                            self.max_message
                        ),
                    ));
                }
                if self.buf.len() >= HEADER_LEN + len {
                    let flags = self.buf[0];
                    self.buf.advance(HEADER_LEN);
                    let raw = self.buf.split_to(len).freeze();
                    let payload = if flags & FLAG_COMPRESSED != 0 {
                        if !self.gzip {
                            return Err(ConnectError::internal(
                                "received a compressed message without a negotiated encoding",
                            ));
                        }
                        compression::gunzip(&raw, self.max_message)?
                    } else {
                        raw
                    };
                    return Ok(Some(Envelope { flags, payload }));
                }
            }
            if self.done {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnectError::invalid_argument(
                        "stream ended inside a message envelope",
                    ))
                };
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => {
                    return Err(
                        ConnectError::new(Code::Unavailable, "reading stream failed")
                            .with_source(err),
                    );
                }
                None => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn reads_back_what_was_framed() {
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&encode(0, b"hello"));
        wire.extend_from_slice(&encode(0, b""));
        wire.extend_from_slice(&end_stream(None));
        let mut reader = EnvelopeReader::new(Full::new(wire.freeze()), 1024, false);
        assert_eq!(&reader.next().await.unwrap().unwrap().payload[..], b"hello");
        assert_eq!(reader.next().await.unwrap().unwrap().payload.len(), 0);
        let end = reader.next().await.unwrap().unwrap();
        assert_eq!(end.flags, FLAG_END_STREAM);
        assert_eq!(&end.payload[..], b"{}");
        assert!(reader.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rejects_truncated_and_oversized_envelopes() {
        let framed = encode(0, b"hello");
        let mut reader = EnvelopeReader::new(Full::new(framed.slice(..7)), 1024, false);
        assert_eq!(
            reader.next().await.unwrap_err().code(),
            Code::InvalidArgument
        );
        let mut reader = EnvelopeReader::new(Full::new(framed), 4, false);
        assert_eq!(
            reader.next().await.unwrap_err().code(),
            Code::ResourceExhausted
        );
    }

    #[tokio::test]
    async fn decompresses_gzip_envelopes() {
        let packed = compression::gzip(b"payload");
        let framed = encode(FLAG_COMPRESSED, &packed);
        let mut reader = EnvelopeReader::new(Full::new(framed.clone()), 1024, true);
        assert_eq!(
            &reader.next().await.unwrap().unwrap().payload[..],
            b"payload"
        );
        let mut reader = EnvelopeReader::new(Full::new(framed), 1024, false);
        assert!(reader.next().await.is_err());
    }
}
