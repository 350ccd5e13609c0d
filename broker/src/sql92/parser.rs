//! Recursive-descent parser for RocketMQ's selector grammar, with the operand checks
//! RocketMQ's expression factories make at parse time.
//!
//! Precedence, loosest first (as in `SelectorParser.jj`): `OR`; `AND`; `=`, `<>`,
//! `IS [NOT] NULL`; `>`, `>=`, `<`, `<=`, `[NOT] BETWEEN`, `[NOT] IN`,
//! `[NOT] CONTAINS|STARTSWITH|ENDSWITH`; unary `+`, `-`, `NOT`; literals, properties
//! and parentheses. Note that `NOT` binds tighter than comparisons there, so
//! `NOT a = 'x'` means `(NOT a) = 'x'`; write `NOT (a = 'x')`.

use super::ast::{Literal, Node, OrderOp, TextOp};
use super::error::Sql92Error;
use super::eval::{compare, Value};
use super::lexer::{tokenize, Keyword, Token, TokenKind};
use std::cmp::Ordering;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 64 * 1024;
/// Deepest nesting of parentheses and unary operators accepted.
pub const MAX_NESTING: u32 = 64;
/// Tallest expression tree accepted (bounds evaluation recursion).
pub const MAX_TREE_HEIGHT: u32 = 128;

/// A node and the height of the tree under it.
type Parsed = (Node, u32);

pub(crate) fn parse(src: &str) -> Result<Node, Sql92Error> {
    if src.len() > MAX_EXPRESSION_LEN {
        return Err(Sql92Error::new(
            src,
            MAX_EXPRESSION_LEN,
            format!(
                "expression is {} bytes long; at most {MAX_EXPRESSION_LEN} are accepted",
                src.len()
            ),
        ));
    }
    let tokens = tokenize(src)?;
    let mut parser = Parser {
        src,
        tokens,
        pos: 0,
        nesting: 0,
    };
    let start = parser.offset();
    let root = parser.or_expr()?;
    if parser.peek() != &TokenKind::Eof {
        return Err(parser.unexpected("AND, OR, a comparison or the end of the expression"));
    }
    let (root, _) = parser.as_condition(root, start)?;
    Ok(root)
}

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token<'s>>,
    pos: usize,
    nesting: u32,
}

impl<'s> Parser<'s> {
    fn peek(&self) -> &TokenKind<'s> {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &TokenKind<'s> {
        let last = self.tokens.len() - 1; // the Eof token is always there
        &self.tokens[(self.pos + ahead).min(last)].kind
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].offset
    }

    fn advance(&mut self) -> TokenKind<'s> {
        // Consumed tokens are never looked at again, so their payload (a string
        // literal's text) can be moved out; the final Eof stays Eof.
        let last = self.tokens.len() - 1;
        let kind = std::mem::replace(&mut self.tokens[self.pos.min(last)].kind, TokenKind::Eof);
        if self.pos < last {
            self.pos += 1;
        }
        kind
    }

    fn at_keyword(&self, ahead: usize, k: Keyword) -> bool {
        self.peek_at(ahead) == &TokenKind::Keyword(k)
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> Sql92Error {
        Sql92Error::new(self.src, offset, message)
    }

    fn unexpected(&self, expected: &str) -> Sql92Error {
        self.error(
            self.offset(),
            format!("expected {expected}, found {}", self.peek().describe()),
        )
    }

    fn enter(&mut self) -> Result<(), Sql92Error> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error(
                self.offset(),
                format!("expression nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn height(&self, height: u32, offset: usize) -> Result<u32, Sql92Error> {
        if height > MAX_TREE_HEIGHT {
            return Err(self.error(
                offset,
                format!("expression too complex (tree deeper than {MAX_TREE_HEIGHT})"),
            ));
        }
        Ok(height)
    }

    fn or_expr(&mut self) -> Result<Parsed, Sql92Error> {
        self.enter()?;
        let start = self.offset();
        let mut left = self.and_expr()?;
        while self.at_keyword(0, Keyword::Or) {
            let op_offset = self.offset();
            self.advance();
            let right_start = self.offset();
            let right = self.and_expr()?;
            let l = self.as_condition(left, start)?;
            let r = self.as_condition(right, right_start)?;
            left = self.join(false, l, r, op_offset)?;
        }
        self.leave();
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Parsed, Sql92Error> {
        let start = self.offset();
        let mut left = self.equality_expr()?;
        while self.at_keyword(0, Keyword::And) {
            let op_offset = self.offset();
            self.advance();
            let right_start = self.offset();
            let right = self.equality_expr()?;
            let l = self.as_condition(left, start)?;
            let r = self.as_condition(right, right_start)?;
            left = self.join(true, l, r, op_offset)?;
        }
        Ok(left)
    }

    /// Builds `l AND r` / `l OR r`, appending to `l` when it already is such a chain.
    fn join(&self, and: bool, l: Parsed, r: Parsed, offset: usize) -> Result<Parsed, Sql92Error> {
        let ((l, lh), (r, rh)) = (l, r);
        let (node, height) = match (and, l) {
            (true, Node::And(mut items)) => {
                items.push(r);
                (Node::And(items), lh.max(rh + 1))
            }
            (false, Node::Or(mut items)) => {
                items.push(r);
                (Node::Or(items), lh.max(rh + 1))
            }
            (true, l) => (Node::And(vec![l, r]), lh.max(rh) + 1),
            (false, l) => (Node::Or(vec![l, r]), lh.max(rh) + 1),
        };
        Ok((node, self.height(height, offset)?))
    }

    /// Java's `asBooleanExpression`: conditions pass, a bare property becomes a boolean
    /// cast, anything else cannot be used as a condition.
    fn as_condition(&self, (node, h): Parsed, offset: usize) -> Result<Parsed, Sql92Error> {
        match node {
            Node::Property(name) => Ok((Node::BoolCast(name), h)),
            node if node.is_boolean() => Ok((node, h)),
            _ => Err(self.error(
                offset,
                "this expression does not give a boolean value (a number, string or \
                 negation cannot be used as a condition)",
            )),
        }
    }

    fn equality_expr(&mut self) -> Result<Parsed, Sql92Error> {
        let mut left = self.comparison_expr()?;
        loop {
            let op_offset = self.offset();
            match self.peek() {
                TokenKind::Eq | TokenKind::NotEq => {
                    let negated = self.advance() == TokenKind::NotEq;
                    let right = self.comparison_expr()?;
                    self.check_equal_operands(&left.0, &right.0, op_offset)?;
                    let h = self.height(left.1.max(right.1) + 1 + u32::from(negated), op_offset)?;
                    let eq = Node::Equal(Box::new(left.0), Box::new(right.0));
                    left = (if negated { Node::Not(Box::new(eq)) } else { eq }, h);
                }
                TokenKind::Keyword(Keyword::Is) => {
                    self.advance();
                    let negated = if self.at_keyword(0, Keyword::Null) {
                        false
                    } else if self.at_keyword(0, Keyword::Not) && self.at_keyword(1, Keyword::Null)
                    {
                        self.advance();
                        true
                    } else {
                        return Err(self.unexpected("NULL or NOT NULL after IS"));
                    };
                    self.advance();
                    let h = self.height(left.1 + 1 + u32::from(negated), op_offset)?;
                    let is_null = Node::IsNull(Box::new(left.0));
                    left = (
                        if negated {
                            Node::Not(Box::new(is_null))
                        } else {
                            is_null
                        },
                        h,
                    );
                }
                _ => return Ok(left),
            }
        }
    }

    fn comparison_expr(&mut self) -> Result<Parsed, Sql92Error> {
        let mut left = self.unary_expr()?;
        loop {
            let op_offset = self.offset();
            let order = match self.peek() {
                TokenKind::Gt => Some(OrderOp::Gt),
                TokenKind::GtEq => Some(OrderOp::GtEq),
                TokenKind::Lt => Some(OrderOp::Lt),
                TokenKind::LtEq => Some(OrderOp::LtEq),
                _ => None,
            };
            if let Some(op) = order {
                self.advance();
                let right = self.unary_expr()?;
                left = self.order(op, left, right, op_offset)?;
                continue;
            }
            // `NOT` here only counts when followed by an operator it negates
            // (the grammar's LOOKAHEAD(2)).
            let negated = self.at_keyword(0, Keyword::Not);
            let op = match self.peek_at(usize::from(negated)) {
                TokenKind::Keyword(
                    k @ (Keyword::Contains
                    | Keyword::StartsWith
                    | Keyword::EndsWith
                    | Keyword::Between
                    | Keyword::In),
                ) => *k,
                _ => return Ok(left),
            };
            if negated {
                self.advance();
            }
            self.advance();
            left = match op {
                Keyword::Between => self.between(left, negated, op_offset)?,
                Keyword::In => self.in_list(left, negated, op_offset)?,
                _ => {
                    let op = match op {
                        Keyword::Contains => TextOp::Contains,
                        Keyword::StartsWith => TextOp::StartsWith,
                        _ => TextOp::EndsWith,
                    };
                    let needle = self
                        .string_literal(&format!("a string literal after {}", keyword_name(op)))?;
                    let h = self.height(left.1 + 1, op_offset)?;
                    let node = Node::Text {
                        op,
                        negated,
                        subject: Box::new(left.0),
                        needle: needle.into_boxed_str(),
                    };
                    (node, h)
                }
            };
        }
    }

    fn order(
        &self,
        op: OrderOp,
        l: Parsed,
        r: Parsed,
        offset: usize,
    ) -> Result<Parsed, Sql92Error> {
        self.check_orderable(&l.0, offset)?;
        self.check_orderable(&r.0, offset)?;
        let h = self.height(l.1.max(r.1) + 1, offset)?;
        Ok((Node::Order(op, Box::new(l.0), Box::new(r.0)), h))
    }

    /// `x BETWEEN lo AND hi` is `x >= lo AND x <= hi`; `NOT BETWEEN` is
    /// `x < lo OR x > hi` (RocketMQ builds exactly these).
    fn between(
        &mut self,
        value: Parsed,
        negated: bool,
        offset: usize,
    ) -> Result<Parsed, Sql92Error> {
        let low = self.unary_expr()?;
        if !self.at_keyword(0, Keyword::And) {
            return Err(self.unexpected("AND between the two BETWEEN bounds"));
        }
        self.advance();
        let high = self.unary_expr()?;
        if negated {
            let below = self.order(OrderOp::Lt, value.clone(), low, offset)?;
            let above = self.order(OrderOp::Gt, value, high, offset)?;
            let h = self.height(below.1.max(above.1) + 1, offset)?;
            return Ok((Node::Or(vec![below.0, above.0]), h));
        }
        if let (Node::Const(lo), Node::Const(hi)) = (&low.0, &high.0) {
            if matches!(lo, Literal::Null) || matches!(hi, Literal::Null) {
                return Err(self.error(offset, "BETWEEN bounds cannot be NULL"));
            }
            let ordered = compare(Value::from_literal(hi), Value::from_literal(lo));
            if !matches!(ordered, Ok(Ordering::Greater | Ordering::Equal)) {
                return Err(self.error(
                    offset,
                    format!("BETWEEN lower bound {lo} must not be greater than upper bound {hi}"),
                ));
            }
        }
        let at_least = self.order(OrderOp::GtEq, value.clone(), low, offset)?;
        let at_most = self.order(OrderOp::LtEq, value, high, offset)?;
        let h = self.height(at_least.1.max(at_most.1) + 1, offset)?;
        Ok((Node::And(vec![at_least.0, at_most.0]), h))
    }

    fn in_list(
        &mut self,
        left: Parsed,
        negated: bool,
        offset: usize,
    ) -> Result<Parsed, Sql92Error> {
        let Node::Property(property) = left.0 else {
            return Err(self.error(offset, "IN needs a property name on its left"));
        };
        if self.peek() != &TokenKind::LParen {
            return Err(self.unexpected("`(` after IN"));
        }
        self.advance();
        let mut values = vec![self
            .string_literal("a string literal in the IN list")?
            .into_boxed_str()];
        loop {
            match self.peek() {
                TokenKind::Comma => {
                    self.advance();
                    values.push(
                        self.string_literal("a string literal after `,`")?
                            .into_boxed_str(),
                    );
                }
                TokenKind::RParen => {
                    self.advance();
                    break;
                }
                _ => return Err(self.unexpected("`,` or `)` in the IN list")),
            }
        }
        values.sort_unstable();
        values.dedup();
        let node = Node::In {
            property,
            values,
            negated,
        };
        Ok((node, 1))
    }

    fn string_literal(&mut self, expected: &str) -> Result<String, Sql92Error> {
        if !matches!(self.peek(), TokenKind::Str(_)) {
            return Err(self.unexpected(expected));
        }
        match self.advance() {
            TokenKind::Str(s) => Ok(s),
            _ => Err(self.unexpected(expected)),
        }
    }

    fn unary_expr(&mut self) -> Result<Parsed, Sql92Error> {
        let offset = self.offset();
        match self.peek() {
            TokenKind::Plus => {
                self.advance();
                self.enter()?;
                let inner = self.unary_expr()?;
                self.leave();
                Ok(inner)
            }
            TokenKind::Minus => {
                self.advance();
                self.enter()?;
                let (inner, h) = self.unary_expr()?;
                self.leave();
                Ok((Node::Negate(Box::new(inner)), self.height(h + 1, offset)?))
            }
            TokenKind::Keyword(Keyword::Not) => {
                self.advance();
                self.enter()?;
                let operand_offset = self.offset();
                let inner = self.unary_expr()?;
                self.leave();
                let (inner, h) = self.as_condition(inner, operand_offset)?;
                Ok((Node::Not(Box::new(inner)), self.height(h + 1, offset)?))
            }
            _ => self.primary_expr(),
        }
    }

    fn primary_expr(&mut self) -> Result<Parsed, Sql92Error> {
        let offset = self.offset();
        let literal = match self.peek() {
            TokenKind::LParen => {
                self.advance();
                let inner = self.or_expr()?;
                if self.peek() != &TokenKind::RParen {
                    let open = Sql92Error::new(self.src, offset, "");
                    return Err(self.unexpected(&format!(
                        "`)` closing the `(` at line {}, column {}",
                        open.line, open.column
                    )));
                }
                self.advance();
                return Ok(inner);
            }
            TokenKind::Ident(name) => {
                let name: Box<str> = (*name).into();
                self.advance();
                return Ok((Node::Property(name), 1));
            }
            TokenKind::Keyword(Keyword::True) => Literal::Bool(true),
            TokenKind::Keyword(Keyword::False) => Literal::Bool(false),
            TokenKind::Keyword(Keyword::Null) => Literal::Null,
            TokenKind::Integer(image) => self.integer(image, offset)?,
            TokenKind::Float(image) => self.float(image, offset)?,
            TokenKind::Str(_) => match self.advance() {
                TokenKind::Str(s) => return Ok((Node::Const(Literal::Str(s.into_boxed_str())), 1)),
                _ => return Err(self.error(offset, "string literal expected")),
            },
            _ => return Err(self.unexpected(
                "a value (number, string, TRUE, FALSE, NULL, property name, `(`, NOT, `+` or `-`)",
            )),
        };
        self.advance();
        Ok((Node::Const(literal), 1))
    }

    /// Java's `createFromDecimal`: a `long`, narrowed to `int` when it fits.
    fn integer(&self, image: &str, offset: usize) -> Result<Literal, Sql92Error> {
        let value: i64 = image.parse().map_err(|_| {
            self.error(
                offset,
                format!("integer {image} does not fit a 64-bit long"),
            )
        })?;
        Ok(match i32::try_from(value) {
            Ok(v) => Literal::Int(v),
            Err(_) => Literal::Long(value),
        })
    }

    /// Java's `createFloat`, including its refusal of zero: it compares against
    /// `Double.MIN_VALUE`, the smallest positive double.
    fn float(&self, image: &str, offset: usize) -> Result<Literal, Sql92Error> {
        let value: f64 = image
            .parse()
            .map_err(|_| self.error(offset, format!("malformed number {image}")))?;
        if value.is_infinite() {
            return Err(self.error(
                offset,
                format!("{image} is greater than 1.7976931348623157E308"),
            ));
        }
        if value < f64::from_bits(1) {
            return Err(self.error(
                offset,
                format!("{image} is less than 4.9E-324 (RocketMQ refuses zero float literals)"),
            ));
        }
        Ok(Literal::Double(value))
    }

    /// Java's `checkLessThanOperand`: only numbers, properties and negations can be
    /// ordered.
    fn check_orderable(&self, node: &Node, offset: usize) -> Result<(), Sql92Error> {
        match node {
            Node::Const(Literal::Int(_) | Literal::Long(_) | Literal::Double(_)) => Ok(()),
            Node::Const(lit) => Err(self.error(
                offset,
                format!("{lit} cannot be compared with <, <=, > or >= (only numbers can)"),
            )),
            node if node.is_boolean() => {
                Err(self.error(offset, "a condition cannot be compared with <, <=, > or >="))
            }
            _ => Ok(()),
        }
    }

    /// Java's `checkEqualOperand` and `checkEqualOperandCompatability`.
    fn check_equal_operands(&self, l: &Node, r: &Node, offset: usize) -> Result<(), Sql92Error> {
        if matches!(l, Node::Const(Literal::Null)) || matches!(r, Node::Const(Literal::Null)) {
            return Err(self.error(
                offset,
                "NULL cannot be compared with = or <>; use IS NULL or IS NOT NULL",
            ));
        }
        if let (Node::Const(Literal::Bool(b)), Node::Const(other)) = (l, r) {
            if !matches!(other, Literal::Bool(_)) {
                let b = if *b { "TRUE" } else { "FALSE" };
                return Err(self.error(offset, format!("{b} cannot be compared with {other}")));
            }
        }
        Ok(())
    }
}

fn keyword_name(op: TextOp) -> &'static str {
    match op {
        TextOp::Contains => "CONTAINS",
        TextOp::StartsWith => "STARTSWITH",
        TextOp::EndsWith => "ENDSWITH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn height(node: &Node) -> u32 {
        1 + match node {
            Node::Const(_) | Node::Property(_) | Node::BoolCast(_) | Node::In { .. } => 0,
            Node::Negate(n) | Node::Not(n) | Node::IsNull(n) => height(n),
            Node::Text { subject, .. } => height(subject),
            Node::And(items) | Node::Or(items) => items.iter().map(height).max().unwrap_or(0),
            Node::Equal(l, r) | Node::Order(_, l, r) => height(l).max(height(r)),
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_chains_flatten() {
        let node = parse("a = '1' OR b = '2' AND c = '3' OR d = '4'").expect("parses");
        let Node::Or(items) = node else {
            panic!("top is OR: {node:?}")
        };
        assert_eq!(items.len(), 3);
        assert!(matches!(items[1], Node::And(ref v) if v.len() == 2));
    }

    #[test]
    fn not_binds_tighter_than_comparison_as_in_the_grammar() {
        // (NOT a) = 'x', not NOT (a = 'x').
        let node = parse("NOT a = 'x'").expect("parses");
        assert!(matches!(node, Node::Equal(ref l, _) if matches!(**l, Node::Not(_))));
    }

    #[test]
    fn between_becomes_two_comparisons() {
        let node = parse("a BETWEEN 1 AND 2 AND b IS NOT NULL").expect("parses");
        let Node::And(items) = node else {
            panic!("top is AND: {node:?}")
        };
        // AND is associative under RocketMQ's left-to-right three-valued evaluation,
        // so BETWEEN's two comparisons join the chain.
        assert_eq!(items.len(), 3);
        assert!(matches!(items[0], Node::Order(OrderOp::GtEq, ..)));
        assert!(matches!(items[1], Node::Order(OrderOp::LtEq, ..)));
        assert!(matches!(items[2], Node::Not(ref n) if matches!(**n, Node::IsNull(_))));
    }

    #[test]
    fn literals_get_java_types() {
        let lit = |src: &str| match parse(&format!("a = {src}")).expect("parses") {
            Node::Equal(_, r) => match *r {
                Node::Const(l) => l,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(lit("2147483647"), Literal::Int(i32::MAX));
        assert_eq!(lit("2147483648"), Literal::Long(2_147_483_648));
        assert_eq!(lit("7L"), Literal::Int(7));
        assert_eq!(lit("9223372036854775807"), Literal::Long(i64::MAX));
        assert_eq!(lit("1.5e2"), Literal::Double(150.0));
        assert_eq!(lit("'it''s'"), Literal::Str("it's".into()));
        assert_eq!(lit("TRUE"), Literal::Bool(true));
        assert_eq!(lit("false"), Literal::Bool(false));
    }

    #[test]
    fn long_chains_stay_shallow_but_deep_nesting_is_refused() {
        let chain = vec!["TAGS = 'x'"; 2000].join(" OR ");
        let node = parse(&chain).expect("a long OR chain is fine");
        assert_eq!(height(&node), 3);

        let nested = format!(
            "{}a = 1{}",
            "(".repeat(MAX_NESTING as usize - 1),
            ")".repeat(MAX_NESTING as usize - 1)
        );
        assert!(parse(&nested).is_ok());
        let nested = format!(
            "{}a = 1{}",
            "(".repeat(MAX_NESTING as usize),
            ")".repeat(MAX_NESTING as usize)
        );
        let err = parse(&nested).expect_err("too deep");
        assert!(err.message.contains("nested too deeply"), "{err}");

        let eq_chain = vec!["a"; 500].join(" = ");
        let err = parse(&eq_chain).expect_err("too tall");
        assert!(err.message.contains("too complex"), "{err}");
    }
}
