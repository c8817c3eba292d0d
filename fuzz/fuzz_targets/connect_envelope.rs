//! Connect envelope decoding (client- and server-streaming bodies): any bytes, split into
//! frames of any size, gzip or not, decode into bounded messages or an error, never a panic
//! or an unbounded allocation.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use depot_core::connect::envelope::EnvelopeReader;
use futures_util::stream;
use http_body::Frame;
use http_body_util::StreamBody;
use libfuzzer_sys::fuzz_target;

const MAX_MESSAGE: usize = 64 * 1024;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&settings, body)) = data.split_first() else {
        return;
    };
    let gzip = settings & 0x80 != 0;
    let frame_len = usize::from(settings & 0x3f) + 1;
    let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = body
        .chunks(frame_len)
        .map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk))))
        .collect();
    let mut reader = EnvelopeReader::new(StreamBody::new(stream::iter(frames)), MAX_MESSAGE, gzip);
    runtime().block_on(async {
        while let Ok(Some(envelope)) = reader.next().await {
            assert!(envelope.payload.len() <= MAX_MESSAGE);
        }
    });
});
