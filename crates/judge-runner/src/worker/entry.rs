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

/// What [`Worker::load_entry_from`] loads.
#[derive(Debug, Clone, Copy)]
pub struct EntryRequest<'a> {
    /// The contract names entry discovery looks for.
    pub names: &'a [&'a str],
    /// The file stem preferred when several files define them (the challenge id).
    pub prefer: &'a str,
    /// The file to load instead of discovering one, relative to the submission folder.
    pub entry: Option<&'a str>,
    /// (name, `name(params)`) as the interface declares them, quoted when a call is refused.
    pub signatures: &'a [(String, String)],
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
        self.load_entry_from(&EntryRequest {
            names: contract_names,
            prefer: challenge_id,
            entry: None,
            signatures: &[],
        })
    }

    /// [`Worker::load_entry`] with the entry file named (an adapter, `--entry FILE`) and the
    /// signatures the interface declares, which a refused call's evidence quotes.
    pub fn load_entry_from(&mut self, request: &EntryRequest<'_>) -> Result<EntryInfo, CallError> {
        let timeout = self.limits.call_timeout;
        let signatures: serde_json::Map<String, Json> = request
            .signatures
            .iter()
            .map(|(name, signature)| (name.clone(), Json::String(signature.clone())))
            .collect();
        let (ok, _) = self.request(
            json!({
                "op": "load",
                "names": request.names,
                "prefer": request.prefer,
                "entry": request.entry,
                "signatures": signatures,
            }),
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

    /// Writes `bytes` as the file `name` into the submission's scratch copy (never into the
    /// original folder): an adapter supplied from outside, before the entry is loaded.
    pub fn place_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), crate::RunnerError> {
        self.sandbox.place_file(name, bytes)
    }
}
