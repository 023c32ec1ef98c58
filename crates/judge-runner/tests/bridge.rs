//! The bridge end to end on a toy contract, `add(a, b)` over arrays: each kind of
//! implementation gets the verdict it deserves. Comparisons happen here, in Rust.

mod common;

use std::time::{Duration, Instant};

use approx::assert_abs_diff_eq;
use judge_runner::{CallError, NdArray, Target, Value, WorkerOptions};
use ndarray::{Array2, ArrayD, IxDyn};

use common::{call_add, operands, short_limits, start, start_with, submission};

#[test]
fn correct_add_matches_the_rust_sum() {
    let dir = submission(&[(
        "toy.py",
        "import numpy as np\ndef add(a, b):\n    return a + b\n",
    )]);
    let mut worker = start(dir.path());
    let entry = worker.load_entry(&["add"], "toy").expect("toy.py loads");
    assert_eq!(entry.file, std::path::Path::new("toy.py"));
    assert_eq!(
        entry.parameters_of("add"),
        Some(&["a".to_string(), "b".to_string()][..])
    );
    let outcome = call_add(&mut worker).expect("add returns");
    let (_, _, sum) = operands();
    let got = outcome.value.to_f64_array().expect("an array");
    assert_eq!(got.shape(), sum.shape());
    assert_abs_diff_eq!(got, sum.into_dyn(), epsilon = 0.0);
    assert!(outcome.seconds >= 0.0 && outcome.seconds <= outcome.round_trip_seconds);
    assert!(
        outcome.peak_bytes.is_some_and(|peak| peak >= 12 * 8),
        "the sum's buffer is traced"
    );
}

/// The process-wide tally a benchmark reads counts every returned call with its figures (other
/// tests call in parallel, so the span holds at least this test's calls).
#[test]
fn the_call_tally_counts_returned_calls_and_their_seconds() {
    let dir = submission(&[("toy.py", "def add(a, b):\n    return a + b\n")]);
    let mut worker = start(dir.path());
    worker.load_entry(&["add"], "toy").expect("loads");
    let before = judge_runner::CallTally::now();
    let first = call_add(&mut worker).expect("returns");
    let second = call_add(&mut worker).expect("returns");
    let span = judge_runner::CallTally::now().since(&before);
    assert!(span.calls >= 2, "{span:?}");
    assert!(
        span.call_seconds >= 0.999 * (first.seconds + second.seconds),
        "{span:?}"
    );
    assert!(
        span.round_trip_seconds >= 0.999 * (first.round_trip_seconds + second.round_trip_seconds),
        "{span:?}"
    );
    assert!(span.round_trip_seconds >= span.call_seconds, "{span:?}");
}

#[test]
fn wrong_add_is_caught_by_the_rust_comparison() {
    let dir = submission(&[("toy.py", "def add(a, b):\n    return a - b\n")]);
    let mut worker = start(dir.path());
    worker.load_entry(&["add"], "toy").expect("loads");
    let got = call_add(&mut worker)
        .expect("returns")
        .value
        .to_f64_array()
        .expect("an array");
    let (_, _, sum) = operands();
    let max_error = (&got - &sum.into_dyn())
        .mapv(f64::abs)
        .fold(0.0f64, |m, &x| m.max(x));
    assert!(
        max_error > 1.0,
        "a - b differs from a + b, max error {max_error}"
    );
}

#[test]
fn raising_add_reports_type_message_and_location() {
    let dir = submission(&[(
        "toy.py",
        "def add(a, b):\n    raise ValueError('shapes do not match')\n",
    )]);
    let mut worker = start(dir.path());
    worker.load_entry(&["add"], "toy").expect("loads");
    let error = call_add(&mut worker).expect_err("add raises");
    match &error {
        CallError::Exception {
            type_name,
            message,
            traceback_tail,
        } => {
            assert_eq!(type_name, "ValueError");
            assert_eq!(message, "shapes do not match");
            assert!(traceback_tail.contains("toy.py"), "{traceback_tail}");
            assert!(
                !traceback_tail.contains("worker.py"),
                "the worker's frame is dropped: {traceback_tail}"
            );
        }
        other => panic!("expected an exception, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "ValueError: shapes do not match (at toy.py:2)"
    );
    // The worker survives an exception.
    assert!(
        worker
            .call_function("add", vec![Value::Int(1), Value::Int(2)])
            .is_err()
    );
    assert!(worker.stopped().is_none());
}

#[test]
fn hanging_add_times_out_and_later_calls_fail_fast() {
    let dir = submission(&[("toy.py", "def add(a, b):\n    while True:\n        pass\n")]);
    let mut worker = start(dir.path());
    worker.load_entry(&["add"], "toy").expect("loads");
    let started = Instant::now();
    let (a, b, _) = operands();
    let error = worker
        .call(
            Target::Function("add".into()),
            vec![a.into(), b.into()],
            vec![],
            Duration::from_secs(2),
        )
        .expect_err("add never returns");
    let waited = started.elapsed();
    assert!(
        matches!(error, CallError::Timeout { total: false, .. }),
        "{error:?}"
    );
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    let again = Instant::now();
    let error = call_add(&mut worker).expect_err("the sandbox is gone");
    assert!(matches!(error, CallError::Stopped { .. }), "{error:?}");
    assert!(again.elapsed() < Duration::from_millis(100));
}

#[test]
fn total_time_limit_bounds_many_short_calls() {
    let dir = submission(&[(
        "toy.py",
        "import time\ndef add(a, b):\n    time.sleep(0.4)\n    return a + b\n",
    )]);
    let mut limits = short_limits();
    limits.total_timeout = Duration::from_secs(2);
    let mut worker = start_with(
        dir.path(),
        WorkerOptions {
            limits,
            fixtures: vec![],
        },
    );
    worker.load_entry(&["add"], "toy").expect("loads");
    let errors: Vec<CallError> = (0..10)
        .filter_map(|_| call_add(&mut worker).err())
        .collect();
    assert!(
        matches!(errors.first(), Some(CallError::Timeout { total: true, .. })),
        "{errors:?}"
    );
}

#[test]
fn values_round_trip_with_their_types() {
    let source = r#"
import numpy as np
def echo(*args, **kwargs):
    return args, kwargs
def numpy_kinds():
    return {
        "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
        "u8": np.array([255, 0], dtype=np.uint8),
        "f32": np.ones((2,), dtype=np.float32) / 3,
        "f16": np.array([0.5], dtype=np.float16),
        "bool": np.array([True, False]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "scalar_f": np.float32(1.5),
        "scalar_i": np.int64(-7),
        "scalar_b": np.bool_(True),
        "zero_d": np.array(2.5),
        "big": 1 << 70,
        "complex": np.array([1j]),
        3: "int key",
    }
class Thing:
    def __init__(self, base):
        self.base = base
    def plus(self, x):
        return self.base + x
def make_thing(base):
    return Thing(base)
"#;
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker
        .load_entry(&["echo", "numpy_kinds", "make_thing"], "toy")
        .expect("loads");

    let matrix = Array2::from_shape_fn((2, 2), |(i, j)| (i * 2 + j) as f32);
    let args = vec![
        Value::None,
        Value::Bool(true),
        Value::Int(-3),
        Value::Float(f64::NAN),
        Value::Float(f64::NEG_INFINITY),
        Value::Float(1.0),
        Value::Str("héllo".into()),
        Value::List(vec![Value::Int(1), Value::Tuple(vec![Value::Float(2.5)])]),
        matrix.clone().into(),
        ArrayD::from_shape_vec(IxDyn(&[3]), vec![true, false, true])
            .unwrap()
            .into(),
    ];
    let kwargs = vec![(
        "k".to_string(),
        Value::Dict(vec![("x".into(), Value::Int(7))]),
    )];
    let outcome = worker
        .call(
            Target::Function("echo".into()),
            args.clone(),
            kwargs.clone(),
            Duration::from_secs(5),
        )
        .expect("echo returns");
    let Value::Tuple(parts) = outcome.value else {
        panic!("a tuple")
    };
    let Value::Tuple(echoed) = &parts[0] else {
        panic!("args tuple")
    };
    assert_eq!(echoed.len(), args.len());
    for (got, sent) in echoed.iter().zip(&args) {
        match (got, sent) {
            (Value::Float(g), Value::Float(s)) if s.is_nan() => assert!(g.is_nan()),
            _ => assert_eq!(got, sent),
        }
    }
    assert_eq!(parts[1], Value::Dict(kwargs));

    let kinds = worker
        .call_function("numpy_kinds", vec![])
        .expect("returns")
        .value;
    let get = |key: &str| {
        kinds
            .get(key)
            .unwrap_or_else(|| panic!("{key} present"))
            .clone()
    };
    let Value::Array(NdArray::I64(i32s)) = get("i32") else {
        panic!("int32 widens to int64")
    };
    assert_eq!(i32s.shape(), &[2, 3]);
    assert_eq!(
        i32s.iter().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        get("u8")
            .to_i64_array()
            .unwrap()
            .into_raw_vec_and_offset()
            .0,
        vec![255, 0]
    );
    let Value::Array(NdArray::F32(f32s)) = get("f32") else {
        panic!("float32 stays float32")
    };
    assert_eq!(f32s[[0]], 1.0f32 / 3.0);
    assert!(matches!(get("f16"), Value::Array(NdArray::F64(ref a)) if a[[0]] == 0.5));
    assert!(
        matches!(get("bool"), Value::Array(NdArray::Bool(ref a)) if a.iter().eq([true, false].iter()))
    );
    let fortran = get("fortran").to_f64_array().unwrap();
    assert_eq!(fortran[[1, 0]], 3.0, "Fortran order keeps logical indexing");
    assert_eq!(get("scalar_f"), Value::Float(1.5));
    assert_eq!(get("scalar_i"), Value::Int(-7));
    assert_eq!(get("scalar_b"), Value::Bool(true));
    assert_eq!(get("zero_d").as_f64(), Ok(2.5));
    assert!(matches!(get("big"), Value::Opaque { ref type_name, .. } if type_name.contains("int")));
    assert!(
        matches!(get("complex"), Value::Opaque { ref type_name, .. } if type_name.contains("complex"))
    );
    assert_eq!(get("3"), Value::Str("int key".into()));

    let thing = worker
        .call_function("make_thing", vec![Value::Int(40)])
        .expect("returns")
        .value;
    let Value::Opaque { type_name, handle } = thing else {
        panic!("an object handle")
    };
    assert_eq!(type_name, "toy.Thing");
    let sum = worker
        .call(
            Target::Method(handle, "plus".into()),
            vec![Value::Int(2)],
            vec![],
            Duration::from_secs(5),
        )
        .expect("method call");
    assert_eq!(sum.value, Value::Int(42));
}

#[test]
fn fixture_calls_are_counted() {
    let fixture = "class Model:\n    def __init__(self, vocab):\n        self.vocab = vocab\n        self.steps = 0\n    def logits(self, token):\n        self.steps += 1\n        return [float(token)] * self.vocab\n";
    let source = "def generate(model, n):\n    out = []\n    for t in range(n):\n        out.append(model.logits(t)[0])\n    return out, model.vocab\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start_with(
        dir.path(),
        WorkerOptions {
            limits: short_limits(),
            fixtures: vec![("models".into(), fixture.into())],
        },
    );
    worker.load_entry(&["generate"], "toy").expect("loads");
    let model = worker
        .new_fixture("models", "Model", vec![Value::Int(4)], vec![])
        .expect("fixture");
    let outcome = worker
        .call_function("generate", vec![Value::Obj(model), Value::Int(3)])
        .expect("runs");
    assert_eq!(outcome.fixture_calls, 3);
    assert_eq!(
        outcome.value,
        Value::Tuple(vec![
            Value::List(vec![
                Value::Float(0.0),
                Value::Float(1.0),
                Value::Float(2.0)
            ]),
            Value::Int(4)
        ])
    );
    assert_eq!(worker.fixture_calls(model), Ok(3));
    // The judge's own look at the fixture is not counted as the submission's.
    let steps = worker
        .call(
            Target::Method(model, "logits".into()),
            vec![Value::Int(9)],
            vec![],
            Duration::from_secs(5),
        )
        .expect("judge-side call");
    assert_eq!(steps.fixture_calls, 0);
    assert_eq!(worker.fixture_calls(model), Ok(3));
    let error = worker
        .new_fixture("models", "NoSuchModel", vec![], vec![])
        .expect_err("no such class");
    assert!(matches!(error, CallError::Missing { .. }), "{error:?}");
}

#[test]
fn tracemalloc_peak_covers_allocations_inside_the_call() {
    let source =
        "import numpy as np\ndef work(n):\n    big = np.ones(n)\n    return float(big.sum())\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["work"], "toy").expect("loads");
    let n = 1_000_000i64;
    let outcome = worker
        .call_function("work", vec![Value::Int(n)])
        .expect("runs");
    assert_eq!(outcome.value, Value::Float(n as f64));
    let peak = outcome.peak_bytes.expect("tracing intact");
    assert!(
        peak >= 8 * n as u64 && peak < 8 * n as u64 + (1 << 20),
        "peak {peak}"
    );
    let small = worker
        .call_function("work", vec![Value::Int(10)])
        .expect("runs");
    assert!(
        small.peak_bytes.expect("tracing intact") < 1 << 16,
        "the peak is reset between calls"
    );
}

#[test]
fn the_judge_measures_working_memory_freed_before_return_and_from_mmap() {
    let source = "import mmap\nimport numpy as np\n\
def heap(n):\n    big = np.ones(n)\n    total = float(big.sum())\n    del big\n    return total\n\
def mapped(n):\n    buf = mmap.mmap(-1, 8 * n)\n    a = np.frombuffer(buf, dtype=np.float64)\n    a[:] = 1.0\n    total = float(a.sum())\n    del a\n    buf.close()\n    return total\n\
def echo(a):\n    return a * 2.0\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker
        .load_entry(&["heap", "mapped", "echo"], "toy")
        .expect("loads");
    let n = 16_000_000u64; // 128 MB, gone again before the call returns
    for function in ["heap", "mapped", "heap"] {
        let outcome = worker
            .call_function(function, vec![Value::Int(n as i64)])
            .expect("runs");
        let extra = outcome.resident_extra_bytes.expect("measured by the judge");
        // Within a MiB below (pages already resident) and 16 MiB above (interpreter, numpy).
        assert!(
            extra + (1 << 20) >= 8 * n && extra < 8 * n + (16 << 20),
            "{function}: {extra} B"
        );
    }
    // A buffer made at import and kept counts against every call, though none allocated it.
    let dir = submission(&[(
        "kept.py",
        "import numpy as np\nKEPT = np.ones(8_000_000)\ndef small():\n    return 1\n",
    )]);
    let mut kept = start(dir.path());
    kept.load_entry(&["small"], "kept").expect("loads");
    let outcome = kept.call_function("small", vec![]).expect("runs");
    let extra = outcome.resident_extra_bytes.expect("measured");
    assert!(extra + (1 << 20) >= 64_000_000, "the kept 64 MB: {extra} B");

    // Argument and result arrays (32 MB each) are not the call's working memory.
    let a = ndarray::Array1::<f64>::ones(4_000_000);
    let echoed = worker.call_function("echo", vec![a.into()]).expect("runs");
    let extra = echoed.resident_extra_bytes.expect("measured");
    assert!(
        extra < 4 << 20,
        "arrays in and out counted as work: {extra} B"
    );
}

/// A remote fixture for the tests: `scale(x)` multiplies by its factor, anything else fails.
struct Scaler {
    factor: f64,
}

impl judge_runner::RemoteObject for Scaler {
    fn call(
        &mut self,
        method: &str,
        args: Vec<Value>,
        _kwargs: Vec<(String, Value)>,
    ) -> Result<Value, String> {
        match (method, args.first()) {
            ("scale", Some(x)) => {
                let x = x.to_f64_array().map_err(|e| e.to_string())?;
                Ok((x * self.factor).into())
            }
            _ => Err(format!("no method {method}")),
        }
    }
}

#[test]
fn remote_fixtures_run_in_the_judge_and_are_counted_there() {
    let source = "import numpy as np\n\
def use(model, n):\n    out = [model.scale(np.arange(3.0)) for _ in range(n)]\n    return out[-1], model.factor\n\
def peek(model):\n    try:\n        inner = object.__getattribute__(model, '_judge_fixture')\n    except AttributeError:\n        inner = None\n    return [type(model).__name__, inner]\n\
def misuse(model):\n    return model.explode()\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker
        .load_entry(&["use", "peek", "misuse"], "toy")
        .expect("loads");
    let remote = worker
        .new_remote(
            Box::new(Scaler { factor: 2.0 }),
            vec![("factor".into(), Value::Float(2.0))],
        )
        .expect("served");
    let outcome = worker
        .call_function("use", vec![Value::Obj(remote), Value::Int(4)])
        .expect("runs");
    assert_eq!(outcome.remote_calls, 4, "counted by the judge");
    assert_eq!(worker.remote_calls(remote), 4);
    let (scaled, factor) = match &outcome.value {
        Value::Tuple(items) => (items[0].to_f64_array().unwrap(), items[1].clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(scaled.iter().copied().collect::<Vec<_>>(), [0.0, 2.0, 4.0]);
    assert_eq!(factor, Value::Float(2.0));

    // Nothing of the judge's object is inside the worker to run or reset.
    let peek = worker
        .call_function("peek", vec![Value::Obj(remote)])
        .expect("runs");
    assert_eq!(
        peek.value,
        Value::List(vec![Value::Str("Remote".into()), Value::None])
    );
    // A failing remote method raises in the submission: its ERROR, counted all the same.
    let error = worker
        .call_function("misuse", vec![Value::Obj(remote)])
        .expect_err("raises");
    assert!(
        matches!(&error, CallError::Exception { type_name, message, .. }
            if type_name == "ValueError" && message.contains("no method explode")),
        "{error:?}"
    );
    assert_eq!(worker.remote_calls(remote), 5);
}

#[test]
fn a_forged_response_line_is_tampering_caught_at_the_next_exchange() {
    // Answers its own call on the response pipe, with the right sequence number, then returns.
    let source = "import fcntl, gc, json, os, stat\n\
def forge():\n    seq = max(o['seq'] for o in gc.get_objects() if type(o) is dict and o.get('op') == 'call' and 'seq' in o)\n    for name in os.listdir('/proc/self/fd'):\n        fd = int(name)\n        try:\n            if fd >= 100 and stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:\n                os.write(fd, (json.dumps({'ok': {'value': 42, 'seconds': 0.0, 'peak_bytes': 0, 'fixture_calls': 0}, 'seq': seq}) + '\\n').encode())\n        except OSError:\n            pass\n    return 1\n\
def garbage():\n    for fd in range(100, 110):\n        try:\n            os.write(fd, b'not json\\n')\n        except OSError:\n            pass\n    return 1\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker
        .load_entry(&["forge", "garbage"], "toy")
        .expect("loads");
    let forged = worker
        .call_function("forge", vec![])
        .expect("the forged answer");
    assert_eq!(forged.value, Value::Int(42));
    assert_eq!(worker.tampering(), None, "not seen yet");
    // The real answer comes before the next request's (queued already, or arriving first).
    let error = worker
        .check_channel()
        .expect_err("the real answer is still to come");
    assert!(
        matches!(&error, CallError::Tampered(what)
            if what.contains("while no request was pending")
                || what.contains("a response for request 2 arrived while request 3")),
        "{error:?}"
    );
    assert!(!error.is_harness_fault(), "the submission's doing");
    assert!(worker.tampering().is_some());
    assert!(matches!(
        worker.call_function("forge", vec![]),
        Err(CallError::Stopped { .. })
    ));

    let mut worker = start(dir.path());
    worker
        .load_entry(&["forge", "garbage"], "toy")
        .expect("loads");
    let error = worker
        .call_function("garbage", vec![])
        .expect_err("garbage");
    assert!(
        matches!(&error, CallError::Tampered(what) if what.contains("unreadable line")),
        "{error:?}"
    );
    assert!(!error.is_harness_fault());
}
