//! Request processors and the table that routes request codes to them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::channel::Channel;
use crate::code::ResponseCode;
use crate::command::RemotingCommand;

/// Handles the requests of one or more request codes.
///
/// Every request runs in its own task, so a processor may await as long as it needs (a held pull
/// waits up to 30 s) without delaying the next request on the same connection.
pub trait RequestProcessor: Send + Sync + 'static {
    /// Returns the response, or `None` for oneway requests and for requests answered later through
    /// [`Channel::send_response`]. The transport sets the response's opaque and RESPONSE flag.
    fn process(
        &self,
        channel: Channel,
        request: RemotingCommand,
    ) -> BoxFuture<'static, Option<RemotingCommand>>;
}

/// Any `Fn(Channel, RemotingCommand) -> impl Future<Output = Option<RemotingCommand>>` is a processor.
impl<F, Fut> RequestProcessor for F
where
    F: Fn(Channel, RemotingCommand) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<RemotingCommand>> + Send + 'static,
{
    fn process(
        &self,
        channel: Channel,
        request: RemotingCommand,
    ) -> BoxFuture<'static, Option<RemotingCommand>> {
        self(channel, request).boxed()
    }
}

/// Request code → processor, plus an optional processor for every other code. Built before the
/// server or client starts and shared read-only afterwards.
#[derive(Clone, Default)]
pub struct ProcessorTable {
    by_code: HashMap<i32, Arc<dyn RequestProcessor>>,
    default: Option<Arc<dyn RequestProcessor>>,
}

impl ProcessorTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `code` to `processor`, replacing any earlier registration of that code.
    pub fn register(&mut self, code: impl Into<i32>, processor: Arc<dyn RequestProcessor>) {
        self.by_code.insert(code.into(), processor);
    }

    /// Builder form of [`register`](Self::register).
    pub fn with(mut self, code: impl Into<i32>, processor: impl RequestProcessor) -> Self {
        self.register(code, Arc::new(processor));
        self
    }

    /// The processor for codes without their own registration.
    pub fn set_default(&mut self, processor: Arc<dyn RequestProcessor>) {
        self.default = Some(processor);
    }

    pub fn with_default(mut self, processor: impl RequestProcessor) -> Self {
        self.set_default(Arc::new(processor));
        self
    }

    pub fn get(&self, code: i32) -> Option<&Arc<dyn RequestProcessor>> {
        self.by_code.get(&code).or(self.default.as_ref())
    }
}

/// The answer to a request whose code nobody handles (text as the Java servers write it).
pub(crate) fn code_not_supported(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::RequestCodeNotSupported)
        .with_remark(format!(" request type {} not supported", request.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answering(code: i32) -> impl RequestProcessor {
        move |_channel: Channel, request: RemotingCommand| async move {
            Some(RemotingCommand::response_to(&request, code))
        }
    }

    #[test]
    fn routes_by_code_then_default() {
        let table = ProcessorTable::new().with(10, answering(0));
        assert!(table.get(10).is_some());
        assert!(table.get(11).is_none());
        let table = table.with_default(answering(1));
        assert!(table.get(11).is_some());
        assert!(!Arc::ptr_eq(table.get(10).unwrap(), table.get(11).unwrap()));
    }

    #[test]
    fn not_supported_answer_matches_the_java_text() {
        let mut request = RemotingCommand::request(777);
        request.opaque = 5;
        let response = code_not_supported(&request);
        assert_eq!(response.code, 3);
        assert_eq!(response.opaque, 5);
        assert!(response.is_response());
        assert_eq!(
            response.remark.as_deref(),
            Some(" request type 777 not supported")
        );
    }
}
