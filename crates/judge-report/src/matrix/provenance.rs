//! Which judge made the matrix, when, and from which runs.

use judge_schema::Report;
use serde::{Deserialize, Serialize};

use super::Cell;

/// Which judge made the matrix, when, and from which runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The version of the judge that built this matrix.
    pub judge_version: String,
    /// Seconds since the Unix epoch when it was built.
    pub generated_unix: u64,
    /// Distinct judge versions, seeds and machines of the counted reports, sorted.
    pub report_judge_versions: Vec<String>,
    /// The seeds of the counted cells.
    pub seeds: Vec<u64>,
    /// The machines the reports name in their environment.
    pub machines: Vec<String>,
}

impl Provenance {
    pub(super) fn of(cells: &[Cell], reports: &[&Report]) -> Provenance {
        let mut seeds: Vec<u64> = cells.iter().filter(|c| c.counted).map(|c| c.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        let distinct = |values: Vec<String>| {
            let mut values = values;
            values.sort();
            values.dedup();
            values
        };
        Provenance {
            judge_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            report_judge_versions: distinct(
                reports.iter().map(|r| r.judge_version.clone()).collect(),
            ),
            seeds,
            machines: distinct(
                reports
                    .iter()
                    .filter_map(|r| r.environment.get(MACHINE_KEY).cloned())
                    .collect(),
            ),
        }
    }
}

impl Provenance {
    /// `2026-12-03 11:55 UTC`.
    pub fn generated_utc(&self) -> String {
        crate::render::utc_minute(self.generated_unix)
    }

    /// One sentence for the top of a page.
    pub fn sentence(&self, reports: usize) -> String {
        let list = |values: &[String]| {
            if values.is_empty() {
                "unknown".to_string()
            } else {
                values.join("; ")
            }
        };
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        format!(
            "Built by judge {} on {} from {reports} counted report(s). Graded by judge {}; \
             seeds {}; machines: {}.",
            self.judge_version,
            self.generated_utc(),
            list(&self.report_judge_versions),
            list(&seeds),
            list(&self.machines),
        )
    }
}

/// The report environment entry that names the machine (written by `judge_schema::session`).
const MACHINE_KEY: &str = judge_schema::report::MACHINE_ENVIRONMENT_KEY;
