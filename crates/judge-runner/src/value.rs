//! Values that cross the Python bridge, in both directions.
//!
//! Python → Rust: `None`, `bool`, `int` (64-bit), `float`, `str`, lists, tuples (named tuples
//! too), dicts (keys turned into strings), numpy scalars (as `Int`/`Float`/`Bool`) and numpy
//! arrays (floats as `F64`/`F32`, other float widths widened to `F64`, every integer type
//! widened to `I64`, `bool`). Anything else stays in the worker and comes back as
//! [`Value::Opaque`], a handle its methods can be called through.

use ndarray::{ArrayD, IxDyn};

/// A Python object that lives in the worker: a grader fixture, or an object the submission
/// returned. Pass it back as an argument ([`Value::Obj`]) or call its methods
/// ([`Target::Method`](crate::Target::Method)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjHandle(pub(crate) u64);

impl ObjHandle {
    /// The worker's id of the object.
    pub fn id(self) -> u64 {
        self.0
    }
}

/// A numpy array, by element type.
#[derive(Debug, Clone, PartialEq)]
pub enum NdArray {
    /// `float64`, and float widths other than 32 bits, widened.
    F64(ArrayD<f64>),
    /// `float32`, kept at its width.
    F32(ArrayD<f32>),
    /// Every signed or unsigned integer type, widened to 64 bits.
    I64(ArrayD<i64>),
    /// `bool`.
    Bool(ArrayD<bool>),
}

impl NdArray {
    /// Its shape, as numpy's `a.shape`.
    pub fn shape(&self) -> &[usize] {
        match self {
            NdArray::F64(a) => a.shape(),
            NdArray::F32(a) => a.shape(),
            NdArray::I64(a) => a.shape(),
            NdArray::Bool(a) => a.shape(),
        }
    }

    /// Bytes of its elements, as numpy holds them (`a.nbytes`).
    pub fn nbytes(&self) -> u64 {
        let (len, itemsize) = match self {
            NdArray::F64(a) => (a.len(), 8),
            NdArray::F32(a) => (a.len(), 4),
            NdArray::I64(a) => (a.len(), 8),
            NdArray::Bool(a) => (a.len(), 1),
        };
        (len * itemsize) as u64
    }

    /// numpy's name of the element type.
    pub fn dtype(&self) -> &'static str {
        match self {
            NdArray::F64(_) => "float64",
            NdArray::F32(_) => "float32",
            NdArray::I64(_) => "int64",
            NdArray::Bool(_) => "bool",
        }
    }
}

/// A Python value, as the worker hands it over or receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Python's `None`.
    None,
    /// A `bool` or a numpy bool scalar.
    Bool(bool),
    /// An `int` that fits 64 bits, or a numpy integer scalar.
    Int(i64),
    /// A `float` or a numpy float scalar.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`, named tuples included.
    Tuple(Vec<Value>),
    /// A dict, in Python's order; non-string keys are turned into strings with `str()`.
    Dict(Vec<(String, Value)>),
    /// A numpy array (it travels as a `.npy` file).
    Array(NdArray),
    /// A grader fixture object (see [`Worker::new_fixture`](crate::Worker::new_fixture)).
    Obj(ObjHandle),
    /// An object with no data form (a class instance, a generator, an int beyond 64 bits…),
    /// kept in the worker.
    Opaque {
        /// Its class, qualified by its module unless a builtin (`mymodule.KVCache`).
        type_name: String,
        /// The handle to call its methods through or pass it back.
        handle: ObjHandle,
    },
}

/// A value of the wrong kind for what a grader expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Another kind of value than the one asked for.
    #[error("expected {expected}, got {found}")]
    WrongType {
        /// What was asked for ("a number", "a list or tuple").
        expected: &'static str,
        /// What came instead, as [`Value::type_name`] says it.
        found: String,
    },
    /// Nested lists that do not make a rectangular array: where and how.
    #[error("nested lists are ragged: {0}")]
    Ragged(String),
}

impl Value {
    /// A short description of the value's type, for evidence ("ndarray float32 [4, 8]").
    pub fn type_name(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::List(items) => format!("list of {}", items.len()),
            Value::Tuple(items) => format!("tuple of {}", items.len()),
            Value::Dict(items) => format!("dict of {}", items.len()),
            Value::Array(array) => format!("ndarray {} {:?}", array.dtype(), array.shape()),
            Value::Obj(_) => "fixture object".into(),
            Value::Opaque { type_name, .. } => type_name.clone(),
        }
    }

    fn wrong(&self, expected: &'static str) -> ValueError {
        ValueError::WrongType {
            expected,
            found: self.type_name(),
        }
    }

    /// A number as f64: a float, an int, or a 0-d numeric array.
    pub fn as_f64(&self) -> Result<f64, ValueError> {
        match self {
            Value::Float(x) => Ok(*x),
            Value::Int(i) => Ok(*i as f64),
            Value::Array(array) if array.shape().is_empty() => Ok(numeric_f64(array)
                .ok_or_else(|| self.wrong("a number"))?
                .into_iter()
                .next()
                .expect("a 0-d array has one element")),
            _ => Err(self.wrong("a number")),
        }
    }

    /// An integer: an int, or a 0-d integer array (floats are not silently truncated).
    pub fn as_i64(&self) -> Result<i64, ValueError> {
        match self {
            Value::Int(i) => Ok(*i),
            Value::Array(NdArray::I64(a)) if a.shape().is_empty() => {
                Ok(*a.iter().next().expect("a 0-d array has one element"))
            }
            _ => Err(self.wrong("an int")),
        }
    }

    /// A `bool` (an int is no bool here).
    pub fn as_bool(&self) -> Result<bool, ValueError> {
        match self {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.wrong("a bool")),
        }
    }

    /// A `str`.
    pub fn as_str(&self) -> Result<&str, ValueError> {
        match self {
            Value::Str(s) => Ok(s),
            _ => Err(self.wrong("a str")),
        }
    }

    /// The items of a list or a tuple.
    pub fn as_sequence(&self) -> Result<&[Value], ValueError> {
        match self {
            Value::List(items) | Value::Tuple(items) => Ok(items),
            _ => Err(self.wrong("a list or tuple")),
        }
    }

    /// The value under `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A numeric array as f64: any numeric ndarray, a number, or (nested, rectangular) lists
    /// and tuples of numbers.
    pub fn to_f64_array(&self) -> Result<ArrayD<f64>, ValueError> {
        if let Value::Array(array) = self {
            return numeric_f64(array).ok_or_else(|| self.wrong("a numeric array"));
        }
        let mut shape = Vec::new();
        let mut data = Vec::new();
        flatten(self, 0, &mut shape, &mut data, &|v| v.as_f64())?;
        Ok(ArrayD::from_shape_vec(IxDyn(&shape), data).expect("flatten checked the shape"))
    }

    /// An integer array: an int64 ndarray, an int, or (nested, rectangular) lists of ints.
    pub fn to_i64_array(&self) -> Result<ArrayD<i64>, ValueError> {
        if let Value::Array(array) = self {
            return match array {
                NdArray::I64(a) => Ok(a.clone()),
                _ => Err(self.wrong("an integer array")),
            };
        }
        let mut shape = Vec::new();
        let mut data = Vec::new();
        flatten(self, 0, &mut shape, &mut data, &|v| v.as_i64())?;
        Ok(ArrayD::from_shape_vec(IxDyn(&shape), data).expect("flatten checked the shape"))
    }
}

fn numeric_f64(array: &NdArray) -> Option<ArrayD<f64>> {
    match array {
        NdArray::F64(a) => Some(a.clone()),
        NdArray::F32(a) => Some(a.mapv(f64::from)),
        NdArray::I64(a) => Some(a.mapv(|x| x as f64)),
        NdArray::Bool(_) => None,
    }
}

/// Walks nested sequences depth-first, recording the shape on the way down the first branch
/// and checking every other branch against it.
fn flatten<T>(
    value: &Value,
    depth: usize,
    shape: &mut Vec<usize>,
    data: &mut Vec<T>,
    leaf: &dyn Fn(&Value) -> Result<T, ValueError>,
) -> Result<(), ValueError> {
    match value {
        Value::List(items) | Value::Tuple(items) => {
            if depth == shape.len() {
                if !data.is_empty() {
                    return Err(ValueError::Ragged(format!(
                        "a list where a number was expected at depth {depth}"
                    )));
                }
                shape.push(items.len());
            } else if depth > shape.len() || shape[depth] != items.len() {
                return Err(ValueError::Ragged(format!(
                    "length {} at depth {depth}, expected {}",
                    items.len(),
                    shape.get(depth).copied().unwrap_or(0)
                )));
            }
            items
                .iter()
                .try_for_each(|item| flatten(item, depth + 1, shape, data, leaf))
        }
        _ => {
            if depth != shape.len() {
                return Err(ValueError::Ragged(format!(
                    "a number at depth {depth}, expected a list"
                )));
            }
            data.push(leaf(value)?);
            Ok(())
        }
    }
}

macro_rules! value_from_array {
    ($elem:ty, $variant:ident) => {
        impl<D: ndarray::Dimension> From<ndarray::Array<$elem, D>> for Value {
            fn from(array: ndarray::Array<$elem, D>) -> Value {
                Value::Array(NdArray::$variant(array.into_dyn()))
            }
        }
    };
}
value_from_array!(f64, F64);
value_from_array!(f32, F32);
value_from_array!(i64, I64);
value_from_array!(bool, Bool);

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items)
    }
}

impl From<ObjHandle> for Value {
    fn from(handle: ObjHandle) -> Value {
        Value::Obj(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: Vec<Value>) -> Value {
        Value::List(items)
    }

    #[test]
    fn nested_lists_become_rectangular_arrays() {
        let rows = list(vec![
            list(vec![Value::Int(1), Value::Float(2.5)]),
            Value::Tuple(vec![Value::Int(3), Value::Int(4)]),
        ]);
        let array = rows.to_f64_array().expect("rectangular");
        assert_eq!(array.shape(), &[2, 2]);
        assert_eq!(
            array.iter().copied().collect::<Vec<_>>(),
            vec![1.0, 2.5, 3.0, 4.0]
        );
        assert_eq!(list(vec![]).to_f64_array().expect("empty").shape(), &[0]);
        assert_eq!(
            Value::Float(2.0).to_f64_array().expect("scalar").shape(),
            &[] as &[usize]
        );
    }

    #[test]
    fn ragged_and_mixed_depth_lists_are_refused() {
        let ragged = list(vec![
            list(vec![Value::Int(1), Value::Int(2)]),
            list(vec![Value::Int(3)]),
        ]);
        assert!(matches!(ragged.to_f64_array(), Err(ValueError::Ragged(_))));
        let mixed = list(vec![Value::Int(1), list(vec![Value::Int(2)])]);
        assert!(matches!(mixed.to_f64_array(), Err(ValueError::Ragged(_))));
        let deeper = list(vec![
            list(vec![Value::Int(1)]),
            list(vec![list(vec![Value::Int(2)])]),
        ]);
        assert!(matches!(deeper.to_f64_array(), Err(ValueError::Ragged(_))));
    }

    #[test]
    fn integers_are_not_made_from_floats() {
        assert_eq!(Value::Int(7).as_i64(), Ok(7));
        assert!(Value::Float(7.0).as_i64().is_err());
        let tokens = list(vec![Value::Int(5), Value::Int(-1)]);
        assert_eq!(
            tokens
                .to_i64_array()
                .expect("ints")
                .into_raw_vec_and_offset()
                .0,
            vec![5, -1]
        );
        assert!(list(vec![Value::Float(1.0)]).to_i64_array().is_err());
        let floats: Value = ndarray::arr1(&[1.0f64]).into();
        assert!(floats.to_i64_array().is_err());
    }

    #[test]
    fn wrong_types_name_what_was_found() {
        let error = Value::Str("hi".into())
            .to_f64_array()
            .expect_err("not numeric");
        assert_eq!(error.to_string(), "expected a number, got str");
        let bools: Value = ndarray::arr1(&[true]).into();
        assert_eq!(
            bools.to_f64_array().expect_err("bool").to_string(),
            "expected a numeric array, got ndarray bool [1]"
        );
    }
}
