//! Remote fixtures: objects the judge serves to the submission, whose calls run and are
//! counted in the judge.

use std::path::Path;

use serde_json::{Value as Json, json};

use super::{CallError, Worker, wire};
use crate::value::{ObjHandle, Value};

/// An object the judge serves to the submission (a remote fixture): the submission sees a
/// proxy, and each method call it makes is run here, in the judge, and counted here.
pub trait RemoteObject: Send {
    /// Runs `method`; an `Err` is raised in the submission as `ValueError(message)`.
    fn call(
        &mut self,
        method: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Value, String>;
}

/// A remote fixture and the calls made on it so far.
pub(super) struct Remote {
    object: Box<dyn RemoteObject>,
    calls: u64,
}

impl Worker {
    /// Serves `object` to the submission as a remote fixture with the plain attributes `attrs`
    /// (copies: changing them changes nothing here); the handle can be passed as
    /// [`Value::Obj`]. Its calls run in the judge and are counted in
    /// [`CallOutcome::remote_calls`](super::CallOutcome::remote_calls) and [`Self::remote_calls`].
    pub fn new_remote(
        &mut self,
        object: Box<dyn RemoteObject>,
        attrs: Vec<(String, Value)>,
    ) -> Result<ObjHandle, CallError> {
        let (mut attrs, _) = self.encode_arguments(&[Value::Dict(attrs)], &[])?;
        let attrs = attrs[0]["dict"].take();
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(json!({"op": "new_remote", "attrs": attrs}), timeout)?;
        let handle = ok["obj"]
            .as_u64()
            .ok_or_else(|| self.tampered(format!("no handle in {ok}")))?;
        self.remotes.insert(handle, Remote { object, calls: 0 });
        Ok(ObjHandle(handle))
    }

    /// How many calls the submission has made on the remote fixture `obj` so far.
    pub fn remote_calls(&self, obj: ObjHandle) -> u64 {
        self.remotes.get(&obj.0).map_or(0, |remote| remote.calls)
    }

    pub(super) fn total_remote_calls(&self) -> u64 {
        self.remotes.values().map(|remote| remote.calls).sum()
    }

    /// Runs one remote-fixture call the worker asked for; the reply line to send.
    pub(super) fn serve_callback(&mut self, callback: &Json) -> Result<Json, CallError> {
        let handle = callback["obj"].as_u64().unwrap_or(0);
        let method = callback["method"].as_str().unwrap_or("").to_string();
        let (args, kwargs) = match decode_callback_arguments(callback, self.sandbox.outbox()) {
            Ok(arguments) => arguments,
            Err(e) => return Err(self.tampered(format!("undecodable remote call: {e}"))),
        };
        let Some(remote) = self.remotes.get_mut(&handle) else {
            return Err(self.tampered(format!("a call on unknown remote object {handle}")));
        };
        remote.calls += 1;
        let result = remote.object.call(&method, args, kwargs);
        Ok(match result {
            Ok(value) => {
                let (encoded, _) = self.encode_arguments(&[value], &[])?;
                json!({"op": "reply", "seq": self.seq, "value": encoded[0]})
            }
            Err(message) => json!({"op": "reply", "seq": self.seq, "error": message}),
        })
    }
}

/// Positional and keyword arguments of a call.
type Arguments = (Vec<Value>, Vec<(String, Value)>);

/// The arguments of a remote-fixture call, their arrays read from `outbox`.
fn decode_callback_arguments(callback: &Json, outbox: &Path) -> Result<Arguments, String> {
    let items = |key: &str| callback[key].as_array().cloned().unwrap_or_default();
    let args = items("args")
        .into_iter()
        .map(|v| wire::decode(v, outbox))
        .collect::<Result<_, _>>()?;
    let kwargs = items("kwargs")
        .into_iter()
        .map(|mut pair| {
            let key = pair[0].as_str().ok_or("a keyword that is not a string")?;
            Ok((key.to_string(), wire::decode(pair[1].take(), outbox)?))
        })
        .collect::<Result<_, String>>()?;
    Ok((args, kwargs))
}
