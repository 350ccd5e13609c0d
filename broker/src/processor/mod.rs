//! The broker's request-code table: one module per request family, each with a
//! `register(&mut Processors, Arc<BrokerState>)` that routes its codes.
//!
//! [`Processors`] wraps the transport's `ProcessorTable` so that every request is timed into
//! `rocketmq_rpc_latency`, whatever family handles it. Codes nobody registers are answered by
//! the transport with REQUEST_CODE_NOT_SUPPORTED.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use sluice_remoting::net::{Channel, ProcessorTable, RequestProcessor};
use sluice_remoting::RemotingCommand;

use crate::metrics::BrokerMetrics;
use crate::state::BrokerState;

pub mod admin;
pub mod client_manage;
pub mod consumer_offset;
pub mod lock;
pub mod offset_query;
pub mod pull;
pub mod query;
pub mod send;
pub mod send_back;

/// The table being built, with every processor timed.
pub struct Processors {
    table: ProcessorTable,
    metrics: Arc<BrokerMetrics>,
}

impl Processors {
    pub fn new(metrics: Arc<BrokerMetrics>) -> Processors {
        Processors {
            table: ProcessorTable::new(),
            metrics,
        }
    }

    /// Routes `code` to `processor` (replacing an earlier registration of the code).
    pub fn register(&mut self, code: impl Into<i32>, processor: Arc<dyn RequestProcessor>) {
        let timed = Timed {
            inner: processor,
            metrics: self.metrics.clone(),
        };
        self.table.register(code, Arc::new(timed));
    }

    /// Whether some family registered `code`.
    pub fn handles(&self, code: impl Into<i32>) -> bool {
        self.table.get(code.into()).is_some()
    }

    pub fn into_table(self) -> ProcessorTable {
        self.table
    }
}

struct Timed {
    inner: Arc<dyn RequestProcessor>,
    metrics: Arc<BrokerMetrics>,
}

impl RequestProcessor for Timed {
    fn process(
        &self,
        channel: Channel,
        request: RemotingCommand,
    ) -> BoxFuture<'static, Option<RemotingCommand>> {
        let code = request.code;
        let start = Instant::now();
        let metrics = self.metrics.clone();
        let fut = self.inner.process(channel, request);
        async move {
            let response = fut.await;
            if let Some(r) = &response {
                metrics.record_rpc(code, r.code, start.elapsed());
            }
            response
        }
        .boxed()
    }
}

/// Every family's codes.
pub fn build(state: &Arc<BrokerState>) -> Processors {
    let mut table = Processors::new(state.metrics.clone());
    // bsend
    send::register(&mut table, state.clone());
    send_back::register(&mut table, state.clone());
    pull::register(&mut table, state.clone());
    query::register(&mut table, state.clone());
    offset_query::register(&mut table, state.clone());
    // badmin
    client_manage::register(&mut table, state.clone());
    consumer_offset::register(&mut table, state.clone());
    lock::register(&mut table, state.clone());
    admin::register(&mut table, state.clone());
    crate::failover::processor::register(&mut table, state.clone());
    // transactions
    crate::transaction::end::register(&mut table, state.clone());
    crate::ha::processor::register(&mut table, state.clone());
    table
}
