//! Message properties: the `MessageConst` keys and the properties string of a record
//! (`name` 0x01 `value` 0x02 for every pair, the last one included).

use std::fmt::Write as _;

/// Separates a property's name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends every name/value pair.
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Separates business keys inside [`KEYS`].
pub const KEY_SEPARATOR: &str = " ";

// Keys of `MessageConst` (Java names in the comments where they differ).
/// Business keys, space separated; indexed for QUERY_MESSAGE.
pub const KEYS: &str = "KEYS";
/// The tag; its Java hash is the consume-queue tags code.
pub const TAGS: &str = "TAGS";
/// waitStoreMsgOK, `"true"`/`"false"` (`PROPERTY_WAIT_STORE_MSG_OK`).
pub const WAIT: &str = "WAIT";
/// Delay level 1..18 (`PROPERTY_DELAY_TIME_LEVEL`).
pub const DELAY: &str = "DELAY";
/// Original topic of a message moved to `%RETRY%group`.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original topic of a scheduled, timer or half message.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id of a scheduled, timer or half message (`PROPERTY_REAL_QUEUE_ID`).
pub const REAL_QID: &str = "REAL_QID";
/// `"true"` on transactional half messages (`PROPERTY_TRANSACTION_PREPARED`).
pub const TRAN_MSG: &str = "TRAN_MSG";
/// Producer group (`PROPERTY_PRODUCER_GROUP`).
pub const PGROUP: &str = "PGROUP";
/// Set by the Java client on pulled messages from the pull response header.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
pub const MAX_OFFSET: &str = "MAX_OFFSET";
pub const BUYER_ID: &str = "BUYER_ID";
/// Original msgId of a retried message.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
pub const MQ2_FLAG: &str = "MQ2_FLAG";
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
pub const MSG_REGION: &str = "MSG_REGION";
/// Trace switch (`PROPERTY_TRACE_SWITCH`).
pub const TRACE_ON: &str = "TRACE_ON";
/// The client message id (`PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX`), see [`super::msgid`].
pub const UNIQ_KEY: &str = "UNIQ_KEY";
pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// `PROPERTY_CONSUME_START_TIMESTAMP`.
pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
pub const INNER_NUM: &str = "INNER_NUM";
pub const INNER_BASE: &str = "INNER_BASE";
pub const DUP_INFO: &str = "DUP_INFO";
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// `PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET`.
pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// `PROPERTY_TRANSACTION_ID`.
pub const TRANSACTION_ID: &str = "__transactionId__";
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
pub const INSTANCE_ID: &str = "INSTANCE_ID";
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// `PROPERTY_MESSAGE_REPLY_TO_CLIENT`.
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// `PROPERTY_MESSAGE_TTL`.
pub const TTL: &str = "TTL";
/// `PROPERTY_REPLY_MESSAGE_ARRIVE_TIME`.
pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// Broker cluster name, added by the broker to every stored message.
pub const CLUSTER: &str = "CLUSTER";
/// `PROPERTY_MESSAGE_TYPE` (`"reply"` for request-reply answers).
pub const MSG_TYPE: &str = "MSG_TYPE";
pub const POP_CK: &str = "POP_CK";
pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
/// `PROPERTY_FIRST_POP_TIME`.
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
pub const FORWARD_QUEUE_ID: &str = "PROPERTY_FORWARD_QUEUE_ID";
pub const REDIRECT: &str = "REDIRECT";
pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
pub const BORN_HOST: &str = "__BORNHOST";
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
/// Prefix of broker-internal properties that are never stored.
pub const TRANSIENT_PREFIX: &str = "__RMQ.TRANSIENT.";
pub const TRANSIENT_TOPIC_CONFIG: &str = "__RMQ.TRANSIENT.TOPIC_SYS_FLAG";
pub const TRANSIENT_GROUP_CONFIG: &str = "__RMQ.TRANSIENT.GROUP_SYS_FLAG";
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// Whole-record CRC kept in the properties (5.x `enabledAppendPropCRC`).
pub const CRC32: &str = "__CRC32#";
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// Not a `MessageConst` key: the start-delivery time of Aliyun ONS clients.
pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";

/// A small insertion-ordered map of properties. Messages carry a handful of properties, so a
/// linear scan beats hashing here and keeps encodings deterministic. Names and values live in
/// one text buffer (decoding a properties string is one copy, not two allocations per pair);
/// replaced or removed text stays in the buffer until the map is dropped.
#[derive(Clone, Default)]
pub struct Properties {
    text: String,
    entries: Vec<Entry>,
}

/// Where one pair's name and value lie in `Properties::text`.
#[derive(Clone, Copy, Debug)]
struct Entry {
    name: (usize, usize),
    value: (usize, usize),
}

impl Properties {
    pub fn new() -> Self {
        Self::default()
    }

    fn name_of(&self, e: &Entry) -> &str {
        &self.text[e.name.0..e.name.1]
    }

    fn value_of(&self, e: &Entry) -> &str {
        &self.text[e.value.0..e.value.1]
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| self.name_of(e) == name)
    }

    /// Appends `s` to the text buffer and returns its range.
    fn push_text(&mut self, s: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(s);
        (start, self.text.len())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.value_of(&self.entries[i]))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Sets `name` to `value`, keeping its position if it was present; returns the old value.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Option<String> {
        let (name, value) = (name.as_ref(), value.as_ref());
        match self.position(name) {
            Some(i) => {
                let old = self.value_of(&self.entries[i]).to_owned();
                self.entries[i].value = self.push_text(value);
                Some(old)
            }
            None => {
                let name = self.push_text(name);
                let value = self.push_text(value);
                self.entries.push(Entry { name, value });
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.position(name)?;
        let e = self.entries.remove(i);
        let old = self.value_of(&e).to_owned();
        if self.entries.is_empty() {
            self.text.clear();
        }
        Some(old)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (self.name_of(e), self.value_of(e)))
    }

    /// Parses a properties string the way `MessageDecoder.string2messageProperties` does: pairs
    /// end at 0x02 (the last may lack it), the name ends at the first 0x01, pairs with an empty
    /// name or value or without 0x01 are dropped, and a repeated name keeps its last value.
    pub fn decode(properties: &str) -> Self {
        let base = properties.as_ptr() as usize;
        let mut map = Self {
            text: properties.to_owned(),
            entries: Vec::with_capacity(
                properties
                    .bytes()
                    .filter(|b| *b == PROPERTY_SEPARATOR as u8)
                    .count()
                    + 1,
            ),
        };
        for (name, value) in pairs(properties) {
            // Both are slices of `properties`, whose copy is `text`: keep their offsets.
            let name_at = name.as_ptr() as usize - base;
            let value_at = value.as_ptr() as usize - base;
            let value = (value_at, value_at + value.len());
            match map.position(name) {
                Some(i) => map.entries[i].value = value,
                None => map.entries.push(Entry {
                    name: (name_at, name_at + name.len()),
                    value,
                }),
            }
        }
        map
    }

    /// The properties string: `name` 0x01 `value` 0x02 for every pair.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the properties string to `out`.
    pub fn encode_into(&self, out: &mut String) {
        for (name, value) in self.iter() {
            push_pair(out, name, value);
        }
    }

    /// Length in bytes of [`Properties::encode`]'s result.
    pub fn encoded_len(&self) -> usize {
        self.iter().map(|(n, v)| n.len() + v.len() + 2).sum()
    }

    /// The business keys of [`KEYS`], split on spaces (empty pieces skipped).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.get(KEYS)
            .unwrap_or("")
            .split(KEY_SEPARATOR)
            .filter(|k| !k.is_empty())
    }
}

impl PartialEq for Properties {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Properties {}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (n, v) in iter {
            map.insert(n, v);
        }
        map
    }
}

/// Iterates the valid `(name, value)` pairs of a properties string without allocating, in string
/// order (duplicates included), with the same dropping rules as [`Properties::decode`].
pub fn pairs(properties: &str) -> Pairs<'_> {
    Pairs {
        text: properties,
        pos: 0,
    }
}

/// Iterator of [`pairs`]. Scans bytes: both separators are ASCII, so every cut falls on a char
/// boundary, and a byte loop beats `str::split` on these short strings.
#[derive(Clone, Debug)]
pub struct Pairs<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() {
            let start = self.pos;
            let mut sep = None;
            let mut end = start;
            while end < bytes.len() && bytes[end] != PROPERTY_SEPARATOR as u8 {
                if sep.is_none() && bytes[end] == NAME_VALUE_SEPARATOR as u8 {
                    sep = Some(end);
                }
                end += 1;
            }
            self.pos = end + 1;
            if let Some(sep) = sep {
                if sep > start && sep + 1 < end {
                    return Some((&self.text[start..sep], &self.text[sep + 1..end]));
                }
            }
        }
        None
    }
}

/// Looks `name` up in a properties string without decoding it, with the result a decoded map
/// would give: the last valid occurrence wins, empty values count as absent.
pub fn find<'a>(properties: &'a str, name: &str) -> Option<&'a str> {
    let (nv, ps) = (NAME_VALUE_SEPARATOR as u8, PROPERTY_SEPARATOR as u8);
    if name.is_empty() || name.bytes().any(|b| b == nv || b == ps) {
        // Decoding never yields such a name.
        return None;
    }
    // One forward pass over the pairs (property strings are short: building a substring searcher
    // per lookup cost more than the scan). The last pair with the name and a non-empty value
    // wins, as when Java fills its map pair by pair.
    let bytes = properties.as_bytes();
    let name = name.as_bytes();
    let mut found = None;
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == ps)
            .map_or(bytes.len(), |i| start + i);
        let pair = &bytes[start..end];
        if pair.len() > name.len() + 1 && pair.starts_with(name) && pair[name.len()] == nv {
            found = Some(start + name.len() + 1..end);
        }
        start = end + 1;
    }
    // The range ends before an ASCII separator or at the end, so it lies on char boundaries.
    found.map(|r| &properties[r])
}

/// Appends one `name` 0x01 `value` 0x02 pair to a properties string.
pub fn push_pair(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(NAME_VALUE_SEPARATOR);
    out.push_str(value);
    out.push(PROPERTY_SEPARATOR);
}

/// Appends a pair whose value is formatted (numbers, mostly) without an intermediate String.
pub fn push_pair_fmt(out: &mut String, name: &str, value: std::fmt::Arguments<'_>) {
    out.push_str(name);
    out.push(NAME_VALUE_SEPARATOR);
    // Writing into a String cannot fail.
    let _ = out.write_fmt(value);
    out.push(PROPERTY_SEPARATOR);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_pair_with_trailing_separator() {
        let mut p = Properties::new();
        p.insert(TAGS, "TagA");
        p.insert(KEYS, "k1 k2");
        p.insert(WAIT, "true");
        assert_eq!(
            p.encode(),
            "TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2\u{2}WAIT\u{1}true\u{2}"
        );
        assert_eq!(p.encoded_len(), p.encode().len());
        assert_eq!(Properties::decode(&p.encode()), p);
        assert_eq!(p.keys().collect::<Vec<_>>(), ["k1", "k2"]);
    }

    #[test]
    fn decoding_drops_empty_names_values_and_pairs_without_separator() {
        let s = "A\u{1}1\u{2}\u{1}x\u{2}B\u{1}\u{2}junk\u{2}C\u{1}v\u{1}w\u{2}\u{2}D\u{1}last";
        let p = Properties::decode(s);
        let got: Vec<_> = p.iter().collect();
        assert_eq!(got, [("A", "1"), ("C", "v\u{1}w"), ("D", "last")]);
        assert!(Properties::decode("").is_empty());
    }

    #[test]
    fn repeated_name_keeps_last_value_in_map_and_lookup() {
        let s = "K\u{1}first\u{2}X\u{1}y\u{2}K\u{1}second\u{2}";
        assert_eq!(Properties::decode(s).get("K"), Some("second"));
        assert_eq!(find(s, "K"), Some("second"));
        assert_eq!(find(s, "X"), Some("y"));
        assert_eq!(find(s, "Y"), None);
        // A name that is a suffix of another must not match.
        assert_eq!(find("XK\u{1}v\u{2}", "K"), None);
    }

    #[test]
    fn insert_replaces_in_place_and_remove() {
        let mut p: Properties = [("A", "1"), ("B", "2")].into_iter().collect();
        assert_eq!(p.insert("A", "3"), Some("1".to_string()));
        assert_eq!(p.iter().collect::<Vec<_>>(), [("A", "3"), ("B", "2")]);
        assert_eq!(p.remove("A"), Some("3".to_string()));
        assert_eq!(p.remove("A"), None);
        assert_eq!(p.len(), 1);
        let mut s = String::new();
        push_pair(&mut s, CLUSTER, "DefaultCluster");
        push_pair_fmt(&mut s, REAL_QID, format_args!("{}", 3));
        assert_eq!(s, "CLUSTER\u{1}DefaultCluster\u{2}REAL_QID\u{1}3\u{2}");
    }

    #[test]
    fn equality_ignores_replaced_text() {
        let mut a = Properties::decode("A\u{1}1\u{2}B\u{1}2\u{2}");
        a.insert("A", "first");
        a.insert("A", "1");
        let mut b = Properties::new();
        b.insert("C", "gone");
        b.insert("A", "1");
        b.insert("B", "2");
        b.remove("C");
        assert_eq!(a, b);
        assert_eq!(a.encode(), "A\u{1}1\u{2}B\u{1}2\u{2}");
        assert_eq!(format!("{a:?}"), r#"{"A": "1", "B": "2"}"#);
        b.remove("A");
        b.remove("B");
        assert!(b.is_empty());
        assert_eq!(b, Properties::new());
    }
}
