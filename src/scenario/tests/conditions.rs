//! Table tests for the condition language.

use serde_json::{Map, Value, json};

use super::super::condition::Condition;
use super::ctx;

fn data() -> Map<String, Value> {
    match json!({
        "position": "cook",
        "age": 30,
        "age_text": "30",
        "price": "9.5",
        "name": "Иван Петров",
        "flag": true,
        "empty": "",
        "tags": ["a", "b"],
        "profile": {"city": "Москва", "zip": 101000},
        "zero": 0,
        "version": "10",
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn eval(src: &str) -> bool {
    match Condition::parse(src) {
        Ok(c) => c.eval(&data(), &ctx()),
        Err(e) => panic!("{src}: {e}"),
    }
}

#[test]
fn operators_table() {
    let cases: &[(&str, bool)] = &[
        ("position == 'cook'", true),
        ("position == \"cook\"", true),
        ("position == 'Cook'", false),
        ("position != 'cook'", false),
        ("position != 'manager'", true),
        ("age > 18", true),
        ("age < 18", false),
        ("age >= 30", true),
        ("age <= 30", true),
        ("age > 30", false),
        ("age == '30'", true),
        ("age_text == 30", true),
        ("age_text == 30.0", true),
        ("price > 9", true),
        ("price < 10", true),
        // Numbers compare as numbers, non-numbers as strings.
        ("version > 9", true),
        ("version > '9'", true),
        ("name > 'Б'", true),
        ("'abc' < 'abd'", true),
        ("name contains 'Петров'", true),
        ("name contains 'Сидоров'", false),
        ("tags contains 'a'", true),
        ("tags contains 'c'", false),
        ("profile contains 'city'", true),
        ("position in ['cook', 'manager']", true),
        ("position in ['office']", false),
        ("position not in ['office']", true),
        ("age in [18, 30]", true),
        ("'a' in tags", true),
        ("'Иван' in name", true),
        ("position exists", true),
        ("exists position", true),
        ("empty exists", true),
        ("missing exists", false),
        ("not missing exists", true),
        ("profile.city == 'Москва'", true),
        ("profile.zip == 101000", true),
        ("tags.1 == 'b'", true),
        ("user.first_name == 'Анна'", true),
        ("platform == 'telegram'", true),
        ("chat.id == 42", true),
        ("flag == true", true),
        ("flag", true),
        ("empty", false),
        ("zero", false),
        ("missing", false),
        ("true", true),
        ("FALSE", false),
        ("flag AND position == 'cook'", true),
        ("position == 'x' Or age == 30", true),
        ("-1 < 0", true),
        ("'it\\'s' == \"it's\"", true),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src), *want, "{src}");
    }
}

#[test]
fn undefined_variables_are_null() {
    let cases: &[(&str, bool)] = &[
        ("missing == null", true),
        ("missing == ''", false),
        ("missing == 'None'", false),
        ("missing != 'a'", true),
        ("missing > 0", false),
        ("missing < 0", false),
        ("missing >= 0", false),
        ("missing <= 0", false),
        ("missing contains 'a'", false),
        ("missing in ['a']", false),
        ("null == null", true),
        ("position == null", false),
        ("profile.nothing == null", true),
        ("profile.city.more exists", false),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src), *want, "{src}");
    }
}

#[test]
fn precedence_not_and_or() {
    let cases: &[(&str, bool)] = &[
        // `and` binds tighter than `or`.
        ("true or true and false", true),
        ("(true or true) and false", false),
        ("false and true or true", true),
        ("false and (true or true)", false),
        // `not` binds tighter than `and`, looser than a comparison.
        ("not false and false", false),
        ("not (false and false)", true),
        ("not position == 'cook'", false),
        ("not not flag", true),
        ("not age > 40 and position == 'cook'", true),
        ("((((position == 'cook'))))", true),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src), *want, "{src}");
    }
}

#[test]
fn bare_words_on_the_right_are_variables() {
    let c = Condition::parse("position == cook").expect("parses");
    assert!(!c.eval(&data(), &ctx()), "'cook' is a variable, undefined, so null");
    assert_eq!(c.rhs_vars, vec![("cook".to_string(), 13)]);
    let c = Condition::parse("age_text == age").expect("parses");
    assert!(c.eval(&data(), &ctx()));
}

#[test]
fn syntax_errors_carry_positions() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty"),
        ("position =", 10, "'=='"),
        ("position = 'cook'", 10, "'=='"),
        ("position == ", 13, "expected a value"),
        ("position == 'cook", 13, "unterminated"),
        ("(position == 'cook'", 20, "')'"),
        ("position == 'cook')", 19, "unexpected"),
        ("a == 1 and", 11, "expected"),
        ("a in [1, 2", 11, "','"),
        ("a == 1 b", 8, "unexpected"),
        ("a ! b", 3, "!"),
        ("a == 5x", 7, "after number"),
        ("a == 3e1", 7, "after number"),
        ("a == #", 6, "unexpected character"),
        ("and", 1, "expected a value"),
    ];
    for (src, pos, needle) in cases {
        match Condition::parse(src) {
            Ok(_) => panic!("{src:?} should not parse"),
            Err(e) => {
                assert_eq!(e.pos, *pos, "{src:?}: {e}");
                assert!(e.message.contains(needle), "{src:?}: {e}");
            }
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let src = format!("{}true{}", "(".repeat(500), ")".repeat(500));
    assert!(Condition::parse(&src).is_err());
    let src = format!("{}true", "not ".repeat(500));
    assert!(Condition::parse(&src).is_err());
}

#[test]
fn quoted_strings_take_escapes_and_either_quote() {
    assert!(eval(r#"position == 'cook'"#));
    assert!(eval(r#"position == "cook""#));
    assert!(eval(r#"'it\'s' == "it's""#));
    assert!(eval(r#"'a\nb' contains "\n""#));
    assert!(eval(r#"'x\\y' == "x\\y""#));
    for unclosed in [r#"position == 'cook"#, r#"position == "cook\"#, r#"position == 'a\"#] {
        let e = Condition::parse(unclosed).unwrap_err();
        assert!(e.message.contains("unterminated string"), "{unclosed}: {e}");
        assert_eq!(e.pos, 13, "{unclosed}");
    }
}
