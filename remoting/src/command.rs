//! [`RemotingCommand`]: one logical request or response, independent of how its header is encoded.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use crate::code::LanguageCode;

/// Bit 0 of `flag`: this command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Bit 1 of `flag`: this request is oneway (no response is sent).
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// Sluice's own version ordinal sent in every command it writes (`V5_3_3` = 479).
pub const CURRENT_VERSION: i32 = crate::code::version::V5_3_3;

/// The custom header: every value is a string on the wire (numbers from C++ clients are coerced).
/// Sorted so that encodings are deterministic. Keys are borrowed `'static` names for every header
/// field the code knows (written by typed headers, interned when decoded), so a header costs no
/// key allocations; unknown keys are owned.
pub type ExtFields = BTreeMap<Cow<'static, str>, String>;

/// How a header is serialized on the wire (high byte of the header word).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SerializeType {
    #[default]
    Json = 0,
    RocketMq = 1,
}

impl SerializeType {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Json),
            1 => Some(Self::RocketMq),
            _ => None,
        }
    }
}

/// A frame body as a list of shared buffers, so that a pull response can send slices of the
/// mapped CommitLog without copying them into a new buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    parts: Vec<Bytes>,
}

impl Body {
    pub fn empty() -> Self {
        Self::default()
    }

    pub fn from_parts(parts: Vec<Bytes>) -> Self {
        Self {
            parts: parts.into_iter().filter(|p| !p.is_empty()).collect(),
        }
    }

    pub fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.parts.push(part);
        }
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// The body as one contiguous buffer: free when it has one part, a copy otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match self.parts.len() {
            0 => Bytes::new(),
            1 => self.parts[0].clone(),
            _ => {
                let mut buf = BytesMut::with_capacity(self.len());
                for p in &self.parts {
                    buf.extend_from_slice(p);
                }
                buf.freeze()
            }
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Self::from_parts(vec![b])
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

/// One Remoting command (request or response).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code in requests, response code in responses. Kept raw so unknown codes survive.
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: ExtFields,
    pub body: Body,
    /// How the header of this command arrived (requests) or will be written (always JSON for
    /// responses: C++ clients cannot read anything else).
    pub serialize_type: SerializeType,
}

impl Default for RemotingCommand {
    fn default() -> Self {
        Self {
            code: 0,
            language: LanguageCode::Rust,
            version: CURRENT_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Body::empty(),
            serialize_type: SerializeType::Json,
        }
    }
}

impl RemotingCommand {
    /// A new request with the given code. The opaque is assigned by the client when sent.
    pub fn request(code: impl Into<i32>) -> Self {
        Self {
            code: code.into(),
            ..Self::default()
        }
    }

    /// A response to `request`: same opaque, RESPONSE flag, JSON header, language JAVA (what the
    /// Java servers send and every client accepts).
    pub fn response_to(request: &RemotingCommand, code: impl Into<i32>) -> Self {
        Self {
            code: code.into(),
            language: LanguageCode::Java,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            ..Self::default()
        }
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_ext(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.ext_fields.insert(key.into(), value.into());
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key).map(String::as_str)
    }
}
