//! Tokenizer for RocketMQ's SQL92 selector grammar (`SelectorParser.jj`).
//!
//! Token rules follow the JavaCC grammar: keywords and identifiers are ASCII and
//! case-insensitive, integers are `0` or `[1-9][0-9]*` with an optional `L` suffix,
//! floats need a `.` or an exponent, strings are single-quoted with `''` as the
//! escaped quote. `-- ...` comments only count when a line break ends them (JavaCC's
//! `LINE_COMMENT` requires one); otherwise the dashes are minus signs, as in Java.

use super::error::Sql92Error;

/// Reserved words of the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Keyword> {
        const WORDS: [(&str, Keyword); 12] = [
            ("NOT", Keyword::Not),
            ("AND", Keyword::And),
            ("OR", Keyword::Or),
            ("BETWEEN", Keyword::Between),
            ("IN", Keyword::In),
            ("TRUE", Keyword::True),
            ("FALSE", Keyword::False),
            ("NULL", Keyword::Null),
            ("IS", Keyword::Is),
            ("CONTAINS", Keyword::Contains),
            ("STARTSWITH", Keyword::StartsWith),
            ("ENDSWITH", Keyword::EndsWith),
        ];
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|&(_, k)| k)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Keyword::Not => "NOT",
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Between => "BETWEEN",
            Keyword::In => "IN",
            Keyword::True => "TRUE",
            Keyword::False => "FALSE",
            Keyword::Null => "NULL",
            Keyword::Is => "IS",
            Keyword::Contains => "CONTAINS",
            Keyword::StartsWith => "STARTSWITH",
            Keyword::EndsWith => "ENDSWITH",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind<'s> {
    Keyword(Keyword),
    Ident(&'s str),
    /// Decimal integer image, without the optional `L` suffix.
    Integer(&'s str),
    /// Floating point image as written.
    Float(&'s str),
    /// String literal, already unescaped.
    Str(String),
    Eq,
    NotEq,
    Gt,
    GtEq,
    Lt,
    LtEq,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Eof,
}

impl TokenKind<'_> {
    /// How the token is named in "found ..." parts of error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Keyword(k) => k.as_str().to_string(),
            TokenKind::Ident(name) => format!("identifier `{name}`"),
            TokenKind::Integer(image) | TokenKind::Float(image) => format!("number `{image}`"),
            TokenKind::Str(s) => format!("string '{}'", s.replace('\'', "''")),
            TokenKind::Eq => "`=`".into(),
            TokenKind::NotEq => "`<>`".into(),
            TokenKind::Gt => "`>`".into(),
            TokenKind::GtEq => "`>=`".into(),
            TokenKind::Lt => "`<`".into(),
            TokenKind::LtEq => "`<=`".into(),
            TokenKind::LParen => "`(`".into(),
            TokenKind::RParen => "`)`".into(),
            TokenKind::Comma => "`,`".into(),
            TokenKind::Plus => "`+`".into(),
            TokenKind::Minus => "`-`".into(),
            TokenKind::Eof => "end of expression".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'s> {
    pub kind: TokenKind<'s>,
    /// Byte offset of the token's first character in the source.
    pub offset: usize,
}

/// Splits `src` into tokens, ending with one `Eof` token.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token<'_>>, Sql92Error> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let b = bytes[pos];
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => {
                pos += 1;
                continue;
            }
            b'-' if bytes.get(pos + 1) == Some(&b'-') => {
                match bytes[pos..].iter().position(|&c| c == b'\n' || c == b'\r') {
                    Some(end) => {
                        pos += end + 1;
                        continue;
                    }
                    None => {
                        pos += 1;
                        TokenKind::Minus
                    }
                }
            }
            b'/' if bytes.get(pos + 1) == Some(&b'*') => match src[pos + 2..].find("*/") {
                Some(end) => {
                    pos += 2 + end + 2;
                    continue;
                }
                None => return Err(Sql92Error::new(src, start, "unterminated /* comment")),
            },
            b'=' => single(&mut pos, TokenKind::Eq),
            b'(' => single(&mut pos, TokenKind::LParen),
            b')' => single(&mut pos, TokenKind::RParen),
            b',' => single(&mut pos, TokenKind::Comma),
            b'+' => single(&mut pos, TokenKind::Plus),
            b'-' => single(&mut pos, TokenKind::Minus),
            b'>' if bytes.get(pos + 1) == Some(&b'=') => double(&mut pos, TokenKind::GtEq),
            b'>' => single(&mut pos, TokenKind::Gt),
            b'<' if bytes.get(pos + 1) == Some(&b'=') => double(&mut pos, TokenKind::LtEq),
            b'<' if bytes.get(pos + 1) == Some(&b'>') => double(&mut pos, TokenKind::NotEq),
            b'<' => single(&mut pos, TokenKind::Lt),
            b'\'' => lex_string(src, &mut pos)?,
            b'0'..=b'9' => lex_number(src, &mut pos)?,
            b'.' if bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) => {
                lex_number(src, &mut pos)?
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'$' => {
                pos += 1;
                while pos < bytes.len()
                    && (bytes[pos].is_ascii_alphanumeric()
                        || bytes[pos] == b'_'
                        || bytes[pos] == b'$')
                {
                    pos += 1;
                }
                let word = &src[start..pos];
                match Keyword::from_word(word) {
                    Some(k) => TokenKind::Keyword(k),
                    None => TokenKind::Ident(word),
                }
            }
            _ => {
                let c = src[start..].chars().next().unwrap_or('?');
                return Err(Sql92Error::new(
                    src,
                    start,
                    format!("unexpected character {c:?}"),
                ));
            }
        };
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        offset: src.len(),
    });
    Ok(tokens)
}

fn single<'s>(pos: &mut usize, kind: TokenKind<'s>) -> TokenKind<'s> {
    *pos += 1;
    kind
}

fn double<'s>(pos: &mut usize, kind: TokenKind<'s>) -> TokenKind<'s> {
    *pos += 2;
    kind
}

fn lex_string<'s>(src: &'s str, pos: &mut usize) -> Result<TokenKind<'s>, Sql92Error> {
    let start = *pos;
    let bytes = src.as_bytes();
    let mut value = String::new();
    let mut chunk_start = start + 1;
    let mut i = start + 1;
    loop {
        match bytes.get(i) {
            None => {
                return Err(Sql92Error::new(
                    src,
                    start,
                    "unterminated string literal (a quote inside a string is written '')",
                ))
            }
            Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => {
                value.push_str(&src[chunk_start..=i]);
                i += 2;
                chunk_start = i;
            }
            Some(b'\'') => {
                value.push_str(&src[chunk_start..i]);
                *pos = i + 1;
                return Ok(TokenKind::Str(value));
            }
            Some(_) => i += 1,
        }
    }
}

/// Lexes an integer or float starting at a digit or at a `.` followed by a digit.
fn lex_number<'s>(src: &'s str, pos: &mut usize) -> Result<TokenKind<'s>, Sql92Error> {
    let bytes = src.as_bytes();
    let start = *pos;
    let digits_end = skip_digits(bytes, start);
    let mut end = digits_end;
    let mut is_float = false;
    if bytes.get(end) == Some(&b'.') {
        is_float = true;
        end = skip_digits(bytes, end + 1);
    }
    if let Some(exp_end) = exponent_end(bytes, end) {
        is_float = true;
        end = exp_end;
    }
    if is_float {
        *pos = end;
        return Ok(TokenKind::Float(&src[start..end]));
    }
    // DECIMAL_LITERAL is `"0" | [1-9][0-9]*`: RocketMQ removed ActiveMQ's HEX_LITERAL
    // and OCTAL_LITERAL, so `0x1F` and `017` can never parse there. Say why.
    if bytes[start] == b'0' {
        if matches!(bytes.get(start + 1), Some(b'0'..=b'9' | b'x' | b'X')) {
            return Err(Sql92Error::new(
                src,
                start,
                "hexadecimal and octal integer literals are not supported (RocketMQ's \
                 grammar has decimal integers only, without leading zeros)",
            ));
        }
        *pos = start + 1;
        return Ok(TokenKind::Integer(&src[start..start + 1]));
    }
    *pos = digits_end;
    if matches!(bytes.get(digits_end), Some(b'l' | b'L')) {
        *pos += 1;
    }
    Ok(TokenKind::Integer(&src[start..digits_end]))
}

fn skip_digits(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    pos
}

/// End of a complete exponent (`E`, optional sign, digits) at `pos`, if there is one.
fn exponent_end(bytes: &[u8], pos: usize) -> Option<usize> {
    if !matches!(bytes.get(pos), Some(b'e' | b'E')) {
        return None;
    }
    let mut p = pos + 1;
    if matches!(bytes.get(p), Some(b'+' | b'-')) {
        p += 1;
    }
    let end = skip_digits(bytes, p);
    (end > p).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind<'_>> {
        tokenize(src)
            .expect("tokenize")
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn operators_prefer_the_longest_match() {
        assert_eq!(
            kinds("<> <= >= < > ="),
            vec![
                TokenKind::NotEq,
                TokenKind::LtEq,
                TokenKind::GtEq,
                TokenKind::Lt,
                TokenKind::Gt,
                TokenKind::Eq,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn keywords_are_case_insensitive_but_longer_words_are_identifiers() {
        assert_eq!(
            kinds("aNd Notx $a_1 startsWith"),
            vec![
                TokenKind::Keyword(Keyword::And),
                TokenKind::Ident("Notx"),
                TokenKind::Ident("$a_1"),
                TokenKind::Keyword(Keyword::StartsWith),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn numbers_follow_the_javacc_literal_rules() {
        assert_eq!(
            kinds("10L 5. .5 5e3 5.E-3 0 5E"),
            vec![
                TokenKind::Integer("10"),
                TokenKind::Float("5."),
                TokenKind::Float(".5"),
                TokenKind::Float("5e3"),
                TokenKind::Float("5.E-3"),
                TokenKind::Integer("0"),
                TokenKind::Integer("5"),
                TokenKind::Ident("E"),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn hex_and_octal_literals_are_refused_with_a_reason() {
        for src in ["a = 0x1F", "a = 017", "a = 0X1"] {
            let err = tokenize(src).expect_err(src);
            assert_eq!(err.offset, 4, "{src}");
            assert!(err.message.contains("hexadecimal and octal"), "{err}");
        }
        assert!(tokenize("a = 0.17").is_ok());
        assert!(tokenize("a = 0").is_ok());
    }

    #[test]
    fn strings_unescape_doubled_quotes_and_may_hold_anything() {
        assert_eq!(
            kinds("'it''s' '' 'é\n'"),
            vec![
                TokenKind::Str("it's".into()),
                TokenKind::Str(String::new()),
                TokenKind::Str("é\n".into()),
                TokenKind::Eof
            ]
        );
        let err = tokenize("a = 'x").expect_err("unterminated");
        assert_eq!(err.offset, 4);
    }

    #[test]
    fn comments_are_skipped_only_when_complete() {
        assert_eq!(
            kinds("a /* c */ -- line\n b"),
            vec![TokenKind::Ident("a"), TokenKind::Ident("b"), TokenKind::Eof]
        );
        assert_eq!(
            kinds("a --b"),
            vec![
                TokenKind::Ident("a"),
                TokenKind::Minus,
                TokenKind::Minus,
                TokenKind::Ident("b"),
                TokenKind::Eof
            ]
        );
        assert!(tokenize("a /* open").is_err());
    }

    #[test]
    fn stray_characters_are_reported_with_their_offset() {
        let err = tokenize("a != 1").expect_err("bad char");
        assert_eq!(err.offset, 2);
        assert!(err.message.contains("'!'"), "{err}");
        assert!(tokenize("a = é").is_err());
    }
}
