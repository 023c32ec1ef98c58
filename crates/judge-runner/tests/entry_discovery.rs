//! Entry discovery through the bridge on the toy contract `add(a, b)`: which file is loaded,
//! and what the report learns when the contract is missing, partial or does not import.

mod common;

use judge_runner::{CallError, Value};

use common::{call_add, start, submission};

#[test]
fn missing_function_is_reported_with_the_files_searched() {
    let dir = submission(&[("toy.py", "def subtract(a, b):\n    return a - b\n")]);
    let mut worker = start(dir.path());
    let error = worker
        .load_entry(&["add"], "toy")
        .expect_err("nothing defines add");
    match error {
        CallError::Missing { name, detail } => {
            assert_eq!(name, "add");
            assert!(detail.contains("toy.py"), "{detail}");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    let error = call_add(&mut worker).expect_err("no module");
    assert!(matches!(error, CallError::Missing { .. }), "{error:?}");
}

#[test]
fn partial_contract_loads_and_names_what_is_missing() {
    let dir = submission(&[("toy.py", "def add(a, b):\n    return a + b\n")]);
    let mut worker = start(dir.path());
    let entry = worker
        .load_entry(&["add", "scale"], "toy")
        .expect("add is there");
    assert_eq!(entry.defined, vec!["add"]);
    assert_eq!(entry.missing, vec!["scale"]);
    let error = worker
        .call_function("scale", vec![Value::Int(2)])
        .expect_err("no scale");
    assert!(
        matches!(error, CallError::Missing { ref name, .. } if name == "scale"),
        "{error:?}"
    );
}

#[test]
fn wrong_arity_shows_in_parameters_and_as_type_error() {
    let dir = submission(&[("toy.py", "def add(a):\n    return a\n")]);
    let mut worker = start(dir.path());
    let entry = worker.load_entry(&["add"], "toy").expect("loads");
    assert_eq!(entry.parameters_of("add"), Some(&["a".to_string()][..]));
    let error = call_add(&mut worker).expect_err("two arguments for one parameter");
    // Refused at the call boundary: the interface was not followed (issue 15), and the
    // evidence still carries the TypeError, with the signature found and the call made.
    assert!(
        matches!(error, CallError::Contract { ref name, ref detail }
            if name == "add" && detail.contains("found add(a)") && detail.contains("TypeError")),
        "{error:?}"
    );
}

#[test]
fn a_type_error_inside_the_submissions_own_code_is_its_exception_not_the_contract() {
    let source = "def add(a, b):\n    return helper(a)\n\ndef helper(x, y):\n    return x + y\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["add"], "toy").expect("loads");
    let error = call_add(&mut worker).expect_err("helper is called with one argument");
    assert!(
        matches!(error, CallError::Exception { ref type_name, .. } if type_name == "TypeError"),
        "{error:?}"
    );
}

#[test]
fn a_refused_call_quotes_the_signature_the_interface_declares() {
    let dir = submission(&[("toy.py", "def add(model, a, b):\n    return a + b\n")]);
    let mut worker = start(dir.path());
    let signatures = [("add".to_string(), "add(a, b)".to_string())];
    worker
        .load_entry_from(&judge_runner::EntryRequest {
            names: &["add"],
            prefer: "toy",
            entry: None,
            signatures: &signatures,
        })
        .expect("loads");
    let error = call_add(&mut worker).expect_err("a missing argument");
    assert!(
        matches!(error, CallError::Contract { ref detail, .. }
            if detail.starts_with("expected add(a, b); found add(model, a, b)")),
        "{error:?}"
    );
}

#[test]
fn syntax_error_is_reported_with_file_and_line() {
    let dir = submission(&[("toy.py", "def add(a, b)\n    return a + b\n")]);
    let mut worker = start(dir.path());
    let error = worker
        .load_entry(&["add"], "toy")
        .expect_err("cannot parse");
    match &error {
        CallError::Exception {
            type_name,
            traceback_tail,
            ..
        } => {
            assert_eq!(type_name, "SyntaxError");
            assert!(
                traceback_tail.contains("toy.py") && traceback_tail.contains("line 1"),
                "{traceback_tail}"
            );
        }
        other => panic!("expected a SyntaxError, got {other:?}"),
    }
}

#[test]
fn import_error_is_reported() {
    let dir = submission(&[(
        "toy.py",
        "import scipy_that_does_not_exist\ndef add(a, b):\n    return a + b\n",
    )]);
    let mut worker = start(dir.path());
    let error = worker
        .load_entry(&["add"], "toy")
        .expect_err("import fails");
    assert!(
        matches!(&error, CallError::Exception { type_name, message, .. }
            if type_name == "ModuleNotFoundError" && message.contains("scipy_that_does_not_exist")),
        "{error:?}"
    );
}

#[test]
fn several_candidates_prefer_the_challenge_file_and_skip_tests() {
    let dir = submission(&[
        ("helpers.py", "def add(a, b):\n    return a - b\n"),
        ("toy.py", "def add(a, b):\n    return a + b\n"),
        (
            "test_toy.py",
            "from toy import add\nassert (add(1, 2) == 3)\n",
        ),
        ("notes/old_attempt.py", "def add(a, b):\n    return None\n"),
    ]);
    let mut worker = start(dir.path());
    let entry = worker.load_entry(&["add"], "toy").expect("loads");
    assert_eq!(entry.file, std::path::Path::new("toy.py"));
    assert_eq!(entry.candidates.len(), 4, "{:?}", entry.candidates);
    assert_eq!(
        call_add(&mut worker).map(|o| o.value.to_f64_array().is_ok()),
        Ok(true)
    );
}

#[test]
fn the_file_defining_more_contract_names_wins() {
    let dir = submission(&[
        ("toy.py", "def add(a, b):\n    return a + b\n"),
        (
            "impl.py",
            "def add(a, b):\n    return a + b\ndef scale(a, k):\n    return a * k\n",
        ),
    ]);
    let mut worker = start(dir.path());
    let entry = worker.load_entry(&["add", "scale"], "toy").expect("loads");
    assert_eq!(entry.file, std::path::Path::new("impl.py"));
}

#[test]
fn no_python_file_at_all() {
    let dir = submission(&[("README.md", "I wrote it in Julia.\n")]);
    let mut worker = start(dir.path());
    let error = worker
        .load_entry(&["add"], "toy")
        .expect_err("nothing to import");
    assert!(
        matches!(&error, CallError::Missing { detail, .. } if detail.contains("no .py file")),
        "{error:?}"
    );
}
