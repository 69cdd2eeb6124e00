//! Arbitrary bytes as a COMPACT search reply: `CompactReader` must return rows or a
//! `RetsParseError`, never panic, and give the same outcome however the bytes arrive.

#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use switchboard::rets::{CompactReader, RetsParseError};

/// Everything the reader gives, as text: the header, each row's fields, the trailer, or the
/// error that ended it.
fn outcome<R: std::io::BufRead>(reader: R) -> (Vec<String>, Result<(), RetsParseError>) {
    let mut reader = CompactReader::new(reader);
    let mut seen = Vec::new();
    let result = (|| {
        seen.push(format!("{:?}", reader.read_header_sync()?));
        while let Some(row) = reader.next_row_sync()? {
            let mut fields = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                let value = row.get(i).expect("a field below len()");
                assert!(row.raw(i).is_some());
                fields.push(value.into_owned());
            }
            assert_eq!(row.get(row.len()), None);
            if let Some(first) = row.columns().first() {
                let _ = row.by_name(first);
            }
            let owned = row.to_row();
            assert_eq!(owned.values(), &fields[..]);
            let _ = owned.to_json();
            seen.push(format!("{fields:?}"));
        }
        seen.push(format!("{:?}", reader.trailer()));
        Ok(())
    })();
    if let Err(e) = &result {
        // Errors are sticky and carry an offset inside the input.
        assert_eq!(reader.next_row_sync().err().as_ref(), Some(e));
        assert!(e.offset().is_some(), "{e}");
    }
    (seen, result)
}

fuzz_target!(|data: &[u8]| {
    let whole = outcome(data);
    // The same bytes three at a time: same rows, same error at the same offset.
    let trickled = outcome(BufReader::with_capacity(3, data));
    assert_eq!(whole, trickled);
    if let Err(e) = &whole.1 {
        assert!(e.offset().unwrap_or(0) <= data.len() as u64, "{e}");
    }
});
