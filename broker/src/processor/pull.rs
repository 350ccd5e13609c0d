//! Placeholder (owned by bsend): registers this family's request codes.

use std::sync::Arc;

use super::Processors;
use crate::state::BrokerState;

pub fn register(_table: &mut Processors, _state: Arc<BrokerState>) {}
