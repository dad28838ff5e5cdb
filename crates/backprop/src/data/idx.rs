//! Reader for IDX files, the format of MNIST and its relatives.
//!
//! An IDX file is a 4-byte magic (`0x00 0x00`, an element-type code, the
//! number of dimensions), one big-endian `u32` per dimension, then the
//! elements, row-major. Only unsigned-byte elements (type `0x08`) are
//! supported. A file may be gzip-compressed; that is detected from its first
//! two bytes, not from its name.

use std::cmp::Ordering;
use std::fs;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::{Error, Result};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The element-type code of unsigned bytes, the only one supported.
const TYPE_U8: u8 = 0x08;
/// The most dimensions accepted.
const MAX_DIMS: usize = 4;

/// The content of an IDX file: its dimensions and its elements.
///
/// ```
/// let a = backprop::data::IdxArray { dims: vec![2, 3], data: vec![0; 6] };
/// assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The size of each dimension, outermost first (e.g. `[N, 28, 28]`).
    pub dims: Vec<usize>,
    /// The elements, row-major; its length is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes, plain or gzip-compressed.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] when the
/// gzip stream is corrupt, the header is invalid (magic, element type,
/// number of dimensions) or the data is shorter or longer than the
/// dimensions require. Each message names the file and, where meaningful,
/// the byte offset.
///
/// ```no_run
/// use std::path::Path;
/// let labels = backprop::data::read_idx(Path::new("data/mnist-10k/t10k-labels-idx1-ubyte.gz"))?;
/// assert_eq!(labels.dims, vec![1996]);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&GZIP_MAGIC) {
        let bytes = gunzip(&raw).map_err(|m| Error::format(path, m))?;
        parse_idx(bytes).map_err(|m| Error::format(path, format!("{m} (in the gzip-decompressed data)")))
    } else {
        parse_idx(raw).map_err(|m| Error::format(path, m))
    }
}

/// Decompresses a whole gzip stream held in memory.
fn gunzip(compressed: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    GzDecoder::new(compressed)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt or truncated gzip stream (after {} decompressed bytes): {e}", out.len()))?;
    Ok(out)
}

/// Parses the bytes of a whole (decompressed) IDX file; errors are messages
/// without the file name.
fn parse_idx(mut bytes: Vec<u8>) -> Result<IdxArray, String> {
    let (dims, header_len) = parse_header(&bytes)?;
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} are too large: their product overflows"))?;
    let found = bytes.len() - header_len;
    match found.cmp(&expected) {
        Ordering::Less => {
            return Err(format!("truncated: expected {expected} bytes of data after the header, found {found}"));
        }
        Ordering::Greater => {
            return Err(format!(
                "{} unexpected trailing bytes at byte offset {}: dimensions {dims:?} need {expected} bytes of data \
                 after the header, found {found}",
                found - expected,
                header_len + expected
            ));
        }
        Ordering::Equal => {}
    }
    bytes.drain(..header_len);
    Ok(IdxArray { dims, data: bytes })
}

/// Validates the header and returns the dimensions and the header length.
fn parse_header(bytes: &[u8]) -> Result<(Vec<usize>, usize), String> {
    let [m0, m1, type_code, ndims, ..] = *bytes else {
        return Err(format!("too short for an IDX header: {} bytes, need at least 4", bytes.len()));
    };
    if [m0, m1] != [0, 0] {
        return Err(format!(
            "bad magic number: expected 0x00 0x00 at byte offset 0, found 0x{m0:02x} 0x{m1:02x} (not an IDX file)"
        ));
    }
    if type_code != TYPE_U8 {
        return Err(format!(
            "unsupported element type 0x{type_code:02x} ({}) at byte offset 2; only 0x{TYPE_U8:02x} (unsigned byte) \
             is supported",
            type_name(type_code)
        ));
    }
    let ndims = usize::from(ndims);
    if !(1..=MAX_DIMS).contains(&ndims) {
        return Err(format!("unsupported number of dimensions {ndims} at byte offset 3; expected 1 to {MAX_DIMS}"));
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(format!(
            "truncated header: {ndims} dimensions need a {header_len}-byte header, found {} bytes",
            bytes.len()
        ));
    }
    let dims =
        bytes[4..header_len].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    Ok((dims, header_len))
}

/// The name of an IDX element-type code, for error messages.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => "unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(type_code: u8, dims: &[u32]) -> Vec<u8> {
        let mut out = vec![0, 0, type_code, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn parses_a_valid_file() {
        let mut bytes = header(0x08, &[2, 3]);
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let a = parse_idx(bytes).unwrap();
        assert_eq!(a, IdxArray { dims: vec![2, 3], data: vec![1, 2, 3, 4, 5, 6] });
    }

    #[test]
    fn accepts_a_zero_dimension() {
        let a = parse_idx(header(0x08, &[0, 28, 28])).unwrap();
        assert_eq!(a.dims, vec![0, 28, 28]);
        assert!(a.data.is_empty());
    }

    #[test]
    fn rejects_other_element_types() {
        let mut bytes = header(0x0D, &[1]);
        bytes.extend_from_slice(&[0; 4]);
        let e = parse_idx(bytes).unwrap_err();
        assert!(e.contains("0x0d") && e.contains("offset 2"), "{e}");
    }

    #[test]
    fn rejects_bad_dimension_counts() {
        for n in [0u8, 5, 255] {
            let e = parse_idx(vec![0, 0, 0x08, n]).unwrap_err();
            assert!(e.contains("number of dimensions") && e.contains("offset 3"), "{e}");
        }
    }

    #[test]
    fn rejects_short_headers() {
        assert!(parse_idx(vec![0, 0]).unwrap_err().contains("too short"));
        let e = parse_idx(vec![0, 0, 0x08, 2, 0, 0, 0, 1]).unwrap_err();
        assert!(e.contains("truncated header"), "{e}");
    }

    #[test]
    fn rejects_truncated_and_trailing_data() {
        let mut bytes = header(0x08, &[4]);
        bytes.extend_from_slice(&[1, 2, 3]);
        let e = parse_idx(bytes.clone()).unwrap_err();
        assert_eq!(e, "truncated: expected 4 bytes of data after the header, found 3");
        bytes.extend_from_slice(&[4, 5, 6]);
        let e = parse_idx(bytes).unwrap_err();
        assert!(e.contains("2 unexpected trailing bytes at byte offset 12"), "{e}");
    }

    #[test]
    fn rejects_overflowing_dimensions() {
        let e = parse_idx(header(0x08, &[u32::MAX, u32::MAX, u32::MAX, u32::MAX])).unwrap_err();
        assert!(e.contains("overflow"), "{e}");
    }

    #[test]
    fn garbled_gzip_is_an_error() {
        let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
        bytes.extend_from_slice(b"this is not deflate data at all");
        assert!(gunzip(&bytes).unwrap_err().contains("gzip"));
    }
}
