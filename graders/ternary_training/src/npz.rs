//! A guarded reader for the `.npz` files a submission leaves behind.
//!
//! The judge reads these files in its own process (they are data, never code), so nothing in
//! them may make it allocate without bound or panic: the archive's size is checked first, every
//! entry is read through a byte budget (a central directory may lie about sizes), and an entry's
//! `.npy` header must describe exactly the bytes that follow it before any array is built.
//!
//! `.npy` layout: `\x93NUMPY`, major and minor version, the header length (u16 for version 1,
//! u32 for 2 and 3), a Python dict literal `{'descr': '<f4', 'fortran_order': False,
//! 'shape': (3, 4), }`, then the raw little-endian data.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::Path;

use half::f16;
use judge_core::untrusted_fs;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};

/// Why a file could not be read; `Display` is one line of evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NpzError {
    /// The file could not be opened or read (or is not a regular file reached without a
    /// symlink).
    #[error("{0}")]
    Io(String),
    /// The archive is larger than [`NpzLimits::max_bytes`].
    #[error("{size} bytes exceed the limit of {limit} bytes")]
    TooLarge {
        /// The archive's size.
        size: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    #[error(
        "inflates to {size} bytes or more from an archive of {archive}; the limit is {limit} \
         ({MAX_INFLATION} times the archive, at least {INFLATION_FLOOR})"
    )]
    /// The entries decompress to more than the limit: a zip bomb, or a central directory
    /// that lies about sizes.
    Inflates {
        /// The bytes the entries declare, or yielded once the budget ran out.
        size: u64,
        /// The archive's own size.
        archive: u64,
        /// The inflation budget.
        limit: u64,
    },
    /// Not a readable zip archive, or one with more entries than [`NpzLimits::max_entries`].
    #[error("not a readable .npz archive: {0}")]
    Archive(String),
    /// An entry that cannot be decompressed or is not a well-formed `.npy` array.
    #[error("entry {entry}: {reason}")]
    Entry {
        /// The entry's name in the archive.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The element values of an array, widened to a type the checks can use.
#[derive(Debug, Clone, PartialEq)]
pub enum Elements {
    /// `float16`, `float32` or `float64`, as f32 (the precision of the latent weights).
    Float(ArrayD<f32>),
    /// Any integer type, as i64 (`uint64` values above `i64::MAX` are refused).
    Int(ArrayD<i64>),
}

/// One array of an archive.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// numpy's type descriptor as stored (`<f4`, `|u1`, ...), for evidence and for telling
    /// packed `uint8` codes from `int8` ones.
    pub descr: String,
    /// The values, widened.
    pub elements: Elements,
}

impl NpyArray {
    /// The array's shape, as its header declared it.
    pub fn shape(&self) -> &[usize] {
        match &self.elements {
            Elements::Float(a) => a.shape(),
            Elements::Int(a) => a.shape(),
        }
    }

    /// numpy's short name of the element type (`float32`, `uint8`, ...).
    pub fn dtype(&self) -> String {
        let code = self.descr.trim_start_matches(['<', '>', '|', '=']);
        let (kind, width) = code.split_at(code.len().min(1));
        let bits = width.parse::<u32>().map_or(0, |w| 8 * w);
        match kind {
            "f" => format!("float{bits}"),
            "i" => format!("int{bits}"),
            "u" => format!("uint{bits}"),
            "b" => "bool".to_string(),
            _ => self.descr.clone(),
        }
    }
}

/// Limits of one archive.
#[derive(Debug, Clone, Copy)]
pub struct NpzLimits {
    /// Largest archive file, and largest total of its decompressed entries.
    pub max_bytes: u64,
    /// Most entries.
    pub max_entries: usize,
}

/// How many times its own size an archive may inflate to. numpy's float weights barely
/// compress and one-byte ternary codes about fivefold; a 3 MB archive of zeros inflating to
/// 3 GiB is a bomb.
pub const MAX_INFLATION: u64 = 32;

/// Decompressed bytes any archive may hold whatever its size, so small archives of
/// compressible arrays (all-zero norms, tiny test models) are never refused.
pub const INFLATION_FLOOR: u64 = 64 << 20;

/// Reads every array of the archive at `path`, by name (the `.npy` suffix removed). The
/// archive is a submission file: opened only as a regular file, never through a symlink, and
/// decompressed within `limits.max_bytes` and [`MAX_INFLATION`] times its size, checked first
/// against the sizes its central directory declares and then against the bytes it yields.
pub fn read_npz(path: &Path, limits: NpzLimits) -> Result<BTreeMap<String, NpyArray>, NpzError> {
    let file = untrusted_fs::open_regular(path).map_err(|e| NpzError::Io(e.to_string()))?;
    let size = file
        .metadata()
        .map_err(|e| NpzError::Io(format!("{}: {e}", path.display())))?
        .len();
    if size > limits.max_bytes {
        return Err(NpzError::TooLarge {
            size,
            limit: limits.max_bytes,
        });
    }
    let mut archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| NpzError::Archive(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(NpzError::Archive(format!(
            "{} entries exceed the limit of {}",
            archive.len(),
            limits.max_entries
        )));
    }
    let limit = limits
        .max_bytes
        .min(size.saturating_mul(MAX_INFLATION).max(INFLATION_FLOOR));
    let inflated = |claimed: u64| NpzError::Inflates {
        size: claimed,
        archive: size,
        limit,
    };
    let declared = (0..archive.len())
        .filter_map(|index| archive.by_index_raw(index).ok().map(|e| e.size()))
        .fold(0u64, u64::saturating_add);
    if declared > limit {
        return Err(inflated(declared));
    }
    let mut budget = limit;
    let mut arrays = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| NpzError::Archive(e.to_string()))?;
        let name = entry.name().to_string();
        let fail = |reason: String| NpzError::Entry {
            entry: name.clone(),
            reason,
        };
        if entry.is_dir() {
            continue;
        }
        // Read at most budget + 1 bytes whatever the directory claims: one byte more than the
        // budget proves the entry too large without holding it.
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(entry.size().min(budget) as usize)
            .map_err(|e| fail(format!("cannot hold its {} bytes: {e}", entry.size())))?;
        (&mut entry)
            .take(budget + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(format!("cannot decompress: {e}")))?;
        let used = bytes.len() as u64;
        if used > budget {
            return Err(inflated(limit - budget + used));
        }
        budget -= used;
        let array = parse_npy(&bytes).map_err(fail)?;
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        arrays.insert(key, array);
    }
    Ok(arrays)
}

/// The fields of an `.npy` header.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses one `.npy` file held in memory.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or("no .npy magic string")?;
    let (&major, rest) = rest.split_first().ok_or("truncated header")?;
    let (_minor, rest) = rest.split_first().ok_or("truncated header")?;
    let (header_len, rest) = match major {
        1 => {
            let (len, rest) = rest.split_at_checked(2).ok_or("truncated header")?;
            (usize::from(u16::from_le_bytes([len[0], len[1]])), rest)
        }
        2 | 3 => {
            let (len, rest) = rest.split_at_checked(4).ok_or("truncated header")?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
            (usize::try_from(len).map_err(|_| "header too long")?, rest)
        }
        other => return Err(format!(".npy format version {other} is unknown")),
    };
    let (header, data) = rest
        .split_at_checked(header_len)
        .ok_or("header longer than the entry")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let header = parse_header(header)?;
    build_array(&header, data)
}

/// Reads the three keys of the header's dict literal; anything else in it is ignored.
fn parse_header(text: &str) -> Result<Header, String> {
    let value_after = |key: &str| -> Result<&str, String> {
        let at = text
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("header has no '{key}'"))?;
        let after = &text[at + key.len() + 2..];
        let colon = after
            .find(':')
            .ok_or_else(|| format!("'{key}' has no value"))?;
        Ok(after[colon + 1..].trim_start())
    };
    let descr = value_after("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("'descr' is not a plain type string (structured dtypes are not accepted)")?
        .to_string();
    let fortran_order = value_after("fortran_order")?.starts_with("True");
    let shape = value_after("shape")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("'shape' is not a tuple")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("'shape' ({inner}) is not a tuple of sizes"))?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
    })
}

/// Element width in bytes and whether the type is a float, for the descriptors accepted.
fn element_type(descr: &str) -> Result<(usize, char), String> {
    let (order, code) = descr.split_at(descr.len().min(1));
    if order == ">" {
        return Err(format!("big-endian data ({descr}) is not accepted"));
    }
    let (kind, width) = code.split_at(code.len().min(1));
    let refused = || format!("dtype {descr} is not accepted (floats and integers only)");
    let width: usize = width.parse().map_err(|_| refused())?;
    let known = matches!(
        (kind, width),
        ("f", 2 | 4 | 8) | ("i", 1 | 2 | 4 | 8) | ("u", 1 | 2 | 4 | 8)
    );
    if !known {
        return Err(refused());
    }
    Ok((width, kind.chars().next().expect("kind is one character")))
}

fn build_array(header: &Header, data: &[u8]) -> Result<NpyArray, String> {
    let (width, kind) = element_type(&header.descr)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or("shape overflows")?;
    // The header must describe exactly the bytes present: a lying shape is caught here, before
    // any allocation of its size.
    if count.checked_mul(width) != Some(data.len()) {
        return Err(format!(
            "shape {:?} of {} needs {} bytes, the entry holds {}",
            header.shape,
            header.descr,
            count.saturating_mul(width),
            data.len()
        ));
    }
    let chunks = data.chunks_exact(width);
    let shape = IxDyn(&header.shape).set_f(header.fortran_order);
    let elements = match kind {
        'f' => {
            let mut values: Vec<f32> = reserved(count)?;
            match width {
                2 => values.extend(chunks.map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())),
                4 => values.extend(chunks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
                _ => values.extend(
                    chunks.map(|b| f64::from_le_bytes(b.try_into().expect("8-byte chunk")) as f32),
                ),
            }
            Elements::Float(standard_layout(shape, values)?)
        }
        _ => {
            let signed = kind == 'i';
            let mut values: Vec<i64> = reserved(count)?;
            for bytes in chunks {
                values.push(integer(bytes, signed)?);
            }
            Elements::Int(standard_layout(shape, values)?)
        }
    };
    Ok(NpyArray {
        descr: header.descr.clone(),
        elements,
    })
}

/// An empty vector with room for `count` elements, or why the judge cannot hold them: a
/// failed allocation is the submission's verdict, never an abort of the judge.
fn reserved<T>(count: usize) -> Result<Vec<T>, String> {
    let mut values = Vec::new();
    values
        .try_reserve_exact(count)
        .map_err(|e| format!("cannot hold {count} elements: {e}"))?;
    Ok(values)
}

/// The array in row-major order, whatever order the file stored it in.
fn standard_layout<T: Clone>(
    shape: ndarray::Shape<IxDyn>,
    values: Vec<T>,
) -> Result<ArrayD<T>, String> {
    let array = ArrayD::from_shape_vec(shape, values).map_err(|e| e.to_string())?;
    Ok(array.as_standard_layout().into_owned())
}

/// One little-endian integer of 1, 2, 4 or 8 bytes.
fn integer(bytes: &[u8], signed: bool) -> Result<i64, String> {
    let mut wide = [0u8; 8];
    wide[..bytes.len()].copy_from_slice(bytes);
    let negative = signed && bytes.last().is_some_and(|b| b & 0x80 != 0);
    if negative {
        wide[bytes.len()..].fill(0xff);
    }
    let value = u64::from_le_bytes(wide);
    if signed {
        Ok(value as i64)
    } else {
        i64::try_from(value).map_err(|_| format!("unsigned value {value} is too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `.npy` file written by hand, as numpy lays it out.
    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn reads_float32_in_c_and_fortran_order() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let c = parse_npy(&npy("<f4", false, "(2, 3)", &data)).unwrap();
        let Elements::Float(c) = c.elements else {
            panic!("floats")
        };
        assert_eq!(c[[1, 0]], 4.0);
        // Column-major: the same bytes fill columns first.
        let f = parse_npy(&npy("<f4", true, "(2, 3)", &data)).unwrap();
        let Elements::Float(f) = f.elements else {
            panic!("floats")
        };
        assert_eq!(f[[1, 0]], 2.0);
        assert_eq!(f[[0, 1]], 3.0);
    }

    #[test]
    fn reads_float16_and_signed_and_unsigned_integers() {
        let half: Vec<u8> = [0.5f32, -2.0]
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect();
        let a = parse_npy(&npy("<f2", false, "(2,)", &half)).unwrap();
        assert_eq!(a.dtype(), "float16");
        assert_eq!(
            a.elements,
            Elements::Float(ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.5, -2.0]).unwrap())
        );
        let codes = parse_npy(&npy("|i1", false, "(3,)", &[0xff, 0, 1])).unwrap();
        assert_eq!(codes.dtype(), "int8");
        assert_eq!(
            codes.elements,
            Elements::Int(ArrayD::from_shape_vec(IxDyn(&[3]), vec![-1, 0, 1]).unwrap())
        );
        let bytes = parse_npy(&npy("|u1", false, "(1,)", &[0xff])).unwrap();
        assert_eq!(
            bytes.elements,
            Elements::Int(ArrayD::from_shape_vec(IxDyn(&[1]), vec![255]).unwrap())
        );
        let scalar = parse_npy(&npy("<u8", false, "()", &128u64.to_le_bytes())).unwrap();
        assert_eq!(scalar.shape(), &[] as &[usize]);
        assert_eq!(
            scalar.elements,
            Elements::Int(ArrayD::from_elem(IxDyn(&[]), 128))
        );
    }

    #[test]
    fn a_header_claiming_more_than_the_data_is_refused_before_allocating() {
        let huge = npy("<f4", false, "(4000000000, 4000000000)", &[0; 16]);
        let error = parse_npy(&huge).unwrap_err();
        assert!(
            error.contains("overflows") || error.contains("needs"),
            "{error}"
        );
        let short = npy("<f4", false, "(1000000000,)", &[0; 16]);
        assert!(parse_npy(&short).unwrap_err().contains("entry holds 16"));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"\x93NUMPY",
            b"\x93NUMPY\x01\x00\xff\xff{",
            b"PK\x03\x04garbage",
        ] {
            assert!(parse_npy(bad).is_err());
        }
        let object = npy("|O", false, "(1,)", &[0; 8]);
        assert!(parse_npy(&object).unwrap_err().contains("not accepted"));
        let big_endian = npy(">f4", false, "(1,)", &[0; 4]);
        assert!(parse_npy(&big_endian).unwrap_err().contains("big-endian"));
        let structured = b"\x93NUMPY\x01\x00\x30\x00{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }".to_vec();
        assert!(parse_npy(&structured).is_err());
    }

    #[test]
    fn archives_over_the_limit_or_not_zip_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npz");
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        let limits = NpzLimits {
            max_bytes: 1024,
            max_entries: 10,
        };
        assert!(matches!(
            read_npz(&path, limits),
            Err(NpzError::TooLarge { size: 4096, .. })
        ));
        let roomy = NpzLimits {
            max_bytes: 1 << 20,
            max_entries: 10,
        };
        assert!(matches!(read_npz(&path, roomy), Err(NpzError::Archive(_))));
        assert!(matches!(
            read_npz(&dir.path().join("missing.npz"), roomy),
            Err(NpzError::Io(_))
        ));
    }
}
