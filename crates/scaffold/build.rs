//! Embeds every prompts/<id>.md and, where a grader has written one, prompts/<id>.interface.md.
//! Generated from what the folder holds rather than a list of ids, so adding a challenge's
//! prompt needs no code change here; a test checks every challenge of the table has one.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let prompts = manifest.join("../../prompts");
    println!("cargo::rerun-if-changed={}", prompts.display());
    let mut ids: Vec<String> = fs::read_dir(&prompts)
        .expect("the repository has a prompts/ folder")
        .map(|entry| entry.expect("prompts/ is readable").file_name())
        .filter_map(|name| {
            let name = name.to_str()?;
            let id = name.strip_suffix(".md")?;
            (!id.contains('.')).then(|| id.to_string())
        })
        .collect();
    ids.sort();
    let mut code = String::from(
        "/// (challenge id, seed prompt, interface section) for every prompt in prompts/.\n\
         pub(crate) const PROMPTS: &[(&str, &str, Option<&str>)] = &[\n",
    );
    for id in ids {
        let prompt = prompts.join(format!("{id}.md"));
        let interface = prompts.join(format!("{id}.interface.md"));
        println!("cargo::rerun-if-changed={}", prompt.display());
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
