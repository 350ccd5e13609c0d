//! RocketMQ's SQL92 message filter (`enablePropertyFilter`): compile a consumer's
//! expression once, then evaluate it against each message's properties.
//!
//! Grammar and semantics follow Apache RocketMQ's `filter` module
//! (`SelectorParser.jj` and the `expression` classes), including its quirks:
//!
//! - Property values are strings. Compared with a number literal, a property is
//!   parsed as that literal's Java type: `a > 5` parses `a` as an `int`, so messages
//!   whose `a` is `5.5` or `3000000000` do not match it. Two properties ordered with
//!   `<`, `>`, ... are both parsed as doubles; `=` compares them as strings.
//! - A comparison with a missing property is NULL (unknown); AND/OR/NOT use
//!   three-valued logic; only TRUE delivers the message.
//! - A property that cannot be converted makes the whole evaluation fail, as the Java
//!   exception does: the message is not delivered (never an error to the caller).
//! - Integer literals are decimal only: RocketMQ removed ActiveMQ's hex and octal
//!   literals, so `0x10` and `017` are refused. Float literals must be positive
//!   (Java refuses `0.0`).
//!
//! ```
//! use sluice_broker::sql92::{compile, EncodedProperties};
//! let filter = compile("a > 5 AND b = 'x'").unwrap();
//! assert!(filter.evaluate(&EncodedProperties(b"a\x016\x02b\x01x\x02")));
//! assert!(!filter.evaluate(&EncodedProperties(b"a\x015\x02b\x01x\x02")));
//! ```

mod ast;
mod encoded;
mod error;
mod eval;
mod java_text;
mod lexer;
mod parser;

pub use error::Sql92Error;
pub use parser::{MAX_EXPRESSION_LEN, MAX_NESTING, MAX_TREE_HEIGHT};

use std::collections::HashMap;
use std::fmt;

/// Where an expression finds a message's properties by name.
pub trait PropertyLookup {
    /// The value of property `name`, or `None` when the message does not have it.
    fn property(&self, name: &str) -> Option<&str>;
}

impl PropertyLookup for HashMap<String, String> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl PropertyLookup for HashMap<&str, &str> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).copied()
    }
}

/// A message's properties in their stored encoding, `name \x01 value \x02 ...`,
/// looked up in place without building a map. As with RocketMQ's
/// `MessageDecoder.decodeProperties`, a later duplicate name wins and an entry
/// without `\x01` is ignored. A value that is not UTF-8 counts as absent.
#[derive(Debug, Clone, Copy)]
pub struct EncodedProperties<'a>(pub &'a [u8]);

impl PropertyLookup for EncodedProperties<'_> {
    fn property(&self, name: &str) -> Option<&str> {
        let name = name.as_bytes();
        let mut found = None;
        for (key, value) in encoded::Entries::new(self.0) {
            if key == name {
                found = Some(value);
            }
        }
        found.and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// A compiled filter expression; cheap to evaluate, shareable across threads.
#[derive(Debug, Clone)]
pub struct Expression {
    source: Box<str>,
    root: ast::Node,
    /// Distinct property names the expression reads, for one-pass gathering.
    names: Vec<Box<str>>,
}

/// Most property names [`Expression::evaluate_encoded`] gathers in one pass; beyond
/// that it falls back to one lookup per use.
const MAX_GATHERED: usize = 8;

/// Compiles a SQL92 filter expression, or explains where and why it is malformed.
pub fn compile(expr: &str) -> Result<Expression, Sql92Error> {
    let root = parser::parse(expr)?;
    let mut names = Vec::new();
    root.property_names(&mut names);
    Ok(Expression {
        source: expr.into(),
        root,
        names,
    })
}

impl Expression {
    /// Whether a message with these properties is delivered: only when the
    /// expression is TRUE (not FALSE, not NULL, not failed). Does not allocate.
    pub fn evaluate(&self, props: &dyn PropertyLookup) -> bool {
        matches!(eval::eval(&self.root, props), Ok(eval::Value::Bool(true)))
    }

    /// [`evaluate`](Self::evaluate) over properties in their stored encoding
    /// (`name \x01 value \x02 ...`), reading them in a single pass for all the names
    /// the expression uses, instead of one scan per property reference.
    pub fn evaluate_encoded(&self, properties: &[u8]) -> bool {
        if self.names.len() > MAX_GATHERED {
            return self.evaluate(&EncodedProperties(properties));
        }
        let mut values: [Option<&[u8]>; MAX_GATHERED] = [None; MAX_GATHERED];
        for (key, value) in encoded::Entries::new(properties) {
            for (slot, name) in self.names.iter().enumerate() {
                if name.as_bytes() == key {
                    // Later duplicates win, as in MessageDecoder.decodeProperties.
                    values[slot] = Some(value);
                }
            }
        }
        self.evaluate(&Gathered {
            names: &self.names,
            values: &values,
        })
    }

    /// The expression text as compiled.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Property values gathered by [`Expression::evaluate_encoded`].
struct Gathered<'a> {
    names: &'a [Box<str>],
    values: &'a [Option<&'a [u8]>],
}

impl PropertyLookup for Gathered<'_> {
    fn property(&self, name: &str) -> Option<&str> {
        let slot = self.names.iter().position(|n| **n == *name)?;
        self.values
            .get(slot)
            .copied()
            .flatten()
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_properties_are_found_in_place() {
        let props =
            EncodedProperties(b"TAGS\x01tagA\x02KEYS\x01k1\x02a\x011\x02junk\x02a\x012\x02");
        assert_eq!(props.property("TAGS"), Some("tagA"));
        assert_eq!(props.property("KEYS"), Some("k1"));
        assert_eq!(props.property("a"), Some("2"), "later duplicate wins");
        assert_eq!(props.property("junk"), None);
        assert_eq!(props.property("TAG"), None);
        assert_eq!(EncodedProperties(b"").property("a"), None);
        assert_eq!(EncodedProperties(b"a\x01\xff\x02").property("a"), None);
        assert_eq!(
            EncodedProperties(b"a\x01b\x01c\x02").property("a"),
            Some("b\x01c")
        );
        assert_eq!(
            EncodedProperties(b"a\x01b\x01c\x02").property("a\x01b"),
            None
        );
    }

    #[test]
    fn expressions_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Expression>();
    }
}
