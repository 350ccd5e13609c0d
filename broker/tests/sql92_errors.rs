//! Malformed SQL92 filters are refused at compile time with the position and what
//! was expected, never a panic. Cases marked "ParserTest" come from RocketMQ's
//! `filter/src/test/java/org/apache/rocketmq/filter/ParserTest.java`.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sluice_broker::sql92::{compile, Sql92Error, MAX_EXPRESSION_LEN};
use std::collections::HashMap;

fn error(expr: &str) -> Sql92Error {
    match compile(expr) {
        Ok(_) => panic!("{expr:?} should not compile"),
        Err(e) => e,
    }
}

/// Asserts `expr` fails at 1-based `column` with a message containing `needle`.
fn fails_at(expr: &str, column: usize, needle: &str) {
    let err = error(expr);
    assert_eq!(err.column, column, "{expr:?}: {err}");
    assert!(
        err.message.contains(needle),
        "{expr:?}: {err} lacks {needle:?}"
    );
    assert!(
        err.to_string().contains(&format!("column {column}")),
        "{err}"
    );
}

#[test]
fn the_brief_examples_explain_what_is_wrong_and_where() {
    fails_at("a >", 4, "expected a value");
    fails_at("a >", 4, "found end of expression");
    fails_at("a = 'x", 5, "unterminated string literal");
    fails_at("AND", 1, "expected a value");
    fails_at("a IN ()", 7, "expected a string literal in the IN list");
    assert_eq!(
        error("a >").to_string(),
        "invalid SQL92 filter at line 1, column 4: expected a value (number, string, TRUE, \
         FALSE, NULL, property name, `(`, NOT, `+` or `-`), found end of expression"
    );
}

#[test]
fn ten_thousand_nested_parentheses_are_refused_without_overflow() {
    let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = error(&deep);
    assert!(err.message.contains("nested too deeply"), "{err}");
    let nots = format!("{}a = 1", "NOT ".repeat(10_000));
    assert!(error(&nots).message.contains("nested too deeply"));
    let minus = format!("a = {}1", "-".repeat(10_000));
    assert!(error(&minus).message.contains("nested too deeply"));
    let unclosed = "(".repeat(10_000);
    assert!(compile(&unclosed).is_err());
}

#[test]
fn oversized_expressions_are_refused() {
    let huge = format!("a = '{}'", "x".repeat(MAX_EXPRESSION_LEN));
    assert!(error(&huge).message.contains("bytes long"));
    // ParserTest testParse_floatOverFlow: a 200,000-digit float.
    let digits = "1".repeat(100_000);
    assert!(compile(&format!("a > {digits}.{digits}")).is_err());
}

#[test]
fn syntax_errors() {
    // ParserTest testParse_invalid.
    fails_at("a and between 2 and 10", 7, "expected a value");
    fails_at("a = 1 b = 2", 7, "expected AND, OR");
    fails_at("a = (1", 7, "`)` closing the `(` at line 1, column 5");
    fails_at("a IN ('x'", 10, "`,` or `)`");
    fails_at("a IN ('x',)", 11, "string literal after `,`");
    fails_at("a IN 'x'", 6, "`(` after IN");
    fails_at("a IN (1, 2)", 7, "string literal in the IN list");
    fails_at("a BETWEEN 1 OR 2", 13, "AND between the two BETWEEN bounds");
    fails_at("a IS 5", 6, "NULL or NOT NULL after IS");
    fails_at("a CONTAINS x", 12, "string literal after CONTAINS");
    fails_at("a NOT STARTSWITH 5", 18, "string literal after STARTSWITH");
    fails_at("a NOT LIKE 'x'", 3, "expected AND, OR");
    fails_at("a != 1", 3, "unexpected character '!'");
    fails_at("a = \"x\"", 5, "unexpected character '\"'");
    fails_at("a = 1 /* note", 7, "unterminated /* comment");
    fails_at("", 1, "expected a value");
    fails_at("   ", 4, "found end of expression");
    // RocketMQ removed ActiveMQ's HEX_LITERAL and OCTAL_LITERAL (header comment of
    // SelectorParser.jj), so these never parse there either.
    fails_at(
        "a = 0x10",
        5,
        "hexadecimal and octal integer literals are not supported",
    );
    fails_at(
        "a = 017",
        5,
        "hexadecimal and octal integer literals are not supported",
    );
    // A comment needs its line break, as in the JavaCC grammar.
    assert!(compile("a = 1 -- trailing").is_err());
    assert!(compile("a = 1 -- trailing\n").is_ok());
}

#[test]
fn positions_count_lines_and_characters() {
    let err = error("a = 'é'\n  AND >");
    assert_eq!((err.line, err.column), (2, 7));
    assert_eq!(err.offset, "a = 'é'\n  AND ".len());
}

#[test]
fn literal_range_errors() {
    // ParserTest testParse_decimalOverFlow.
    fails_at(
        "a > 100000000000000000000000",
        5,
        "does not fit a 64-bit long",
    );
    fails_at("a > 9223372036854775808", 5, "does not fit");
    fails_at("a > 1e400", 5, "greater than 1.7976931348623157E308");
    // Java's createFloat compares with Double.MIN_VALUE (the smallest positive
    // double), so a zero float literal is refused; integer 0 is fine.
    fails_at("a > 0.0", 5, "less than 4.9E-324");
    fails_at("a > 1e-400", 5, "less than 4.9E-324");
    assert!(compile("a > 0").is_ok());
    assert!(compile("a > 9223372036854775807").is_ok());
}

#[test]
fn operands_refused_by_rocketmq_expression_factories() {
    // checkLessThanOperand: only numbers (and properties) may be ordered.
    fails_at("a > 'x'", 3, "'x' cannot be compared with <, <=, > or >=");
    fails_at("a <= TRUE", 3, "TRUE cannot be compared");
    fails_at("NULL < a", 6, "NULL cannot be compared");
    fails_at("(a > 1) > 2", 9, "a condition cannot be compared");
    fails_at("a BETWEEN 'a' AND 'z'", 3, "'a' cannot be compared");
    // checkEqualOperand / checkEqualOperandCompatability.
    fails_at("a = NULL", 3, "use IS NULL");
    fails_at("NULL <> a", 6, "use IS NULL");
    fails_at("TRUE = 5", 6, "TRUE cannot be compared with 5");
    fails_at("FALSE = 'x'", 7, "FALSE cannot be compared with 'x'");
    // createBetween: constant bounds must be ordered and not NULL
    // (ParserTest testParse_illegalBetween).
    fails_at(
        " a between 10 and 0",
        4,
        "lower bound 10 must not be greater than upper bound 0",
    );
    fails_at("a BETWEEN NULL AND 5", 3, "cannot be NULL");
    // createInFilter: IN needs a property.
    fails_at("'x' IN ('x')", 5, "IN needs a property");
    fails_at("5 NOT IN ('x')", 3, "IN needs a property");
    // asBooleanExpression: the whole filter and AND/OR/NOT operands must be conditions.
    fails_at("5", 1, "does not give a boolean value");
    fails_at("'x'", 1, "does not give a boolean value");
    fails_at("-a", 1, "does not give a boolean value");
    fails_at("a = 1 AND 5", 11, "does not give a boolean value");
    fails_at("NOT 'x'", 5, "does not give a boolean value");
}

/// Fragments that build nearly-valid filters, so random input reaches deep paths.
const VOCABULARY: &[&str] = &[
    "a",
    "b",
    "TAGS",
    "(",
    ")",
    "(",
    ")",
    "AND",
    "OR",
    "NOT",
    "=",
    "<>",
    ">",
    ">=",
    "<",
    "<=",
    "BETWEEN",
    "IN",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "CONTAINS",
    "STARTSWITH",
    "ENDSWITH",
    ",",
    "+",
    "-",
    "'x'",
    "''",
    "'it''s'",
    "5",
    "0",
    "2147483648",
    "9223372036854775808",
    "3.5",
    ".5",
    "1e400",
    "0.0",
    "5L",
    "'",
    "--",
    "/*",
    "*/",
    "\n",
    "$",
    "é",
    "!",
];

fn seeded_runner(cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("SQL92_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5eed, |d| d.as_nanos() as u64)
        });
    println!("sql92 fuzz seed: {seed} (replay with SQL92_SEED={seed})");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Compiling never panics; whatever compiles evaluates without panicking.
fn compile_and_evaluate(expr: &str) {
    if let Ok(filter) = compile(expr) {
        let props: HashMap<String, String> = [("a", "6"), ("b", "x"), ("TAGS", "it's")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let _ = filter.evaluate(&props);
        let _ = filter.evaluate(&HashMap::<String, String>::new());
    }
}

#[test]
fn arbitrary_strings_never_panic() {
    let mut runner = seeded_runner(2000);
    runner
        .run(&any::<String>(), |s| {
            compile_and_evaluate(&s);
            Ok(())
        })
        .expect("no panic on arbitrary strings");
}

#[test]
fn token_soup_never_panics() {
    let mut runner = seeded_runner(5000);
    let soup = prop::collection::vec(prop::sample::select(VOCABULARY), 0..40)
        .prop_map(|words| words.join(" "));
    runner
        .run(&soup, |s| {
            compile_and_evaluate(&s);
            Ok(())
        })
        .expect("no panic on token soup");
}
