//! What "the machine is clean after a case" means, checked after every case: no process of the
//! judge's sandbox uids alive, nothing of theirs in /tmp, /dev/shm or $HOME, no scratch folder
//! of that judge left, and the submission folder byte for byte as it was.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The uids the sandboxes of the judge process `judge_pid` run under: the rule of
/// `judge_runner::sandbox` (a block of 1024 per judge pid above 1.5·10⁹), so processes of other
/// judges running on this machine at the same time are not mistaken for leftovers.
pub fn sandbox_uids(judge_pid: u32) -> Range<u32> {
    const SANDBOX_UID_BASE: u32 = 1_500_000_000;
    let first = SANDBOX_UID_BASE + (judge_pid % 500_000) * 1024;
    first..first + 1024
}

/// Every file below `dir` with its bytes: compared before and after a case.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).expect("a readable folder").flatten() {
            let path = entry.path();
            if entry.file_type().expect("a file type").is_dir() {
                pending.push(path);
            } else {
                let bytes = fs::read(&path).expect("a readable file");
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

/// Every live descendant of `pid`, from the kernel's per-thread child lists.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut pending = vec![pid];
    while let Some(parent) = pending.pop() {
        let tasks = fs::read_dir(format!("/proc/{parent}/task"))
            .into_iter()
            .flatten();
        for task in tasks.flatten() {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                pending.push(child);
            }
        }
    }
    found
}

/// Live processes (pid, uid) whose uid is in `uids`.
pub fn processes_of(uids: Range<u32>) -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .map(str::to_string)
        };
        let zombie = matches!(field("State:").as_deref(), Some("Z" | "X"));
        let uid = field("Uid:").and_then(|u| u.parse::<u32>().ok());
        if let Some(uid) = uid.filter(|u| !zombie && uids.contains(u)) {
            found.push((pid, uid));
        }
    }
    found
}

/// What is left of the judge `judge_pid`'s sandboxes, one line each; empty when clean.
pub fn leftovers(judge_pid: u32) -> Vec<String> {
    let uids = sandbox_uids(judge_pid);
    let mut found: Vec<String> = processes_of(uids.clone())
        .into_iter()
        .map(|(pid, uid)| format!("process {pid} of sandbox uid {uid} is alive"))
        .collect();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let temp = std::env::temp_dir();
    let places = [
        Some(PathBuf::from("/tmp")),
        Some(PathBuf::from("/dev/shm")),
        Some(temp),
        home,
    ];
    for place in places.into_iter().flatten() {
        for entry in fs::read_dir(&place).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = entry.metadata().map(|m| m.uid()).unwrap_or(0);
            if uids.contains(&owner) {
                found.push(format!(
                    "{} belongs to sandbox uid {owner}",
                    entry.path().display()
                ));
            }
            if name.starts_with(&format!("judge-{judge_pid}-")) {
                found.push(format!(
                    "scratch folder {} was left",
                    entry.path().display()
                ));
            }
        }
    }
    found
}
