//! Values on the wire: JSON for scalars and containers, `.npy` files for arrays.
//!
//! JSON natives carry `None`, bools, ints, finite floats, strings and lists; one-key objects
//! carry the rest: `{"tuple": [...]}`, `{"dict": [[key, value], ...]}`,
//! `{"npy": "file", "dtype": "<f8"}`, `{"obj": handle}`, `{"opaque": "type", "id": handle}`,
//! `{"float": "nan" | "inf" | "-inf"}`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
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

/// Reads an array the worker wrote. The outbox belongs to the sandbox, so the name must be
/// plain and the file a regular file, never a symlink into the judge's files.
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
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    let _ = fs::remove_file(&path);
    if !regular {
        return Err(format!("result array {name} is not a regular file"));
    }
    fn read<T: ReadableElement>(file: File) -> Result<ArrayD<T>, String> {
        ArrayD::<T>::read_npy(BufReader::new(file)).map_err(|e| e.to_string())
    }
    let array = match dtype {
        "<f8" => read(file).map(NdArray::F64),
        "<f4" => read(file).map(NdArray::F32),
        "<i8" => read(file).map(NdArray::I64),
        "|b1" => read(file).map(NdArray::Bool),
        other => Err(format!("unsupported dtype {other:?}")),
    };
    array.map_err(|e| format!("reading result array {name}: {e}"))
}
