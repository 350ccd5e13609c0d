//! SQL92 filter semantics, checked against what Apache RocketMQ's filter module
//! computes. Expected values marked "ExpressionTest" come from
//! `filter/src/test/java/org/apache/rocketmq/filter/ExpressionTest.java`
//! (RocketMQ 5.x), with property values as strings, which is how the broker sees them.

use sluice_broker::sql92::{compile, EncodedProperties, PropertyLookup};
use std::collections::HashMap;

fn map(props: &[(&str, &str)]) -> HashMap<String, String> {
    props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn encoded(props: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in props {
        out.extend_from_slice(k.as_bytes());
        out.push(1);
        out.extend_from_slice(v.as_bytes());
        out.push(2);
    }
    out
}

/// Evaluates `expr` over `props` as a map, as an encoded properties string and with
/// `evaluate_encoded`, and checks all three agree.
fn matches(expr: &str, props: &[(&str, &str)]) -> bool {
    let filter = compile(expr).unwrap_or_else(|e| panic!("{expr:?} should compile: {e}"));
    let by_map = filter.evaluate(&map(props));
    let bytes = encoded(props);
    let by_bytes = filter.evaluate(&EncodedProperties(&bytes));
    assert_eq!(
        by_map, by_bytes,
        "map and encoded lookups disagree on {expr:?} {props:?}"
    );
    by_map
}

fn check(expr: &str, cases: &[(&[(&str, &str)], bool)]) {
    for (props, expected) in cases {
        assert_eq!(matches(expr, props), *expected, "{expr:?} over {props:?}");
    }
}

#[test]
fn the_issue_example_matches_exactly_the_right_messages() {
    check(
        "a > 5 AND b = 'x'",
        &[
            (&[], false),
            (&[("b", "x")], false),               // a missing
            (&[("a", "abc"), ("b", "x")], false), // a not numeric
            (&[("a", "5"), ("b", "x")], false),   // a = 5 is not > 5
            (&[("a", "6"), ("b", "y")], false),
            (&[("a", "6")], false), // b missing
            (&[("a", "6"), ("b", "x")], true),
            (&[("a", "10"), ("b", "x"), ("c", "z")], true),
            (&[("a", "+7"), ("b", "x")], true),
            (&[("a", "-7"), ("b", "x")], false),
            (&[("a", "6"), ("b", "X")], false), // strings are case-sensitive
            (&[("A", "6"), ("b", "x")], false), // so are property names
            // RocketMQ parses the property as the literal's type (int): these throw
            // NumberFormatException in Java and are not delivered.
            (&[("a", "6.5"), ("b", "x")], false),
            (&[("a", " 6"), ("b", "x")], false),
            (&[("a", "3000000000"), ("b", "x")], false),
        ],
    );
}

#[test]
fn keywords_are_case_insensitive() {
    for expr in [
        "a BETWEEN 2 AND 10 AND b IS NOT NULL AND c IN ('x') OR d = TRUE",
        "a between 2 and 10 and b is not null and c in ('x') or d = true",
        "a BeTwEeN 2 aNd 10 AnD b iS nOt NuLl aND c In ('x') oR d = True",
    ] {
        assert!(
            matches(expr, &[("a", "3"), ("b", "1"), ("c", "x")]),
            "{expr}"
        );
        assert!(matches(expr, &[("d", "true")]), "{expr}");
        assert!(
            !matches(expr, &[("a", "3"), ("b", "1"), ("c", "y")]),
            "{expr}"
        );
    }
    check(
        "a contains 'x' AND b STARTSWITH 'y' AND c EndsWith 'z'",
        &[(&[("a", "axb"), ("b", "yes"), ("c", "fizz")], true)],
    );
}

#[test]
fn equality_and_inequality() {
    check(
        "a = 'hello'",
        &[
            (&[("a", "hello")], true),
            (&[("a", "Hello")], false),
            (&[], false),
        ],
    );
    check(
        "a <> 'hello'",
        &[
            (&[("a", "hello")], false),
            (&[("a", "bye")], true),
            (&[], false),
        ],
    );
    // A string property equals a number when it parses as that literal's type.
    check(
        "a = 3",
        &[
            (&[("a", "3")], true),
            (&[("a", "4")], false),
            (&[("a", "3.0")], false),
        ],
    );
    check(
        "a = 3.0",
        &[(&[("a", "3")], true), (&[("a", "3.00")], true)],
    );
    check("a = 3000000000", &[(&[("a", "3000000000")], true)]);
    // Two properties: plain string equality (ExpressionTest testEvaluate_stringCompare).
    check(
        "a = b",
        &[
            (&[("a", "3.14"), ("b", "3.14")], true),
            (&[("a", "3.14"), ("b", "3.140")], false),
        ],
    );
    check("a <> b", &[(&[("a", "3.14"), ("b", "3.141")], true)]);
}

#[test]
fn ordering_comparisons() {
    let cases: [(&str, [bool; 3]); 4] = [
        ("a > 5", [false, false, true]),
        ("a >= 5", [false, true, true]),
        ("a < 5", [true, false, false]),
        ("a <= 5", [true, true, false]),
    ];
    for (expr, [four, five, six]) in cases {
        check(
            expr,
            &[
                (&[("a", "4")], four),
                (&[("a", "5")], five),
                (&[("a", "6")], six),
                (&[], false),
                (&[("a", "five")], false),
            ],
        );
    }
    // ExpressionTest testEvaluate_floatNumber / testEvaluate_exponent.
    check(
        "a > 3.14",
        &[(&[("a", "3.1415")], true), (&[("a", "3")], false)],
    );
    check("a > 3.1E10", &[(&[("a", "3.1415E10")], true)]);
    check("a > 3.1e10", &[(&[("a", "31415000000.0")], true)]);
    // ExpressionTest testEvaluate_twoVariable(Gt): two properties compare as doubles.
    check(
        "a > b",
        &[
            (&[("a", "10"), ("b", "20")], false),
            (&[("a", "20"), ("b", "10")], true),
            (&[("a", "2.5"), ("b", "10")], false),
            (&[("a", "x"), ("b", "10")], false),
        ],
    );
    // Double.valueOf reads NaN and Infinity, and Double.compareTo puts NaN above
    // everything, so a property "NaN" is greater than any double literal.
    check(
        "a > 5.5",
        &[
            (&[("a", "NaN")], true),
            (&[("a", "Infinity")], true),
            (&[("a", "-Infinity")], false),
        ],
    );
    check(
        "a < 5.5",
        &[
            (&[("a", "NaN")], false),
            (&[("a", "5.5f")], false),
            (&[("a", " 5 ")], true),
        ],
    );
    // ExpressionTest testEvaluate_stringCompare: a non-numeric value throws in Java.
    check(
        "key is not null and key between 0 and 100",
        &[(&[("key", "con")], false), (&[("key", "50")], true)],
    );
    // Literal on the left.
    check("5 < a", &[(&[("a", "6")], true), (&[("a", "5")], false)]);
    // Long literals: the property is parsed as a long.
    check(
        "a > 3000000000",
        &[(&[("a", "3000000001")], true), (&[("a", "3")], false)],
    );
    check("a > 10L", &[(&[("a", "11")], true)]);
}

#[test]
fn unary_plus_and_minus() {
    check("a > -5", &[(&[("a", "-4")], true), (&[("a", "-6")], false)]);
    check("a = +5", &[(&[("a", "5")], true)]);
    check(
        "a < -2.5",
        &[(&[("a", "-3")], true), (&[("a", "-2")], false)],
    );
    // Negating a property gives NULL (its value is a string, not a number).
    check("-a IS NULL", &[(&[("a", "5")], true)]);
}

#[test]
fn between_and_not_between() {
    // ExpressionTest testEvaluate_betweenTrue/False, notBetweenTrue/False.
    let cases: &[(&str, bool)] = &[
        ("1", false),
        ("2", true),
        ("3", true),
        ("10", true),
        ("11", false),
    ];
    for (a, inside) in cases {
        assert_eq!(
            matches("a between 2 and 10", &[("a", a)]),
            *inside,
            "a = {a}"
        );
        assert_eq!(
            matches("a not between 2 and 10", &[("a", a)]),
            !*inside,
            "a = {a}"
        );
    }
    // Missing: NULL both ways.
    assert!(!matches("a between 2 and 10", &[]));
    assert!(!matches("a not between 2 and 10", &[]));
    check("a between 2.5 and 3.0", &[(&[("a", "2.75")], true)]);
    // The upper bound is an int literal, so Java parses '2.75' with Integer.valueOf
    // for `a <= 3`, which throws: not delivered.
    check("a between 2.5 and 3", &[(&[("a", "2.75")], false)]);
    check("a between -3 and -1", &[(&[("a", "-2")], true)]);
    check(
        "a between b and c",
        &[(&[("a", "2"), ("b", "1"), ("c", "3")], true)],
    );
}

#[test]
fn in_and_not_in() {
    // ExpressionTest testEvaluate_inTrue/inFalse/notInTrue/notInFalse.
    for (a, inside) in [
        ("3", true),
        ("4", true),
        ("5", true),
        ("8", false),
        ("3 ", false),
    ] {
        assert_eq!(
            matches("a in ('3', '4', '5')", &[("a", a)]),
            inside,
            "a = {a}"
        );
        assert_eq!(
            matches("a not in ('3', '4', '5')", &[("a", a)]),
            !inside,
            "a = {a}"
        );
    }
    assert!(!matches("a in ('3')", &[]));
    assert!(!matches("a not in ('3')", &[]));
    let many = "c IN ('a','b','c','d','e','f','g','h','i','j','it''s')";
    check(
        many,
        &[
            (&[("c", "it's")], true),
            (&[("c", "j")], true),
            (&[("c", "k")], false),
        ],
    );
    // A property in parentheses is still a property.
    check("(a) IN ('1')", &[(&[("a", "1")], true)]);
}

#[test]
fn is_null_and_is_not_null() {
    // ExpressionTest testEvaluate_isNullTrue/False, isNotNullTrue/False.
    check(
        "a is null",
        &[(&[("abc", "2")], true), (&[("a", "2")], false)],
    );
    check(
        "a is not null",
        &[(&[("a", "2")], true), (&[("abc", "2")], false)],
    );
    check("a is null", &[(&[("a", "")], false)]);
    // ExpressionTest testEvaluate_nullOr and testEvaluate_equal.
    check(
        "a is null OR a='hello'",
        &[
            (&[], true),
            (&[("a", "hello")], true),
            (&[("a", "abc")], false),
        ],
    );
    check(
        "a is not null and a='hello'",
        &[(&[("a", "hello")], true), (&[], false)],
    );
}

#[test]
fn contains_startswith_endswith() {
    // ExpressionTest testContains_StartsWith_EndsWith_* over value = "axb" / "abb".
    let table: &[(&str, bool, bool)] = &[
        ("value contains 'x'", true, false),
        ("value startswith 'ax'", true, false),
        ("value endswith 'xb'", true, false),
        ("value not contains 'x'", false, true),
        ("value not startswith 'ax'", false, true),
        ("value not endswith 'xb'", false, true),
    ];
    for (expr, on_axb, on_abb) in table {
        assert_eq!(matches(expr, &[("value", "axb")]), *on_axb, "{expr} on axb");
        assert_eq!(matches(expr, &[("value", "abb")]), *on_abb, "{expr} on abb");
        // Missing property: FALSE for the positive and the NOT forms alike
        // (testContains_..._null_has_2).
        assert!(!matches(expr, &[]), "{expr} on missing");
    }
    for op in [
        "contains",
        "startswith",
        "endswith",
        "not contains",
        "not startswith",
        "not endswith",
    ] {
        // An empty needle is always FALSE (testContains_..._hasEmpty).
        assert!(
            !matches(&format!("value {op} ''"), &[("value", "axb")]),
            "{op} ''"
        );
        // Literal subjects and odd needles (..._string_has_special_1/2).
        assert_eq!(
            matches(&format!("'axb' {op} '.'"), &[]),
            op.starts_with("not"),
            "'axb' {op} '.'"
        );
    }
    check("' ' contains ' '", &[(&[], true)]);
    // Because they are FALSE rather than NULL, NOT of them is TRUE on a missing property.
    check("NOT (value contains 'x')", &[(&[], true)]);
    // ExpressionTest testContainsAllInOne.
    check(
        "a not in ('4', '4', '5') and b between 3 and 10 and c not contains 'axbc'",
        &[(&[("a", "3"), ("b", "3"), ("c", "axbdc")], true)],
    );
}

#[test]
fn boolean_literals_and_properties() {
    // ExpressionTest testEvaluate_boolean: a property compared with TRUE/FALSE is
    // read with Boolean.valueOf.
    check(
        "a=TRUE OR b=FALSE",
        &[
            (&[("a", "true"), ("b", "false")], true),
            (&[("a", "false"), ("b", "true")], false),
            (&[("a", "TRUE")], true),
            (&[("b", "no")], true),
        ],
    );
    check("TRUE", &[(&[], true)]);
    check("FALSE", &[(&[], false)]);
    check("NULL", &[(&[], false)]);
    check("NOT FALSE", &[(&[], true)]);
    check("TRUE = TRUE", &[(&[], true)]);
    // A bare property is never TRUE (its value is a string, not a Boolean) but it is
    // NULL when missing and FALSE when present.
    check("a", &[(&[("a", "true")], false), (&[], false)]);
    check("NOT a", &[(&[("a", "true")], true), (&[], false)]);
}

#[test]
fn string_literals_escape_quotes() {
    // ExpressionTest testEvaluate_stringHasString.
    check(
        "TAGS is not null and TAGS='''''tag'''''",
        &[(&[("TAGS", "''tag''")], true), (&[("TAGS", "tag")], false)],
    );
    check("k = 'a b\nc'", &[(&[("k", "a b\nc")], true)]);
    check("k = 'ünï'", &[(&[("k", "ünï")], true)]);
}

#[test]
fn and_or_not_follow_three_valued_logic() {
    // ExpressionTest testEvaluate_andTrue/andFalse/orTrue/orFalse (string values).
    let and = "a=3 and b<>4 And c>5 AND d<=4";
    check(
        and,
        &[
            (&[("a", "3"), ("b", "5"), ("c", "6"), ("d", "1")], true),
            (&[("a", "4"), ("b", "5"), ("c", "6"), ("d", "1")], false),
        ],
    );
    let or = "a=3 or b<>4 Or c>5 OR d<=4";
    check(
        or,
        &[
            (&[("a", "3")], true),
            (&[("a", "4"), ("b", "5")], true),
            (&[("a", "4"), ("b", "4"), ("c", "6")], true),
            (&[("a", "4"), ("b", "4"), ("c", "3"), ("d", "2")], true),
            (&[("a", "4"), ("b", "4"), ("c", "3"), ("d", "10")], false),
        ],
    );
    // NOT of unknown stays unknown; NOT of false is true.
    check(
        "NOT (a = '1')",
        &[(&[], false), (&[("a", "2")], true), (&[("a", "1")], false)],
    );
    // Unknown OR true is true; unknown AND false is false, so NOT of it is true.
    check("a = '1' OR b = '1'", &[(&[("b", "1")], true)]);
    check(
        "NOT (a = '1' AND b = '1')",
        &[(&[("b", "2")], true), (&[("b", "1")], false)],
    );
    // Parentheses change grouping.
    check(
        "a = '1' AND (b = '1' OR c = '1')",
        &[(&[("a", "1"), ("c", "1")], true)],
    );
    check("(a = '1' AND b = '1') OR c = '1'", &[(&[("c", "1")], true)]);
}

#[test]
fn a_failed_conversion_rejects_the_message_like_a_java_exception() {
    // Java throws on converting 'abc' to int; the broker catches it and filters the
    // message out, whatever the rest of the expression says.
    check("a > 5 OR b = 'x'", &[(&[("a", "abc"), ("b", "x")], false)]);
    // Evaluation is left to right with short-circuit, so this one never converts a.
    check("b = 'x' OR a > 5", &[(&[("a", "abc"), ("b", "x")], true)]);
    check("NOT (a > 5)", &[(&[("a", "abc")], false)]);
}

#[test]
fn encoded_evaluation_handles_many_names_and_duplicates() {
    // More distinct names than one-pass gathering holds: the fallback path.
    let expr = (0..12)
        .map(|i| format!("p{i} = '{i}'"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let props: Vec<(String, String)> = (0..12).map(|i| (format!("p{i}"), i.to_string())).collect();
    let props: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(matches(&expr, &props));
    assert!(!matches(&expr, &props[1..]));
    // A later duplicate wins, as when Java decodes properties into a map.
    let filter = compile("a = '2'").expect("compiles");
    assert!(filter.evaluate_encoded(b"a\x011\x02a\x012\x02"));
    assert!(!filter.evaluate_encoded(b"a\x012\x02a\x011\x02"));
    assert!(!filter.evaluate_encoded(b""));
}

#[test]
fn system_properties_are_ordinary_names() {
    let props = [("TAGS", "TagA"), ("KEYS", "order-1"), ("price", "12")];
    assert!(matches("TAGS = 'TagA' AND price >= 10", &props));
    assert!(matches(
        "TAGS IN ('TagA', 'TagB') AND KEYS STARTSWITH 'order-'",
        &props
    ));
}

#[test]
fn custom_lookups_plug_in() {
    struct Fixed;
    impl PropertyLookup for Fixed {
        fn property(&self, name: &str) -> Option<&str> {
            (name == "region").then_some("eu")
        }
    }
    let filter = compile("region = 'eu' AND other IS NULL").expect("compiles");
    assert!(filter.evaluate(&Fixed));
    assert_eq!(filter.source(), "region = 'eu' AND other IS NULL");
    assert_eq!(filter.to_string(), filter.source());
}
