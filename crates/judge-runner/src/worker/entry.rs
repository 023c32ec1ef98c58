//! Entry discovery: which file of the submission defines the contract, and what it offers.

use std::path::PathBuf;

use serde_json::{Value as Json, json};

use super::{CallError, Worker};

/// The file entry discovery chose, and what it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The chosen file, relative to the submission folder (name it in the report).
    pub file: PathBuf,
    /// The module name it was imported under.
    pub module: String,
    /// Contract names the module defines, in the order asked.
    pub defined: Vec<String>,
    /// Contract names it lacks.
    pub missing: Vec<String>,
    /// Parameter names of each defined callable (`self` excluded for classes).
    pub parameters: Vec<(String, Vec<String>)>,
    /// Every file that binds at least one contract name, best first.
    pub candidates: Vec<PathBuf>,
}

impl EntryInfo {
    /// The parameter names of `name`, if the module defines it.
    pub fn parameters_of(&self, name: &str) -> Option<&[String]> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, params)| params.as_slice())
    }
}

impl Worker {
    /// Entry discovery (ARCHITECTURE §4): imports the `.py` file that defines
    /// `contract_names` (most names defined first, then the file named after `challenge_id`,
    /// then non-test files, then the shallowest). Files are parsed to find it; only the chosen
    /// one is imported. A syntax error anywhere is reported when no file defines the names.
    pub fn load_entry(
        &mut self,
        contract_names: &[&str],
        challenge_id: &str,
    ) -> Result<EntryInfo, CallError> {
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(
            json!({"op": "load", "names": contract_names, "prefer": challenge_id}),
            timeout,
        )?;
        self.import_resident = self
            .resident
            .and_then(|r| r.current())
            .zip(self.ready_resident)
            .map(|(loaded, ready)| loaded.saturating_sub(ready));
        let strings = |v: &Json| -> Vec<String> {
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let parameters = ok["parameters"]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|pair| Some((pair[0].as_str()?.to_string(), strings(&pair[1]))))
                    .collect()
            })
            .unwrap_or_default();
        Ok(EntryInfo {
            file: PathBuf::from(ok["file"].as_str().unwrap_or("")),
            module: ok["module"].as_str().unwrap_or("").to_string(),
            defined: strings(&ok["defined"]),
            missing: strings(&ok["missing"]),
            parameters,
            candidates: strings(&ok["candidates"])
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        })
    }
}
