//! The one error a filter expression can produce: it does not compile.

use std::fmt;

/// A SQL92 filter expression that cannot be compiled: a lexical or syntax error, or an
/// operand RocketMQ's parser refuses (for example `a > 'x'` or `a BETWEEN 10 AND 0`).
///
/// The broker answers SUBSCRIPTION_PARSE_FAILED with `to_string()` as the remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql92Error {
    /// Byte offset in the expression where the problem was found.
    pub offset: usize,
    /// 1-based line of `offset`.
    pub line: usize,
    /// 1-based column (in characters) of `offset`.
    pub column: usize,
    /// What was wrong, e.g. "expected a value ..., found end of expression".
    pub message: String,
}

impl Sql92Error {
    pub(crate) fn new(src: &str, offset: usize, message: impl Into<String>) -> Sql92Error {
        let offset = offset.min(src.len());
        // Offsets always sit on char boundaries (tokens start at ASCII or quotes), but
        // stay total anyway.
        let before = src.get(..offset).unwrap_or(src);
        let line = 1 + before.matches('\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = 1 + before[line_start..].chars().count();
        Sql92Error {
            offset,
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Sql92Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid SQL92 filter at line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for Sql92Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_is_reported_as_line_and_column() {
        let err = Sql92Error::new("a = 1\nAND é >", 13, "boom");
        assert_eq!((err.line, err.column), (2, 7));
        assert_eq!(
            err.to_string(),
            "invalid SQL92 filter at line 2, column 7: boom"
        );
    }
}
