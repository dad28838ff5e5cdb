//! The EXIF orientation of a JPEG or PNG file: how a camera says the stored
//! pixels must be turned to be seen upright (a phone held sideways stores the
//! picture sideways and sets this tag).
//!
//! The `image` crate (0.24) decodes pixels but ignores the tag, so this reads
//! it: in a JPEG from the `APP1` segment that starts with `Exif\0\0`, in a PNG
//! from the `eXIf` chunk. Both hold a TIFF structure whose first directory
//! (IFD0) may carry tag `0x0112` (Orientation), a 16-bit value from 1 to 8
//! (EXIF 2.32, section 4.6.4; TIFF 6.0, section 2). Every offset is checked
//! against the bytes present: a malformed block means "no orientation".

/// The Orientation tag of IFD0.
const ORIENTATION_TAG: u16 = 0x0112;
/// The TIFF type code of a 16-bit unsigned value.
const SHORT: u16 = 3;
/// The most IFD entries read (a real IFD0 has a few dozen).
const MAX_ENTRIES: usize = 1024;

/// The EXIF orientation (1 to 8) stored in a JPEG or PNG file, if any.
///
/// 1 is upright; 2 mirrored; 3 upside down; 4 mirrored upside down; 5 mirrored
/// across the main diagonal; 6 must be turned 90 degrees clockwise; 7 mirrored
/// across the other diagonal; 8 must be turned 90 degrees counter-clockwise.
pub(crate) fn orientation(bytes: &[u8]) -> Option<u8> {
    let tiff = if bytes.starts_with(&[0xff, 0xd8]) {
        jpeg_exif(bytes)?
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png_exif(bytes)?
    } else {
        return None;
    };
    tiff_orientation(tiff)
}

/// The TIFF block of a JPEG's `APP1` EXIF segment.
fn jpeg_exif(bytes: &[u8]) -> Option<&[u8]> {
    let mut pos = 2;
    loop {
        let marker = *bytes.get(pos + 1)?;
        if bytes[pos] != 0xff {
            return None;
        }
        match marker {
            0xff => pos += 1, // fill byte
            0x01 | 0xd0..=0xd7 => pos += 2,
            0xd9 | 0xda => return None, // end of image, start of scan: no more metadata
            _ => {
                let len = usize::from(u16::from_be_bytes([*bytes.get(pos + 2)?, *bytes.get(pos + 3)?]));
                let segment = bytes.get(pos + 4..pos + 2 + len.max(2))?;
                if marker == 0xe1
                    && let Some(tiff) = segment.strip_prefix(b"Exif\0\0")
                {
                    return Some(tiff);
                }
                pos += 2 + len;
            }
        }
    }
}

/// The data of a PNG's `eXIf` chunk.
fn png_exif(bytes: &[u8]) -> Option<&[u8]> {
    let mut pos = 8;
    loop {
        let len = usize::try_from(u32::from_be_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?)).ok()?;
        let kind = bytes.get(pos + 4..pos + 8)?;
        let data = bytes.get(pos + 8..(pos + 8).checked_add(len)?)?;
        match kind {
            b"eXIf" => return Some(data),
            b"IEND" => return None,
            _ => pos = pos + 12 + len,
        }
    }
}

/// Tag `0x0112` of IFD0 of a TIFF block, when it is a valid orientation.
fn tiff_orientation(tiff: &[u8]) -> Option<u8> {
    let little = match tiff.get(..4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = [*tiff.get(at)?, *tiff.get(at + 1)?];
        Some(if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?).min(MAX_ENTRIES);
    (0..count).find_map(|i| {
        let entry = ifd.checked_add(2 + 12 * i)?;
        if u16_at(entry)? != ORIENTATION_TAG || u16_at(entry + 2)? != SHORT || u32_at(entry + 4)? != 1 {
            return None;
        }
        let value = u16_at(entry + 8)?;
        (1..=8).contains(&value).then_some(value as u8)
    })
}

/// `jpeg` (the bytes of a JPEG file) with an `APP1` EXIF segment, inserted
/// after its SOI marker, whose IFD0 holds only Orientation = `value`, in
/// little- or big-endian TIFF: what a camera writes, and what the loaders read
/// back to turn a picture upright. For fixtures and tests.
///
/// # Panics
/// When `jpeg` is shorter than its 2-byte SOI marker.
///
/// ```
/// let jpeg = [0xff, 0xd8, 0xff, 0xda, 0, 0];
/// let tagged = backprop::data::jpeg_with_orientation(&jpeg, 6, true);
/// assert_eq!(&tagged[..4], &[0xff, 0xd8, 0xff, 0xe1]); // SOI, then APP1
/// assert_eq!(tagged.len(), jpeg.len() + 4 + 6 + 26);    // marker + length, "Exif\0\0", TIFF
/// ```
pub fn jpeg_with_orientation(jpeg: &[u8], value: u16, little_endian: bool) -> Vec<u8> {
    let w16 = |v: u16| if little_endian { v.to_le_bytes() } else { v.to_be_bytes() };
    let w32 = |v: u32| if little_endian { v.to_le_bytes() } else { v.to_be_bytes() };
    let mut tiff = if little_endian { b"II*\0".to_vec() } else { b"MM\0*".to_vec() };
    tiff.extend(w32(8)); // IFD0 right after the header
    tiff.extend(w16(1)); // one entry
    tiff.extend(w16(ORIENTATION_TAG));
    tiff.extend(w16(SHORT));
    tiff.extend(w32(1));
    tiff.extend(w16(value));
    tiff.extend([0, 0]); // the value field's unused half
    tiff.extend(w32(0)); // no next IFD
    with_jpeg_exif(jpeg, &tiff)
}

/// `jpeg` with an `APP1` EXIF segment holding `tiff` inserted after its SOI marker.
fn with_jpeg_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TIFF block whose IFD0 holds one other tag and the orientation.
    fn tiff(value: u16, little: bool) -> Vec<u8> {
        let w16 = |v: u16| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let w32 = |v: u32| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut t = if little { b"II*\0".to_vec() } else { b"MM\0*".to_vec() };
        t.extend(w32(8));
        t.extend(w16(2));
        for (tag, v) in [(0x010f_u16, 0u16), (ORIENTATION_TAG, value)] {
            t.extend(w16(tag));
            t.extend(w16(SHORT));
            t.extend(w32(1));
            t.extend(w16(v));
            t.extend([0, 0]);
        }
        t.extend(w32(0));
        t
    }

    #[test]
    fn reads_both_byte_orders_from_jpeg_and_png() {
        let jpeg = [0xff, 0xd8, 0xff, 0xdb, 0x00, 0x04, 1, 2, 0xff, 0xda, 0, 0];
        for little in [true, false] {
            assert_eq!(orientation(&with_jpeg_exif(&jpeg, &tiff(6, little))), Some(6));
            assert_eq!(orientation(&jpeg_with_orientation(&jpeg, 3, little)), Some(3));
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let t = tiff(8, false);
        png.extend((t.len() as u32).to_be_bytes());
        png.extend(b"eXIf");
        png.extend(&t);
        png.extend([0; 4]);
        assert_eq!(orientation(&png), Some(8));
    }

    #[test]
    fn malformed_blocks_mean_no_orientation() {
        let jpeg = [0xff, 0xd8, 0xff, 0xda];
        assert_eq!(orientation(&jpeg), None);
        assert_eq!(orientation(&with_jpeg_exif(&jpeg, &tiff(9, true))), None);
        let whole = with_jpeg_exif(&jpeg, &tiff(3, true));
        for cut in 0..whole.len() - 2 {
            assert_eq!(orientation(&whole[..cut]), None, "cut at {cut}");
        }
        let mut bad_offset = tiff(3, true);
        bad_offset[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(tiff_orientation(&bad_offset), None);
    }
}
