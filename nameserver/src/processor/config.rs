//! GET_NAMESRV_CONFIG and UPDATE_NAMESRV_CONFIG (properties text bodies).

use sluice_remoting::body::Properties;
use sluice_remoting::{RemotingCommand, ResponseCode};

use super::{failure, success, Reply};
use crate::config::{KeyOutcome, NamesrvConfig};
use crate::state::NamesrvState;

pub(super) fn get(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let text = state.config().to_properties().encode();
    Ok(success(request).with_body(text))
}

/// Applies the keys to the running NameServer. Keys that only matter at start-up (the port)
/// change the reported config but not the listening socket, as in Apache.
pub(super) fn update(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let body = request.body.to_bytes();
    if body.is_empty() {
        return Ok(success(request));
    }
    let props = Properties::decode(&body)?;
    let mut updated = NamesrvConfig::clone(&state.config());
    if let Some(key) = props.entries.keys().find(|k| updated.is_black_listed(k)) {
        tracing::warn!(key, "refusing to update a black-listed config key");
        return Ok(failure(
            request,
            ResponseCode::NoPermission,
            "Can not update config in black list.",
        ));
    }
    for (key, value) in &props.entries {
        match updated.set(key, value) {
            Ok(KeyOutcome::Applied) => {}
            Ok(KeyOutcome::Ignored) => tracing::debug!(key, "config key not used by Sluice"),
            Ok(KeyOutcome::Unknown) => tracing::warn!(key, "unknown config key ignored"),
            Err(e) => return Ok(failure(request, ResponseCode::SystemError, e.to_string())),
        }
    }
    tracing::info!(keys = ?props.entries.keys().collect::<Vec<_>>(), "config updated");
    state.set_config(updated);
    Ok(success(request))
}
