//! Typed request and response headers <-> `extFields`.
//!
//! Java flattens a header object into the command's `extFields` map: key = field name, value =
//! `String.valueOf(field)`, null fields skipped. Each header here is declared with the
//! `command_header!` macro (`macros.rs`: Rust field, wire key, type, required or optional),
//! which generates the struct and its [`CommandHeader`] impl. Required fields (Java `@CFNotNull`)
//! are plain values; optional ones are `Option`s, so a response cannot forget a field that a Java
//! client unboxes (a missing one is a `NullPointerException` on the client side).
//!
//! Decoding follows what the Java server accepts: numbers as `Integer.parseInt`/`Long.parseLong`
//! (optional sign, no whitespace), booleans as `Boolean.parseBoolean`, unknown keys ignored. Where
//! Java would only log a bad number and leave the field null, this module answers with
//! [`RemotingError::HeaderField`](crate::RemotingError::HeaderField) naming the key and the
//! value, so the broker can tell the client.
//!
//! Submodules group the headers by who sends them:
//! - [`namesrv`]: broker/admin → NameServer.
//! - [`send`]: producer → broker (send V1/V2, end transaction).
//! - [`consumer`]: consumer → broker (pull, offsets, client management, send-back).
//! - [`pop`]: the 5.x pop consumption requests.
//! - [`query`]: message query by key and by offset msgId.
//! - [`broker_to_client`]: requests a broker sends to its clients.
//! - [`admin`]: mqadmin → broker.
//! - [`controller`]: broker/admin ↔ controller (5.x automatic failover).

#[macro_use]
mod macros;

pub mod admin;
pub mod broker_to_client;
pub mod consumer;
pub mod controller;
pub(crate) mod keys;
pub mod namesrv;
pub mod pop;
pub mod query;
pub mod send;
mod value;

pub use admin::*;
pub use broker_to_client::*;
pub use consumer::*;
pub use controller::*;
pub use namesrv::*;
pub use pop::*;
pub use query::*;
pub use send::*;
pub use value::{BoundaryType, WireValue};

use crate::command::{ExtFields, RemotingCommand};
use crate::error::Result;

/// A typed view of a command's `extFields`, used in both directions: the broker decodes requests
/// and encodes responses, the client does the reverse.
pub trait CommandHeader: Sized {
    /// Adds this header's fields to `ext` (None fields are skipped, as Java skips nulls).
    fn write_to(&self, ext: &mut ExtFields);
    /// Reads the header from `ext`. A missing required field or an unparsable value is a
    /// [`RemotingError::HeaderField`](crate::RemotingError::HeaderField) naming the wire key.
    fn read_from(ext: &ExtFields) -> Result<Self>;
}

impl RemotingCommand {
    /// Decodes this command's `extFields` as header `H`.
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H> {
        H::read_from(&self.ext_fields)
    }

    /// Adds header `h`'s fields to this command's `extFields` (keeping any other entries, such as
    /// `MSG_REGION` on a send response).
    pub fn with_header<H: CommandHeader>(mut self, h: &H) -> Self {
        h.write_to(&mut self.ext_fields);
        self
    }
}

/// The optional fields J5's base classes `RpcRequestHeader` and `TopicRequestHeader` add to most
/// request headers. Clients fill some of them (`bname` in send, pull, offsets, send-back and
/// end-transaction; `ns`/`nsd` from a namespace-aware client); they are carried so that a header
/// round-trips and a forwarding broker can pass them on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpcFields {
    /// `ns`: the client's namespace.
    pub namespace: Option<String>,
    /// `nsd`: whether resource names in this request already carry the namespace.
    pub namespaced: Option<bool>,
    /// `bname`: the broker the request is meant for.
    pub broker_name: Option<String>,
    /// `oway`: the request is oneway.
    pub oneway: Option<bool>,
    /// `lo`: logical (static-topic) queue addressing (`TopicRequestHeader` only).
    pub logical: Option<bool>,
}

impl RpcFields {
    pub const WIRE_KEYS: &'static [&'static str] = &["ns", "nsd", "bname", "oway", "lo"];

    /// Takes `key` if it is one of the base fields. Strings and booleans cannot fail to parse.
    pub(crate) fn accept(&mut self, key: &str, raw: &str) {
        let flag = || raw.eq_ignore_ascii_case("true");
        match key {
            "ns" => self.namespace = Some(raw.to_owned()),
            "nsd" => self.namespaced = Some(flag()),
            "bname" => self.broker_name = Some(raw.to_owned()),
            "oway" => self.oneway = Some(flag()),
            "lo" => self.logical = Some(flag()),
            _ => {}
        }
    }
}

impl CommandHeader for RpcFields {
    fn write_to(&self, ext: &mut ExtFields) {
        use value::write_optional;
        write_optional(ext, "ns", &self.namespace);
        write_optional(ext, "nsd", &self.namespaced);
        write_optional(ext, "bname", &self.broker_name);
        write_optional(ext, "oway", &self.oneway);
        write_optional(ext, "lo", &self.logical);
    }

    fn read_from(ext: &ExtFields) -> Result<Self> {
        let mut fields = Self::default();
        for (key, raw) in ext {
            fields.accept(key, raw);
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RemotingError;

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string().into(), v.to_string()))
            .collect()
    }

    #[test]
    fn rpc_fields_round_trip_under_their_short_keys() {
        let h = RpcFields {
            namespace: Some("ns1".into()),
            namespaced: Some(true),
            broker_name: Some("broker-a".into()),
            oneway: Some(false),
            logical: Some(true),
        };
        let mut e = ExtFields::new();
        h.write_to(&mut e);
        assert_eq!(
            e,
            ext(&[
                ("ns", "ns1"),
                ("nsd", "true"),
                ("bname", "broker-a"),
                ("oway", "false"),
                ("lo", "true"),
            ])
        );
        assert_eq!(RpcFields::read_from(&e).unwrap(), h);
        assert_eq!(
            RpcFields::read_from(&ExtFields::new()).unwrap(),
            RpcFields::default()
        );
    }

    #[test]
    fn command_helpers_write_and_read_headers() {
        let h = GetRouteInfoRequestHeader {
            topic: "TopicTest".into(),
            ..Default::default()
        };
        let cmd = RemotingCommand::request(crate::RequestCode::GetRouteinfoByTopic)
            .with_ext("keep", "me")
            .with_header(&h);
        assert_eq!(cmd.ext("topic"), Some("TopicTest"));
        assert_eq!(cmd.ext("keep"), Some("me"));
        assert_eq!(cmd.decode_header::<GetRouteInfoRequestHeader>().unwrap(), h);
    }

    #[test]
    fn missing_required_field_is_named() {
        let err = RemotingCommand::request(crate::RequestCode::GetRouteinfoByTopic)
            .decode_header::<GetRouteInfoRequestHeader>()
            .unwrap_err();
        match &err {
            RemotingError::HeaderField { field, .. } => assert_eq!(*field, "topic"),
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("topic"), "{err}");
    }
}
