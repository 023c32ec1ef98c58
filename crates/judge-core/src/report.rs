//! GRADE.json files: read and written atomically. The report's types are judge-schema's and are
//! re-exported here, so `judge_core::report::Report` is the same type.
//!
//! A GRADE.json may sit in a folder a submission controls, so it is read like any submission
//! file (a regular file, no symlink, never blocking, capped in bytes) and written through a
//! temporary file only the judge can have created.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use judge_schema::report::*;

use crate::signing::random_bytes;
use crate::untrusted_fs::{UntrustedFileError, create_new, read_capped_string};

/// No report the judge writes comes near this; a larger GRADE.json is refused unread.
pub const REPORT_FILE_LIMIT: u64 = 16 << 20;

/// Why a GRADE.json could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The temporary file could not be created, written, flushed or renamed over the target.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The GRADE.json being written.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Missing, unreadable, or not a plain regular file of a sane size (a link, a FIFO, a
    /// device, a 4 GiB sparse file).
    #[error(transparent)]
    Read(#[from] UntrustedFileError),
    /// Not JSON, or not the shape of a report.
    #[error("{path} is not a valid GRADE.json: {source}")]
    Malformed {
        /// The file read.
        path: PathBuf,
        /// Where and why parsing stopped.
        source: serde_json::Error,
    },
    /// A report of another schema version than [`SCHEMA_VERSION`].
    #[error("{path} has schema version {found}, this judge reads version {SCHEMA_VERSION}")]
    Schema {
        /// The file read.
        path: PathBuf,
        /// The version it records.
        found: u32,
    },
}

/// Reading and writing a [`Report`] as a file. A trait because the type is judge-schema's;
/// bring it into scope to call `Report::read(path)` and `report.write_atomic(path)`.
pub trait ReportFile: Sized {
    /// Reads a GRADE.json: only a regular file reached without a symbolic link, opened without
    /// blocking, at most [`REPORT_FILE_LIMIT`] bytes. Says nothing about who wrote it: see
    /// [`crate::signing::ReportKey::verify`].
    fn read(path: &Path) -> Result<Self, ReportError>;

    /// Writes the report so that a reader never sees a half-written file: a temporary file in
    /// the same directory, flushed to disk, then renamed over the target.
    fn write_atomic(&self, path: &Path) -> Result<(), ReportError>;
}

impl ReportFile for Report {
    fn read(path: &Path) -> Result<Report, ReportError> {
        let text = read_capped_string(path, REPORT_FILE_LIMIT)?;
        Report::from_json(&text).map_err(|error| match error {
            ParseError::Malformed(source) => ReportError::Malformed {
                path: path.to_path_buf(),
                source,
            },
            ParseError::Schema { found } => ReportError::Schema {
                path: path.to_path_buf(),
                found,
            },
        })
    }

    fn write_atomic(&self, path: &Path) -> Result<(), ReportError> {
        write_atomic(path, self.to_json().as_bytes())
    }
}

/// The judge's key is what `judge report` reads reports through: each file opened like any
/// file a submission may have planted, each signature checked with the key.
impl ReportSource for crate::signing::ReportKey {
    fn read_text(&self, path: &Path) -> Result<String, Unreadable> {
        read_capped_string(path, REPORT_FILE_LIMIT).map_err(|error| Unreadable {
            symbolic_link: matches!(error, UntrustedFileError::Symlink { .. }),
            reason: error.to_string(),
        })
    }

    fn verify(&self, report: &Report) -> Result<(), Unverified> {
        crate::signing::ReportKey::verify(self, report)
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, created
/// exclusively under an unpredictable name (so a planted `.GRADE.json.tmp-*` link is never
/// written through), then renamed over `path` (which replaces a planted link of that name
/// rather than following it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let wrap = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(wrap)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp_name = format!(
        ".{file_name}.tmp-{}",
        crate::fingerprint::hex(&random_bytes::<8>().map_err(wrap)?)
    );
    let tmp = dir.join(&tmp_name);
    let mut file = create_new(dir, &tmp_name, 0o644).map_err(wrap)?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use judge_schema::sample::sample_report;

    #[test]
    fn reports_round_trip_through_an_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(REPORT_FILE_NAME);
        let report = sample_report();
        report.write_atomic(&path).unwrap();
        assert_eq!(Report::read(&path).unwrap(), report);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(REPORT_FILE_NAME)]);
    }

    #[test]
    fn reading_rejects_other_schema_versions_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REPORT_FILE_NAME);
        fs::write(&path, r#"{"schema": 2}"#).unwrap();
        assert!(matches!(
            Report::read(&path),
            Err(ReportError::Schema { found: 2, .. })
        ));
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            Report::read(&path),
            Err(ReportError::Malformed { .. })
        ));
    }

    #[test]
    fn planted_temporary_links_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        // The names the old writer used (its pid) and a spread of others.
        let mut planted = vec![format!(".{REPORT_FILE_NAME}.tmp-{}", std::process::id())];
        planted.extend((0..64).map(|n| format!(".{REPORT_FILE_NAME}.tmp-{n}")));
        for name in &planted {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        let path = dir.path().join(REPORT_FILE_NAME);
        sample_report().write_atomic(&path).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(Report::read(&path).unwrap(), sample_report());
        for name in &planted {
            let kept = fs::symlink_metadata(dir.path().join(name)).unwrap();
            assert!(kept.file_type().is_symlink(), "{name} left as it was");
        }
    }

    #[test]
    fn a_planted_report_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "untouched").unwrap();
        let path = dir.path().join(REPORT_FILE_NAME);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(matches!(
            Report::read(&path),
            Err(ReportError::Read(UntrustedFileError::Symlink { .. }))
        ));
        sample_report().write_atomic(&path).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
    }

    #[test]
    fn fifos_devices_and_huge_files_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo").join(REPORT_FILE_NAME);
        fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            Report::read(&fifo),
            Err(ReportError::Read(UntrustedFileError::NotRegular {
                kind: "FIFO",
                ..
            }))
        ));

        let zero = dir.path().join("zero").join(REPORT_FILE_NAME);
        fs::create_dir_all(zero.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(
            Report::read(&zero),
            Err(ReportError::Read(UntrustedFileError::Symlink { .. }))
        ));
        assert!(matches!(
            Report::read(Path::new("/dev/zero")),
            Err(ReportError::Read(UntrustedFileError::NotRegular { .. }))
        ));

        let sparse = dir.path().join(REPORT_FILE_NAME);
        fs::File::create(&sparse).unwrap().set_len(4 << 30).unwrap();
        assert!(matches!(
            Report::read(&sparse),
            Err(ReportError::Read(UntrustedFileError::TooLarge { .. }))
        ));
    }

    #[test]
    fn canonical_bytes_ignore_the_signature_and_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REPORT_FILE_NAME);
        let mut report = sample_report();
        let unsigned = report.canonical_bytes();
        report.signature = Some("00".repeat(32));
        assert_eq!(report.canonical_bytes(), unsigned);
        report.write_atomic(&path).unwrap();
        assert_eq!(Report::read(&path).unwrap().canonical_bytes(), unsigned);
        assert!(!String::from_utf8(unsigned).unwrap().contains("signature"));
    }
}
