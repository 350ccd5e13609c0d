//! The compiled form of a filter: a tree shaped like RocketMQ's expression classes,
//! with `AND`/`OR` chains flattened so long chains do not make the tree deep.

/// A literal as RocketMQ's `ConstantExpression` holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    /// Decimal literal that fits a Java `int`.
    Int(i32),
    /// Decimal literal that needs a Java `long`.
    Long(i64),
    Double(f64),
    Str(Box<str>),
}

/// `>`, `>=`, `<`, `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderOp {
    Gt,
    GtEq,
    Lt,
    LtEq,
}

/// `CONTAINS`, `STARTSWITH`, `ENDSWITH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Const(Literal),
    Property(Box<str>),
    /// Unary minus; yields NULL for anything but a number.
    Negate(Box<Node>),
    /// Three-valued NOT.
    Not(Box<Node>),
    /// A bare property used as a condition (Java's `createBooleanCast`): NULL when
    /// absent, FALSE when present, since property values are strings.
    BoolCast(Box<str>),
    And(Vec<Node>),
    Or(Vec<Node>),
    /// `=`; `<>` is `Not(Equal)`, as in Java.
    Equal(Box<Node>, Box<Node>),
    /// `IS NULL`; `IS NOT NULL` is `Not(IsNull)`.
    IsNull(Box<Node>),
    Order(OrderOp, Box<Node>, Box<Node>),
    /// `prop [NOT] IN (...)`; `values` sorted and deduplicated for binary search.
    In {
        property: Box<str>,
        values: Vec<Box<str>>,
        negated: bool,
    },
    /// `x [NOT] CONTAINS|STARTSWITH|ENDSWITH 'needle'`.
    Text {
        op: TextOp,
        negated: bool,
        subject: Box<Node>,
        needle: Box<str>,
    },
}

impl Node {
    /// Appends the distinct property names the tree reads, in first-use order.
    pub(crate) fn property_names(&self, out: &mut Vec<Box<str>>) {
        let mut add = |name: &str| {
            if !out.iter().any(|n| **n == *name) {
                out.push(name.into());
            }
        };
        match self {
            Node::Const(_) => {}
            Node::Property(name) | Node::BoolCast(name) => add(name),
            Node::In { property, .. } => add(property),
            Node::Negate(n) | Node::Not(n) | Node::IsNull(n) => n.property_names(out),
            Node::Text { subject, .. } => subject.property_names(out),
            Node::And(items) | Node::Or(items) => {
                for item in items {
                    item.property_names(out);
                }
            }
            Node::Equal(l, r) | Node::Order(_, l, r) => {
                l.property_names(out);
                r.property_names(out);
            }
        }
    }

    /// Java's `instanceof BooleanExpression`: nodes that evaluate to TRUE/FALSE/NULL.
    pub(crate) fn is_boolean(&self) -> bool {
        match self {
            Node::Const(lit) => matches!(lit, Literal::Null | Literal::Bool(_)),
            Node::Property(_) | Node::Negate(_) => false,
            Node::Not(_)
            | Node::BoolCast(_)
            | Node::And(_)
            | Node::Or(_)
            | Node::Equal(..)
            | Node::IsNull(_)
            | Node::Order(..)
            | Node::In { .. }
            | Node::Text { .. } => true,
        }
    }
}

/// Literals print as they would be written in a filter (for error messages).
impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Long(v) => write!(f, "{v}"),
            Literal::Double(v) => write!(f, "{v:?}"),
            Literal::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}
