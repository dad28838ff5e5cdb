//! Reader for IDX files, the format of MNIST and its relatives.
//!
//! An IDX file is a 4-byte magic (`0x00 0x00`, an element-type code, the
//! number of dimensions), one big-endian `u32` per dimension, then the
//! elements, row-major. Only unsigned-byte elements (type `0x08`) are
//! supported. A file may be gzip-compressed (one or several gzip members, as
//! `cat a.gz b.gz` makes); that is detected from its first two bytes, not
//! from its name.
//!
//! The header is read first and the size it declares is checked against the
//! bytes the file can hold before anything is allocated: a raw file must hold
//! exactly the declared bytes, and a gzip stream is inflated only up to the
//! declared size plus one byte (a longer stream is refused without inflating
//! the rest), never past what its compressed size can expand to.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::{Error, Result};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The element-type code of unsigned bytes, the only one supported.
const TYPE_U8: u8 = 0x08;
/// The most dimensions accepted.
const MAX_DIMS: usize = 4;
/// The most bytes one compressed byte of deflate data can inflate to (the
/// format's limit is 1032:1); bounds what a gzip file may declare.
const MAX_DEFLATE_RATIO: u64 = 1032;
/// How a gzip decoding error begins.
const CORRUPT_GZIP: &str = "corrupt or truncated gzip stream";
/// Bytes reserved at a time while inflating, so memory follows the data that
/// actually arrives rather than the size the header claims.
const CHUNK: usize = 1 << 22;

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

/// Reads an IDX file of unsigned bytes, plain or gzip-compressed (one or
/// more gzip members).
///
/// A dimension may be 0 (the file then holds no elements); whether an empty
/// array is acceptable is for the caller to say ([`load_idx_pair`](super::load_idx_pair)
/// refuses it).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] when the
/// gzip stream is corrupt, the header is invalid (magic, element type,
/// number of dimensions), the declared size is more than the file can hold,
/// or the data is shorter or longer than the dimensions require. Each
/// message names the file and, where meaningful, the byte offset.
///
/// ```no_run
/// use std::path::Path;
/// let labels = backprop::data::read_idx(Path::new("data/mnist-10k/t10k-labels-idx1-ubyte.gz"))?;
/// assert_eq!(labels.dims, vec![1996]);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut reader = BufReader::new(file);
    let start = reader.fill_buf().map_err(|e| Error::io(path, e))?;
    if start.starts_with(&GZIP_MAGIC) {
        let bound = len.saturating_mul(MAX_DEFLATE_RATIO);
        read_from(MultiGzDecoder::new(reader), Stored::Gzip { compressed: len, bound }).map_err(|m| {
            let corrupt = m.starts_with(CORRUPT_GZIP);
            Error::format(path, if corrupt { m } else { format!("{m} (in the gzip-decompressed data)") })
        })
    } else {
        let named_gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        read_from(reader, Stored::Raw { len }).map_err(|m| {
            // A .gz name on a file that is neither gzip nor IDX: say the first.
            let m = if named_gz && m.starts_with("bad magic number") {
                format!(
                    "named .gz but not gzip-compressed (it does not start with 0x1f 0x8b), and not raw IDX either: {m}"
                )
            } else {
                m
            };
            Error::format(path, m)
        })
    }
}

/// How the bytes are stored, which bounds what the header may declare.
#[derive(Clone, Copy, Debug)]
enum Stored {
    /// Uncompressed: the file holds exactly `len` bytes.
    Raw { len: u64 },
    /// Gzip-compressed: `compressed` bytes that inflate to at most `bound`.
    Gzip { compressed: u64, bound: u64 },
}

/// A read error: from a gzip stream, the decoder's complaint; from a raw
/// file, an I/O error.
fn stream_error(stored: Stored, got: u64, e: &std::io::Error) -> String {
    match stored {
        Stored::Gzip { .. } => format!("{CORRUPT_GZIP} (after {got} decompressed bytes): {e}"),
        Stored::Raw { .. } => format!("read error after {got} bytes: {e}"),
    }
}

/// Reads as many bytes as `buf` holds, fewer only at the end of the stream;
/// returns how many were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8], stored: Stored, offset: u64) -> Result<usize, String> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_error(stored, offset + filled as u64, &e)),
        }
    }
    Ok(filled)
}

/// Reads one IDX file from `reader`: the header, a check of the size it
/// declares against what `stored` can hold, then exactly that many bytes
/// (and one more, to detect trailing data). Errors are messages without the
/// file name.
fn read_from(mut reader: impl Read, stored: Stored) -> Result<IdxArray, String> {
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut reader, &mut magic, stored, 0)?;
    let ndims = parse_magic(&magic[..got])?;
    let header_len = 4 + 4 * ndims;
    let mut dim_bytes = vec![0u8; 4 * ndims];
    let got = read_up_to(&mut reader, &mut dim_bytes, stored, 4)?;
    if got < dim_bytes.len() {
        return Err(format!(
            "truncated header: {ndims} dimensions need a {header_len}-byte header, found {} bytes",
            4 + got
        ));
    }
    let dims: Vec<usize> =
        dim_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} are too large: their product overflows"))?;
    check_declared(&dims, expected, header_len, stored)?;
    let data = read_data(reader, expected, header_len, stored)?;
    if data.len() < expected {
        return Err(format!("truncated: expected {expected} bytes of data after the header, found {}", data.len()));
    }
    if data.len() > expected {
        return Err(trailing(&dims, expected, header_len, None));
    }
    Ok(IdxArray { dims, data })
}

/// Refuses, before anything is allocated, a declared size the stored bytes
/// cannot hold (a raw file's exact length is known; a gzip file's bound is
/// what its compressed bytes can inflate to).
fn check_declared(dims: &[usize], expected: usize, header_len: usize, stored: Stored) -> Result<(), String> {
    match stored {
        Stored::Raw { len } => {
            let found = len.saturating_sub(header_len as u64);
            if found < expected as u64 {
                return Err(format!("truncated: expected {expected} bytes of data after the header, found {found}"));
            }
            if found > expected as u64 {
                return Err(trailing(dims, expected, header_len, Some(found - expected as u64)));
            }
        }
        Stored::Gzip { compressed, bound } => {
            if (expected as u64).saturating_add(header_len as u64) > bound {
                return Err(format!(
                    "dimensions {dims:?} declare {expected} bytes of data, more than a {compressed}-byte gzip file \
                     can hold (at most {bound} bytes): the header is corrupt or the file truncated"
                ));
            }
        }
    }
    Ok(())
}

/// The message for data past the declared size; `extra` when its length is known.
fn trailing(dims: &[usize], expected: usize, header_len: usize, extra: Option<u64>) -> String {
    let count = extra.map_or("unexpected trailing bytes".to_string(), |n| format!("{n} unexpected trailing bytes"));
    format!(
        "{count} at byte offset {}: dimensions {dims:?} need {expected} bytes of data after the header",
        header_len + expected
    )
}

/// Reads at most `expected + 1` bytes, growing the buffer as data arrives.
fn read_data(reader: impl Read, expected: usize, header_len: usize, stored: Stored) -> Result<Vec<u8>, String> {
    let limit = expected as u64 + 1;
    let mut data = Vec::with_capacity(expected.min(CHUNK));
    let mut take = reader.take(limit);
    loop {
        let before = data.len();
        let want = (limit as usize - before).min(CHUNK);
        data.resize(before + want, 0);
        let n = read_up_to(&mut take, &mut data[before..], stored, (header_len + before) as u64)?;
        data.truncate(before + n);
        if n < want || data.len() as u64 >= limit {
            return Ok(data);
        }
    }
}

/// Validates the first 4 bytes and returns the number of dimensions.
fn parse_magic(bytes: &[u8]) -> Result<usize, String> {
    let [m0, m1, type_code, ndims] = *bytes else {
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
    Ok(ndims)
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
    use flate2::write::GzEncoder;
    use std::io::{Cursor, Write};

    fn header(type_code: u8, dims: &[u32]) -> Vec<u8> {
        let mut out = vec![0, 0, type_code, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    fn parse_idx(bytes: Vec<u8>) -> Result<IdxArray, String> {
        let len = bytes.len() as u64;
        read_from(Cursor::new(bytes), Stored::Raw { len })
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Reads gzip bytes as `read_idx` does, and how many compressed bytes were consumed.
    fn parse_gzip(compressed: &[u8]) -> (Result<IdxArray, String>, usize) {
        let len = compressed.len() as u64;
        let mut cursor = Cursor::new(compressed);
        let stored = Stored::Gzip { compressed: len, bound: len * MAX_DEFLATE_RATIO };
        let result = read_from(MultiGzDecoder::new(&mut cursor), stored);
        (result, cursor.position() as usize)
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
    fn a_raw_header_declaring_more_than_the_file_is_refused_unread() {
        // 65535 x 65535 images in a 20-byte file: refused from the file length alone.
        let e = parse_idx(header(0x08, &[1, 65535, 65535])).unwrap_err();
        assert_eq!(e, "truncated: expected 4294836225 bytes of data after the header, found 0");
    }

    #[test]
    fn garbled_gzip_is_an_error() {
        let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
        bytes.extend_from_slice(b"this is not deflate data at all");
        assert!(parse_gzip(&bytes).0.unwrap_err().contains("gzip"));
    }

    #[test]
    fn several_gzip_members_are_one_file() {
        let mut whole = header(0x08, &[2, 3]);
        whole.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        // `cat a.gz b.gz`: the header and two pixels in one member, the rest in two more.
        let mut bytes = gzip(&whole[..14]);
        bytes.extend(gzip(&whole[14..16]));
        bytes.extend(gzip(&whole[16..]));
        assert_eq!(parse_gzip(&bytes).0.unwrap(), IdxArray { dims: vec![2, 3], data: vec![1, 2, 3, 4, 5, 6] });
    }

    #[test]
    fn gzip_trailing_data_is_refused_without_inflating_it() {
        // One 28x28 image, then 64 MiB of zeros (about 64 kB compressed).
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut first = header(0x08, &[1, 28, 28]);
        first.extend(vec![7u8; 784]);
        enc.write_all(&first).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let bytes = enc.finish().unwrap();
        let (result, consumed) = parse_gzip(&bytes);
        let e = result.unwrap_err();
        assert!(e.contains("unexpected trailing bytes at byte offset 800"), "{e}");
        assert!(consumed < bytes.len() / 4, "read {consumed} of {} compressed bytes", bytes.len());
    }

    #[test]
    fn a_gzip_header_declaring_more_than_the_stream_can_hold_is_refused() {
        let bytes = gzip(&header(0x08, &[60000, 28, 28]));
        let e = parse_gzip(&bytes).0.unwrap_err();
        assert!(e.contains("declare 47040000 bytes of data") && e.contains("gzip file can hold"), "{e}");
        // A size the stream could hold but does not: truncated.
        let mut short = header(0x08, &[10, 2, 2]);
        short.extend_from_slice(&[1; 39]);
        let e = parse_gzip(&gzip(&short)).0.unwrap_err();
        assert_eq!(e, "truncated: expected 40 bytes of data after the header, found 39");
    }
}
