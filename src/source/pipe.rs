//! One message on standard input, as an MTA's pipe transport delivers it.

use std::io::Read;

/// Reads the whole message. Nothing is cut: an oversized message is still kept, and
/// quarantined by the pipeline.
pub fn read_message(input: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(16 * 1024);
    input.read_to_end(&mut raw)?;
    Ok(raw)
}
