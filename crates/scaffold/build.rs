//! Embeds prompts/<id>.md and, where a grader has written one, prompts/<id>.interface.md.
//! Generated rather than hand-listed so that adding an interface file needs no code change.

use std::env;
use std::fs;
use std::path::PathBuf;

const IDS: [&str; 8] = [
    "backwards",
    "fuse",
    "kv",
    "beam_search",
    "flash_attention",
    "dflash_verify",
    "flash_attention_bwd",
    "ternary_training",
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let prompts = manifest.join("../../prompts");
    println!("cargo::rerun-if-changed={}", prompts.display());
    let mut code = String::from(
        "/// (seed prompt, interface section) per challenge id, in the seed's order.\n\
         pub(crate) const PROMPTS: [(&str, &str, Option<&str>); 8] = [\n",
    );
    for id in IDS {
        let prompt = prompts.join(format!("{id}.md"));
        let interface = prompts.join(format!("{id}.interface.md"));
        assert!(prompt.exists(), "missing {}", prompt.display());
        println!("cargo::rerun-if-changed={}", interface.display());
        let interface = if interface.exists() {
            format!(
                "Some(include_str!({:?}))",
                fs::canonicalize(&interface).unwrap()
            )
        } else {
            "None".to_string()
        };
        code.push_str(&format!(
            "    ({id:?}, include_str!({:?}), {interface}),\n",
            fs::canonicalize(&prompt).unwrap()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("prompts.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
