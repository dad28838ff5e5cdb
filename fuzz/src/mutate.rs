//! The mutations: byte flips, truncations, inserted, duplicated and deleted
//! chunks, splices of two seeds, header fields set to interesting integers
//! (0, 1, 2^31, 2^32 - 1, 2^64 - 1, the file length +- 1, in either byte
//! order), and format-aware edits that get past the first check of a format:
//! gzip payloads mutated then recompressed (in one to three members), PNG
//! chunk checksums fixed after a mutation, the JSON header of a safetensors
//! file mutated and its length field rewritten, numbers in text replaced by
//! hostile ones (`1e39`, `NaN`, `18446744073709551616`).

use std::io::{Read, Write};

/// A seeded xorshift64* generator: the same seed gives the same inputs.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Integers that break size checks: zero, one, sign boundaries, maxima.
const INTERESTING: [u64; 18] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// Text that breaks number parsing and CSV or JSON structure.
const HOSTILE_TEXT: [&str; 27] = [
    "0",
    "-1",
    "1",
    "65535",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e39",
    "-1e39",
    "1e999",
    "NaN",
    "inf",
    "-inf",
    "1e-45",
    "-0",
    "",
    "\"",
    ",",
    "\n",
    "\r",
    "\u{feff}",
    "\u{e9}",
    "\0",
    "[]",
    r"\n",
    r"\u0000",
    r"\ud800",
];

/// One input: the bytes of each file a loader reads.
pub type Input = Vec<Vec<u8>>;

/// A mutation of `seed` (one of its files), using `others` (seeds of the same
/// loader) for splices.
pub fn mutate(seed: &Input, others: &[Input], rng: &mut Rng) -> Input {
    let mut input = seed.clone();
    let which = rng.below(input.len());
    let other = rng.pick(others).get(which).cloned().unwrap_or_default();
    let file = &mut input[which];
    if file.starts_with(&[0x1f, 0x8b]) && rng.chance(0.5) {
        if let Some(mut inner) = gunzip(file) {
            mutate_bytes(&mut inner, &other, rng);
            *file = gzip_members(&inner, rng);
            return input;
        }
    }
    if file.starts_with(b"\x89PNG") {
        mutate_bytes(file, &other, rng);
        if rng.chance(0.7) {
            fix_png_crcs(file);
        }
    } else if is_safetensors(file) && rng.chance(0.5) {
        mutate_safetensors_header(file, rng);
    } else if is_text(file) && rng.chance(0.5) {
        for _ in 0..1 + rng.below(3) {
            mutate_text(file, rng);
        }
    } else {
        mutate_bytes(file, &other, rng);
    }
    input
}

/// One to four byte-level mutations stacked.
fn mutate_bytes(data: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(11) {
            0 if len > 0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(len);
                    data[i] ^= 1 << rng.below(8);
                }
            }
            1 if len > 0 => {
                let i = rng.below(len);
                let random = rng.below(256) as u8;
                data[i] = *rng.pick(&[0, 1, 0x7f, 0x80, 0xff, random]);
            }
            2 => put_interesting(data, len, rng),
            3 => put_interesting(data, len.min(if rng.chance(0.5) { 64 } else { 1024 }), rng),
            4 => data.truncate(rng.below(len + 1)),
            5 => data.truncate(len.saturating_sub(1 + rng.below(16))),
            6 => {
                let at = rng.below(len + 1);
                let chunk: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.below(256) as u8).collect();
                data.splice(at..at, chunk);
            }
            7 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(4096)).min(len);
                let chunk = data[start..end].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            8 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(256)).min(len);
                data.drain(start..end);
            }
            9 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ => {
                let junk: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.below(256) as u8).collect();
                data.extend(junk);
            }
        }
    }
}

/// Writes an interesting integer (1, 2, 4 or 8 bytes, either byte order)
/// at a random offset below `region`.
fn put_interesting(data: &mut [u8], region: usize, rng: &mut Rng) {
    let width = *rng.pick(&[1usize, 2, 4, 4, 8]);
    if region < width || data.len() < width {
        return;
    }
    let len = data.len() as u64;
    let value = match rng.below(4) {
        0 => len.wrapping_add(rng.below(3) as u64).wrapping_sub(1),
        _ => *rng.pick(&INTERESTING),
    };
    let at = rng.below(region.min(data.len()) - width + 1);
    if rng.chance(0.5) {
        data[at..at + width].copy_from_slice(&value.to_be_bytes()[8 - width..]);
    } else {
        data[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
    }
}

/// Replaces a number, a field or a line of text, or inserts hostile text.
fn mutate_text(data: &mut Vec<u8>, rng: &mut Rng) {
    let len = data.len();
    let hostile = rng.pick(&HOSTILE_TEXT).as_bytes().to_vec();
    match rng.below(4) {
        0 => {
            // A run of digits (with sign, dot and exponent) replaced.
            let start = rng.below(len + 1);
            let Some(first) = (start..len).find(|&i| data[i].is_ascii_digit()) else { return };
            let end = (first..len).find(|&i| !matches!(data[i], b'0'..=b'9' | b'.' | b'e' | b'-')).unwrap_or(len);
            data.splice(first..end, hostile);
        }
        1 => {
            let at = rng.below(len + 1);
            data.splice(at..at, hostile);
        }
        2 => {
            // A whole line duplicated or dropped.
            let lines: Vec<usize> = (0..len).filter(|&i| data[i] == b'\n').collect();
            if lines.len() < 2 {
                return;
            }
            let k = rng.below(lines.len() - 1);
            let line = data[lines[k] + 1..=lines[k + 1]].to_vec();
            if rng.chance(0.5) {
                data.drain(lines[k] + 1..=lines[k + 1]);
            } else {
                let at = *rng.pick(&lines) + 1;
                data.splice(at..at, line);
            }
        }
        _ => {
            // The header line's names repeated or emptied.
            let end = data.iter().position(|&b| b == b'\n').unwrap_or(len);
            let header = data[..end].to_vec();
            let extra = if rng.chance(0.5) { header.clone() } else { Vec::new() };
            data.splice(end..end, [&b","[..], &extra].concat());
        }
    }
}

/// Whether the bytes look like a safetensors file (an 8-byte length, then `{`).
fn is_safetensors(data: &[u8]) -> bool {
    data.len() > 9 && data[8] == b'{'
}

/// Whether the first bytes are printable text.
fn is_text(data: &[u8]) -> bool {
    data.iter().take(256).all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace() || b >= 0x80)
}

/// Mutates the JSON header of a safetensors file as text and rewrites its
/// length field, so the change reaches the header's parser and checks.
fn mutate_safetensors_header(data: &mut Vec<u8>, rng: &mut Rng) {
    let n = u64::from_le_bytes(data[..8].try_into().expect("8 bytes")) as usize;
    let Some(header) = data.get(8..8usize.saturating_add(n)) else { return };
    let mut header = header.to_vec();
    let body = data[8 + n..].to_vec();
    for _ in 0..1 + rng.below(3) {
        mutate_text(&mut header, rng);
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(body);
    *data = out;
}

/// The decompressed bytes of a (multi-member) gzip file, up to 64 MiB.
fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).take(64 << 20).read_to_end(&mut out).ok()?;
    Some(out)
}

/// `data` gzip-compressed as one to three members (`cat a.gz b.gz` style).
fn gzip_members(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let members = 1 + rng.below(3);
    let mut cuts: Vec<usize> = (0..members - 1).map(|_| rng.below(data.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.insert(0, 0);
    cuts.push(data.len());
    let mut out = Vec::new();
    for w in cuts.windows(2) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data[w[0]..w[1]]).expect("writing to memory");
        out.extend(enc.finish().expect("writing to memory"));
    }
    out
}

/// Recomputes the CRC of every complete PNG chunk.
fn fix_png_crcs(data: &mut [u8]) {
    let mut pos = 8;
    while pos + 12 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let Some(end) = pos.checked_add(12 + len).filter(|&e| e <= data.len()) else { return };
        let mut crc = flate2::Crc::new();
        crc.update(&data[pos + 4..end - 4]);
        data[end - 4..end].copy_from_slice(&crc.sum().to_be_bytes());
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_seeded_and_change_the_input() {
        let seed: Input = vec![b"a,b\n1,2\n3,4\n".to_vec()];
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..50).map(|_| mutate(&seed, std::slice::from_ref(&seed), &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert!(run(1).iter().filter(|m| **m != seed).count() > 40);
    }

    #[test]
    fn gzip_members_inflate_back() {
        let mut rng = Rng::new(3);
        let data: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
        for _ in 0..10 {
            assert_eq!(gunzip(&gzip_members(&data, &mut rng)).unwrap(), data);
        }
    }
}
