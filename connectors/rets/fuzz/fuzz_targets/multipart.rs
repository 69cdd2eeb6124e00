//! Arbitrary bytes as a GetObject reply: the first line is the Content-Type, the rest the
//! body, fed to `ObjectReader` in chunks of 1 to 8 bytes (the first byte picks the size). The
//! reader must return objects or a `RetsParseError`, never panic.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard::rets::ObjectReader;

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let content_type = String::from_utf8_lossy(&rest[..split]).into_owned();
    let body = rest.get(split + 1..).unwrap_or_default().to_vec();
    let chunk = usize::from(size % 8) + 1;
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async move {
        let Ok(mut reader) = ObjectReader::new(
            &content_type,
            http::HeaderMap::new(),
            futures_util::stream::iter(chunks),
        ) else {
            return;
        };
        while let Ok(Some(object)) = reader.next_object().await {
            let _ = object.data.len();
        }
    });
});
