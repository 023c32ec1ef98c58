//! Authentication tags on GRADE.json: only reports this judge wrote are reused or counted.
//!
//! A submission folder can hold a file called GRADE.json, every criterion PASS, its fingerprint
//! filled in from public data. So every report the judge writes carries a `signature`: the
//! HMAC-SHA256 (hex) of its canonical bytes ([`Report::canonical_bytes`]: the compact JSON of the
//! report with `signature` absent, fields in declaration order, maps sorted) under a secret key.
//! Verification re-serialises the parsed report, so whitespace and field order in the file do
//! not matter but any changed value does.
//!
//! The key is 32 random bytes, stored as 64 hex digits in a file of mode 0600 that the judge
//! creates on first use in its own cache folder (never in a submission tree). The sandbox cannot
//! read it: it runs under another uid, and Landlock lets it read only the Python prefixes of that
//! folder, not the folder itself. A cluster shares one key (`--key FILE` / `JUDGE_KEY_FILE`) so
//! that the reports of all shards verify on the machine that merges them.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::fingerprint::hex;
use crate::report::Report;

/// The environment variable naming a key file (same as `--key FILE`).
pub const KEY_ENV: &str = "JUDGE_KEY_FILE";

/// The key's file name in the judge's cache folder.
pub const KEY_FILE_NAME: &str = "report.key";

const KEY_BYTES: usize = 32;

/// A key file is never larger than this (64 hex digits and a newline, with room for CRLF).
const KEY_FILE_LIMIT: u64 = 256;

type HmacSha256 = Hmac<Sha256>;

/// The secret that signs and verifies reports. Its bytes never appear in `Debug` output.
pub struct ReportKey {
    bytes: [u8; KEY_BYTES],
    path: PathBuf,
}

impl fmt::Debug for ReportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or created (a missing file is created, not an error).
    #[error("report key {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The file holds something other than 64 hex digits.
    #[error("report key {} is not 64 hex digits (make one with `openssl rand -hex 32`)", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// Group or others may read or write the key, so it is refused rather than trusted.
    #[error(
        "report key {} has mode {mode:o}: anyone who can read it can forge reports (chmod 600 it)",
        path.display()
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

pub use judge_schema::Unverified;

impl ReportKey {
    /// Reads the key at `path`, creating it (mode 0600, atomically) when there is none. Two
    /// judges starting at once end up with the same key: the file appears fully written or not
    /// at all, and the loser of the race reads the winner's.
    pub fn load_or_create(path: &Path) -> Result<ReportKey, KeyError> {
        match Self::load(path) {
            Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                create(path)?;
                Self::load(path)
            }
            other => other,
        }
    }

    /// Reads an existing key. A key readable by group or others is refused. Symbolic links are
    /// followed: a Kubernetes secret volume mounts its files as links.
    pub fn load(path: &Path) -> Result<ReportKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = fs::File::open(path).map_err(io)?;
        let mode = file.metadata().map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
        let mut text = String::new();
        file.take(KEY_FILE_LIMIT)
            .read_to_string(&mut text)
            .map_err(io)?;
        let bytes = parse_hex(text.trim()).ok_or_else(|| KeyError::Malformed {
            path: path.to_path_buf(),
        })?;
        Ok(ReportKey {
            bytes,
            path: path.to_path_buf(),
        })
    }

    /// The file the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn mac(&self, report: &Report) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.bytes).expect("HMAC accepts keys of any length");
        mac.update(&report.canonical_bytes());
        mac
    }

    /// Sets `report.signature` to the tag of the rest of the report.
    pub fn sign(&self, report: &mut Report) {
        report.signature = Some(hex(&self.mac(report).finalize().into_bytes()));
    }

    /// Whether `report.signature` is this key's tag of the rest of the report (compared in
    /// constant time).
    pub fn verify(&self, report: &Report) -> Result<(), Unverified> {
        let signature = report.signature.as_deref().ok_or(Unverified::Unsigned)?;
        let tag = parse_hex::<32>(signature).ok_or(Unverified::Mismatch)?;
        self.mac(report)
            .verify_slice(&tag)
            .map_err(|_| Unverified::Mismatch)
    }
}

/// Writes a fresh random key to `path` (creating its folder with the default mode: the judge's
/// cache folder must stay traversable for the sandbox, which runs its Python from there).
fn create(path: &Path) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io)?;
    let key: [u8; KEY_BYTES] = random_bytes().map_err(io)?;
    let tmp_name = format!(
        ".{KEY_FILE_NAME}.tmp-{}",
        hex(&random_bytes::<8>().map_err(io)?)
    );
    let tmp = dir.join(&tmp_name);
    let written = (|| {
        let mut file = crate::untrusted_fs::create_new(dir, &tmp_name, 0o600)?;
        file.write_all(format!("{}\n", hex(&key)).as_bytes())?;
        file.sync_all()?;
        // A hard link publishes the complete file under its name, or fails if a key exists.
        match fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    })();
    let _ = fs::remove_file(&tmp);
    written.map_err(io)
}

/// `N` bytes from the kernel's random source.
pub(crate) fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; N];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::ReportFile;
    use judge_schema::sample::sample_report;

    /// A key in a temporary folder; the folder must outlive the key's use.
    pub(crate) fn temp_key() -> (tempfile::TempDir, ReportKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = ReportKey::load_or_create(&dir.path().join(KEY_FILE_NAME)).unwrap();
        (dir, key)
    }

    #[test]
    fn a_key_is_created_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(KEY_FILE_NAME);
        let first = ReportKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ReportKey::load_or_create(&path).unwrap();
        assert_eq!(
            first.bytes, again.bytes,
            "an existing key is never replaced"
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        assert!(!format!("{first:?}").contains(&hex(&first.bytes)));
    }

    #[test]
    fn exposed_and_malformed_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ReportKey::load(&path),
            Err(KeyError::Exposed { mode: 0o644, .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(ReportKey::load(&path).is_ok());
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            ReportKey::load(&path),
            Err(KeyError::Malformed { .. })
        ));
    }

    #[test]
    fn a_signed_report_verifies_and_any_edit_breaks_it() {
        let (_dir, key) = temp_key();
        let mut report = sample_report();
        assert_eq!(key.verify(&report), Err(Unverified::Unsigned));
        key.sign(&mut report);
        assert_eq!(key.verify(&report), Ok(()));

        let mut edited = report.clone();
        edited.criteria[1].verdict = crate::Verdict::pass("forged");
        assert_eq!(key.verify(&edited), Err(Unverified::Mismatch));
        let mut garbage = report.clone();
        garbage.signature = Some("zz".into());
        assert_eq!(key.verify(&garbage), Err(Unverified::Mismatch));

        let (_other_dir, other) = temp_key();
        assert_eq!(other.verify(&report), Err(Unverified::Mismatch));
    }

    /// Found by grading the examples: honest reports whose `seconds` the default float parser
    /// read back 1 ulp off failed verification. The report is signed in memory and verified
    /// after a write and a read, so every float must round-trip exactly.
    #[test]
    fn a_signed_report_still_verifies_after_a_write_and_a_read() {
        let (dir, key) = temp_key();
        let mut report = sample_report();
        let mut x = 0.1_f64;
        for (i, criterion) in report.criteria.iter_mut().enumerate() {
            criterion.seconds = x;
            x = x * 1.000_000_7 + 1e-17 * i as f64 + std::f64::consts::PI / 1e9;
        }
        report.seconds = 45.372_910_348_123_46;
        report.score = 2.0 / 3.0;
        key.sign(&mut report);
        let path = dir.path().join("GRADE.json");
        report.write_atomic(&path).unwrap();
        let read = Report::read(&path).unwrap();
        assert_eq!(key.verify(&read), Ok(()));
        // The same holds over many awkward values of the kind timings produce.
        for i in 1..2000u32 {
            let mut timed = sample_report();
            timed.seconds = f64::from(i).sqrt() * 1.234_567_890_123e-3 + f64::from(i) / 7.0;
            key.sign(&mut timed);
            let text = timed.to_json();
            let back: Report = serde_json::from_str(&text).unwrap();
            assert_eq!(key.verify(&back), Ok(()), "seconds = {}", timed.seconds);
        }
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(parse_hex::<4>(&hex(&bytes)), Some(bytes));
        assert_eq!(parse_hex::<4>("00"), None);
        assert_eq!(parse_hex::<1>("g0"), None);
    }
}
