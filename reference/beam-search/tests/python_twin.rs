//! `ScriptedModel` (Rust) == `ScriptedLM` (py/scripted_lm.py) on the same script.
//!
//! Needs a Python with NumPy: set `JUDGE_TEST_PYTHON` to it; otherwise the test says it was
//! skipped and passes.

use std::{path::Path, process::Command};

use beam_search::{ScriptedModel, next_token_distribution};
use ndarray::Array2;
use ndarray_npy::read_npy;
use tiny_lm::{LanguageModel, causal_mask};

const SCRIPT: &str = r#"
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1])
from scripted_lm import ScriptedLM
out = sys.argv[2]
model = ScriptedLM.from_json(open(f"{out}/script.json").read())
np.save(f"{out}/next.npy", model.next_token_logits([[7], [7, 1], [7, 2, 3], [4, 4]]))
mask = np.tril(np.ones((3, 3), dtype=bool)); mask[2, 1] = False
np.save(f"{out}/forward.npy", model(np.array([7, 5, 1]), np.where(mask, 0.0, -np.inf)))
"#;

#[test]
fn rust_and_numpy_scripted_models_agree() {
    let Some(python) = std::env::var_os("JUDGE_TEST_PYTHON") else {
        eprintln!("skipped: JUDGE_TEST_PYTHON (a python with numpy) is not set");
        return;
    };
    let d = |listed: &[(u32, f64)]| next_token_distribution(50, listed).unwrap();
    let mut impossible = d(&[(3, -0.25)]);
    impossible[9] = f64::NEG_INFINITY;
    let model = ScriptedModel::new(d(&[]))
        .unwrap()
        .with_rule(vec![7], d(&[(1, -1.0), (2, -2.0)]))
        .unwrap()
        .with_rule(vec![7, 1], impossible)
        .unwrap()
        .with_rule(vec![7, 2, 3], d(&[(0, -0.5)]))
        .unwrap();

    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("script.json"), model.to_json().to_string()).expect("write");
    let py_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("py");
    let output = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(&py_dir)
        .arg(dir.path())
        .output()
        .expect("run JUDGE_TEST_PYTHON");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let sequences: [&[u32]; 4] = [&[7], &[7, 1], &[7, 2, 3], &[4, 4]];
    let rust_next = model.next_token_logits_batch(&sequences).unwrap();
    let python_next: Array2<f64> = read_npy(dir.path().join("next.npy")).expect("read");
    assert_eq!(rust_next, python_next);

    let mut mask = causal_mask(3);
    mask[[2, 1]] = false;
    let rust_forward = model.logits(&[7, 5, 1], mask.view()).unwrap();
    let python_forward: Array2<f64> = read_npy(dir.path().join("forward.npy")).expect("read");
    assert_eq!(rust_forward, python_forward);
    println!("ScriptedModel and ScriptedLM agree exactly");
}
