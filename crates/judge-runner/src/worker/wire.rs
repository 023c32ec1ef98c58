//! Values on the wire: JSON for scalars and containers, `.npy` files for arrays.
//!
//! JSON natives carry `None`, bools, ints, finite floats, strings and lists; one-key objects
//! carry the rest: `{"tuple": [...]}`, `{"dict": [[key, value], ...]}`,
//! `{"npy": "file", "dtype": "<f8"}`, `{"obj": handle}`, `{"opaque": "type", "id": handle}`,
//! `{"float": "nan" | "inf" | "-inf"}`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyExt, ReadableElement, WriteNpyExt};
use serde_json::{Map, Value as Json, json};

use crate::value::{NdArray, ObjHandle, Value};

/// Encodes `value` for the worker, writing its arrays into `inbox`; returns the JSON and
/// records every file written in `written` (the caller deletes them after the call).
pub(super) fn encode(
    value: &Value,
    inbox: &Path,
    next_file: &mut u64,
    written: &mut Vec<PathBuf>,
) -> Result<Json, String> {
    Ok(match value {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!(i),
        Value::Float(x) if x.is_nan() => json!({"float": "nan"}),
        Value::Float(x) if x.is_infinite() => {
            json!({"float": if *x > 0.0 { "inf" } else { "-inf" }})
        }
        Value::Float(x) => json!(x),
        Value::Str(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(
            items
                .iter()
                .map(|v| encode(v, inbox, next_file, written))
                .collect::<Result<_, _>>()?,
        ),
        Value::Tuple(items) => json!({"tuple": items
            .iter()
            .map(|v| encode(v, inbox, next_file, written))
            .collect::<Result<Vec<_>, _>>()?}),
        Value::Dict(items) => json!({"dict": items
            .iter()
            .map(|(k, v)| Ok(json!([k, encode(v, inbox, next_file, written)?])))
            .collect::<Result<Vec<_>, String>>()?}),
        Value::Array(array) => {
            *next_file += 1;
            let name = format!("a{next_file}.npy");
            let path = inbox.join(&name);
            write_array(array, &path)
                .map_err(|e| format!("writing argument {}: {e}", path.display()))?;
            written.push(path);
            json!({"npy": name})
        }
        Value::Obj(handle) | Value::Opaque { handle, .. } => json!({"obj": handle.0}),
    })
}

fn write_array(array: &NdArray, path: &Path) -> Result<(), String> {
    // create_new: never follow a symlink or overwrite what is there.
    let file = File::create_new(path).map_err(|e| e.to_string())?;
    let writer = BufWriter::new(file);
    match array {
        NdArray::F64(a) => a.write_npy(writer),
        NdArray::F32(a) => a.write_npy(writer),
        NdArray::I64(a) => a.write_npy(writer),
        NdArray::Bool(a) => a.write_npy(writer),
    }
    .map_err(|e| e.to_string())
}

/// Decodes a value from the worker, reading (and deleting) its array files from `outbox`.
pub(super) fn decode(json: Json, outbox: &Path) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(
                n.as_f64()
                    .ok_or_else(|| format!("number {n} out of range"))?,
            ),
        },
        Json::String(s) => Value::Str(s),
        Json::Array(items) => Value::List(decode_all(items, outbox)?),
        Json::Object(map) => decode_tagged(map, outbox)?,
    })
}

fn decode_all(items: Vec<Json>, outbox: &Path) -> Result<Vec<Value>, String> {
    items.into_iter().map(|item| decode(item, outbox)).collect()
}

fn decode_tagged(mut map: Map<String, Json>, outbox: &Path) -> Result<Value, String> {
    let handle = |json: Option<Json>| -> Result<ObjHandle, String> {
        json.and_then(|id| id.as_u64())
            .map(ObjHandle)
            .ok_or_else(|| "object without a handle".to_string())
    };
    if let Some(Json::Array(items)) = map.remove("tuple") {
        return Ok(Value::Tuple(decode_all(items, outbox)?));
    }
    if let Some(Json::Array(pairs)) = map.remove("dict") {
        return pairs
            .into_iter()
            .map(|pair| match pair {
                Json::Array(mut kv) if kv.len() == 2 => {
                    let value = decode(kv.pop().expect("two items"), outbox)?;
                    match kv.pop() {
                        Some(Json::String(key)) => Ok((key, value)),
                        _ => Err("dict key is not a string".to_string()),
                    }
                }
                _ => Err("malformed dict item".to_string()),
            })
            .collect::<Result<_, _>>()
            .map(Value::Dict);
    }
    if let Some(Json::String(name)) = map.remove("npy") {
        let dtype = map.remove("dtype");
        return read_array(
            outbox,
            &name,
            dtype.as_ref().and_then(Json::as_str).unwrap_or(""),
        )
        .map(Value::Array);
    }
    if let Some(id) = map.remove("obj") {
        return Ok(Value::Obj(handle(Some(id))?));
    }
    if let Some(Json::String(type_name)) = map.remove("opaque") {
        return Ok(Value::Opaque {
            type_name,
            handle: handle(map.remove("id"))?,
        });
    }
    if let Some(Json::String(special)) = map.remove("float") {
        return match special.as_str() {
            "nan" => Ok(Value::Float(f64::NAN)),
            "inf" => Ok(Value::Float(f64::INFINITY)),
            "-inf" => Ok(Value::Float(f64::NEG_INFINITY)),
            other => Err(format!("unknown float {other:?}")),
        };
    }
    Err(format!("unknown value {}", Json::Object(map)))
}

/// Largest result array read back; the sandbox's `RLIMIT_FSIZE` (1 GiB) bounds what an honest
/// worker can write anyway.
const MAX_RESULT_ARRAY_BYTES: u64 = 1 << 30;

/// Reads an array the worker wrote. The outbox belongs to the sandbox, so the name must be
/// plain, the file a regular file (never a symlink into the judge's files), and its header
/// must describe exactly the bytes the file holds before anything of that size is allocated:
/// a header claiming 2^40 elements is the submission's error, not an abort of the judge.
fn read_array(outbox: &Path, name: &str, dtype: &str) -> Result<NdArray, String> {
    let plain = name.starts_with('r')
        && name.ends_with(".npy")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    if !plain {
        return Err(format!("refusing array file name {name:?}"));
    }
    let path = outbox.join(name);
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("opening result array {name}: {e}"))?;
    let metadata = file.metadata();
    let _ = fs::remove_file(&path);
    let size = match metadata {
        Ok(m) if m.is_file() => m.len(),
        _ => return Err(format!("result array {name} is not a regular file")),
    };
    let width = match dtype {
        "<f8" | "<i8" => 8,
        "<f4" => 4,
        "|b1" => 1,
        other => return Err(format!("unsupported dtype {other:?}")),
    };
    let fail = |e: String| format!("reading result array {name}: {e}");
    if size > MAX_RESULT_ARRAY_BYTES {
        return Err(fail(format!(
            "{size} bytes exceed the limit of {MAX_RESULT_ARRAY_BYTES}"
        )));
    }
    let mut reader = BufReader::new(file);
    let header = npy_header(&mut reader, size, width).map_err(fail)?;
    let reader = io::Cursor::new(header).chain(reader);
    fn read<T: ReadableElement>(reader: impl Read) -> Result<ArrayD<T>, String> {
        ArrayD::<T>::read_npy(reader).map_err(|e| e.to_string())
    }
    let array = match dtype {
        "<f8" => read(reader).map(NdArray::F64),
        "<f4" => read(reader).map(NdArray::F32),
        "<i8" => read(reader).map(NdArray::I64),
        _ => read(reader).map(NdArray::Bool),
    };
    array.map_err(fail)
}

/// Reads the header of an `.npy` file of `size` bytes whose elements are `width` bytes wide,
/// and returns its bytes once it declares exactly the data that follows it.
fn npy_header(reader: &mut impl Read, size: u64, width: u64) -> Result<Vec<u8>, String> {
    let mut header = vec![0u8; 8];
    reader
        .read_exact(&mut header)
        .map_err(|_| "truncated .npy header".to_string())?;
    let length_bytes = match header[6] {
        1 => 2,
        2 | 3 => 4,
        other => return Err(format!(".npy format version {other} is unknown")),
    };
    let mut length = [0u8; 4];
    reader
        .read_exact(&mut length[..length_bytes])
        .map_err(|_| "truncated .npy header".to_string())?;
    header.extend_from_slice(&length[..length_bytes]);
    let dict_len = u64::from(u32::from_le_bytes(length));
    let total = header.len() as u64 + dict_len;
    if total > size {
        return Err(format!(
            "the header claims {dict_len} bytes, the file holds {size}"
        ));
    }
    let start = header.len();
    header.resize(total as usize, 0);
    reader
        .read_exact(&mut header[start..])
        .map_err(|_| "truncated .npy header".to_string())?;
    let parsed = Header::from_reader(&mut header.as_slice()).map_err(|e| e.to_string())?;
    let needed = parsed
        .shape
        .iter()
        .try_fold(width, |n, &d| n.checked_mul(d as u64));
    if needed != Some(size - total) {
        return Err(format!(
            "the header declares shape {:?}, {} bytes of data; the file holds {}",
            parsed.shape,
            needed.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
            size - total
        ));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result file named like the worker's, with `header` then `data` bytes.
    fn result_file(outbox: &Path, shape: &str, data_bytes: usize) -> String {
        let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((dict.len() as u16).to_le_bytes());
        bytes.extend(dict.as_bytes());
        bytes.resize(bytes.len() + data_bytes, 0);
        let name = format!("r{}.npy", shape.len());
        fs::write(outbox.join(&name), bytes).unwrap();
        name
    }

    #[test]
    fn a_header_claiming_more_than_the_file_holds_is_refused_before_allocating() {
        let outbox = tempfile::tempdir().unwrap();
        let honest = result_file(outbox.path(), "(2, 3)", 48);
        let array = read_array(outbox.path(), &honest, "<f8").unwrap();
        assert_eq!(array.shape(), [2, 3]);

        // 2^40 elements of 8 bytes: an allocation of 8 TiB if believed.
        let huge = result_file(outbox.path(), "(1099511627776,)", 48);
        let error = read_array(outbox.path(), &huge, "<f8").unwrap_err();
        assert!(error.contains("8796093022208 bytes of data"), "{error}");
        let overflow = result_file(outbox.path(), "(4294967296, 4294967296, 16)", 8);
        let error = read_array(outbox.path(), &overflow, "<f8").unwrap_err();
        assert!(error.contains("more than 2^64"), "{error}");
    }

    #[test]
    fn a_header_longer_than_the_file_or_a_fifo_is_refused() {
        let outbox = tempfile::tempdir().unwrap();
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend(u32::MAX.to_le_bytes());
        fs::write(outbox.path().join("r1.npy"), bytes).unwrap();
        let error = read_array(outbox.path(), "r1.npy", "<f8").unwrap_err();
        assert!(error.contains("claims 4294967295 bytes"), "{error}");

        rustix::fs::mknodat(
            rustix::fs::CWD,
            outbox.path().join("r2.npy"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let error = read_array(outbox.path(), "r2.npy", "<f8").unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
    }
}
