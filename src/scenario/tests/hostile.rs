//! Hostile documents: every size, depth and count a scenario chooses is refused at compile time
//! with the field named, nothing recurses as deep as the input likes, and rendering is linear.

use serde_json::{Map, Value, json};

use super::super::condition::{Condition, Expr};
use super::super::document::{self, CompileError, DocumentError};
use super::super::limits::*;
use super::super::template::{SCANNED, Vars, render};
use super::super::{Problem, Scenario, Severity};
use super::{CHIHO, ctx};

fn chain(terms: usize, op: &str) -> String {
    vec!["x == 'a'"; terms].join(&format!(" {op} "))
}

fn errors(doc: &Value) -> Vec<Problem> {
    match Scenario::compile(doc) {
        Ok(_) => panic!("the document should be refused"),
        Err(p) => p.into_iter().filter(|p| p.severity == Severity::Error).collect(),
    }
}

fn one_step(step: Value) -> Value {
    json!({ "version": "1.0", "steps": { "s": step } })
}

#[test]
fn a_long_flat_chain_is_refused_without_overflowing_the_stack() {
    // Once, ~80,000 terms overflowed the stack while parsing, and ~10,000 parsed and then
    // overflowed it while evaluating (or dropping) the left-deep tree.
    for terms in [100_000, 10_000] {
        for op in ["and", "or"] {
            let err = Condition::parse(&chain(terms, op)).unwrap_err();
            assert!(err.message.contains("characters long"), "{err}");
        }
    }
    let short = vec!["x"; MAX_CONDITION_TERMS + 1].join(" and ");
    let err = Condition::parse(&short).unwrap_err();
    assert!(err.message.contains("more than 100 tests"), "{err}");
}

#[test]
fn chains_are_flat_and_evaluate_like_a_tree_would() {
    let c = Condition::parse("a and b and c or d").unwrap();
    match &c.expr {
        Expr::Or(items) => {
            assert_eq!(items.len(), 2);
            assert!(matches!(&items[0], Expr::And(inner) if inner.len() == 3));
        }
        other => panic!("{other:?}"),
    }
    let all = Condition::parse(&vec!["x"; MAX_CONDITION_TERMS].join(" and ")).unwrap();
    let any = Condition::parse(&vec!["x"; MAX_CONDITION_TERMS].join(" or ")).unwrap();
    let mut data = Map::new();
    assert!(!all.eval(&data, &ctx()));
    assert!(!any.eval(&data, &ctx()));
    data.insert("x".into(), json!("yes"));
    assert!(all.eval(&data, &ctx()));
    assert!(any.eval(&data, &ctx()));
}

#[test]
fn nesting_is_bounded_at_the_documented_depth() {
    let depth = MAX_CONDITION_DEPTH as usize;
    let ok = format!("{}true{}", "(".repeat(depth - 1), ")".repeat(depth - 1));
    assert!(Condition::parse(&ok).is_ok());
    let deep = format!("{}true{}", "(".repeat(depth + 1), ")".repeat(depth + 1));
    assert!(
        Condition::parse(&deep)
            .unwrap_err()
            .message
            .contains("nested too deeply")
    );
    let nots = format!("{}true", "not ".repeat(depth + 1));
    assert!(Condition::parse(&nots).is_err());
}

/// The renderer as it was (rescanning for `}}` after every `{{`): the reference for what the
/// output must be.
pub fn render_reference(text: &str, vars: &Vars<'_>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let (before, after_open) = rest.split_at(open);
        out.push_str(before);
        let inner_start = &after_open[2..];
        match inner_start.split_once("}}") {
            Some((inner, after)) if super::super::value::is_path(inner.trim()) => {
                out.push_str(&vars.show(inner.trim()));
                rest = after;
            }
            _ => {
                out.push_str("{{");
                rest = inner_start;
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn vars_fixture() -> (Map<String, Value>, Map<String, Value>) {
    let mut data = Map::new();
    data.insert("name".into(), json!("Ann"));
    data.insert("a".into(), json!({"b": 2}));
    let mut mapping = Map::new();
    mapping.insert("role".into(), json!({"cook": "Повар"}));
    data.insert("role".into(), json!("cook"));
    (data, mapping)
}

#[test]
fn render_examines_each_byte_a_bounded_number_of_times() {
    let (data, mapping) = vars_fixture();
    let c = ctx();
    let vars = Vars {
        data: &data,
        ctx: &c,
        mapping: &mapping,
        escape: None,
    };
    // Each shape once made the old renderer rescan the rest of the text after every `{{`.
    let n = 20_000;
    let cases = [
        "{{".repeat(n),
        "{{ name".repeat(n),
        format!("{}}}", "{{a ".repeat(n)),
        format!("{}}}}}", "{{name}}{{ x y ".repeat(n)),
    ];
    for text in &cases {
        SCANNED.with(|s| s.set(0));
        let out = render(text, &vars);
        let scanned = SCANNED.with(|s| s.get());
        assert!(
            scanned <= 2 * text.len() + 2,
            "{} bytes scanned for a {}-byte text",
            scanned,
            text.len()
        );
        assert_eq!(out, render_reference(text, &vars));
    }
}

#[test]
fn render_keeps_what_it_always_rendered() {
    let (data, mapping) = vars_fixture();
    let c = ctx();
    let vars = Vars {
        data: &data,
        ctx: &c,
        mapping: &mapping,
        escape: None,
    };
    for (text, want) in [
        ("Hi {{name}}!", "Hi Ann!"),
        ("Hi {{ name }}", "Hi Ann"),
        ("{{a.b}} {{role}} {{user.first_name}}", "2 Повар Анна"),
        ("{{missing}}|", "|"),
        ("{{ {{name}}", "{{ Ann"),
        ("{{a b}} {{}} {{x}", "{{a b}} {{}} {{x}"),
        ("{{{name}}}", "{{{name}}}"),
        ("{{name}}}", "Ann}"),
        ("}}{{", "}}{{"),
    ] {
        assert_eq!(render(text, &vars), want, "{text:?}");
        assert_eq!(render_reference(text, &vars), want, "{text:?}");
    }
}

#[test]
fn document_limits_are_refused_naming_the_field() {
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            one_step(json!({"message": {"text": long}})),
            "message.text",
            "characters long",
        ),
        (
            one_step(json!({"message": {"text": "{{".repeat(MAX_TEMPLATES_PER_TEXT + 1)}})),
            "message.text",
            "placeholders",
        ),
        (
            one_step(json!({"message": {"text": "t"},
                "buttons": (0..=MAX_BUTTONS).map(|i| json!({"text": "b", "value": format!("v{i}")})).collect::<Vec<_>>()})),
            "buttons",
            "buttons",
        ),
        (
            one_step(json!({"message": {"text": "t"}, "next_step": {"type": "conditional",
                "conditions": [{"if": chain(1_000, "and"), "then": "s"}]}})),
            "next_step.conditions[0].if",
            "characters long",
        ),
        (
            one_step(json!({"message": {"text": "t"}, "expected_input": {"type": "text",
                "validation": {"pattern": "a".repeat(MAX_PATTERN_CHARS + 1)}}})),
            "expected_input.validation.pattern",
            "longer than",
        ),
    ];
    for (doc, field, needle) in cases {
        let errs = errors(&doc);
        assert!(
            errs.iter().any(|p| p.field == field && p.message.contains(needle)),
            "{field}: {errs:?}"
        );
    }
    let mut steps = Map::new();
    for i in 0..=MAX_STEPS {
        steps.insert(format!("s{i}"), json!({"message": {"text": "t"}}));
    }
    let errs = errors(&json!({"steps": steps}));
    assert!(
        errs.iter().any(|p| p.field == "steps" && p.message.contains("limit")),
        "{errs:?}"
    );
}

#[test]
fn deep_or_bulky_json_is_refused_before_compiling() {
    let mut deep = json!("leaf");
    for _ in 0..MAX_DOCUMENT_DEPTH {
        deep = json!({ "k": deep });
    }
    let doc = one_step(json!({"type": "action", "action": {"emit": "x.y", "data": deep}}));
    let errs = errors(&doc);
    assert!(
        errs.iter()
            .any(|p| p.field == "steps.s" && p.message.contains("nested deeper")),
        "{errs:?}"
    );
    let mut texts = Map::new();
    for i in 0..(MAX_TEMPLATES_TOTAL / 50 + 1) {
        texts.insert(format!("k{i}"), json!("{{a}}".repeat(50)));
    }
    let doc = one_step(json!({"type": "action", "message": {"text": "t"}, "action": {"emit": "x.y", "data": texts}}));
    let errs = errors(&doc);
    assert!(errs.iter().any(|p| p.message.contains("placeholders")), "{errs:?}");
}

#[test]
fn deep_yaml_is_refused_before_the_yaml_parser_runs() {
    let deep = "[".repeat(40_000);
    assert_eq!(
        document::from_yaml_bytes(deep.as_bytes()),
        Err(DocumentError::YamlTooNested)
    );
    let deep = format!("a: {}", "{a: ".repeat(10_000));
    assert_eq!(
        document::from_yaml_bytes(deep.as_bytes()),
        Err(DocumentError::YamlTooNested)
    );
    let big = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_DOCUMENT_BYTES));
    assert!(matches!(
        document::from_json_bytes(big.as_bytes()),
        Err(DocumentError::TooLarge { .. })
    ));
    assert!(matches!(
        document::compile_yaml(b"- 1"),
        Err(CompileError::Document(DocumentError::NotObject))
    ));
}

#[test]
fn real_scenarios_pass_every_limit_as_json_and_as_yaml() {
    let (_, warnings) = document::compile_json(CHIHO.as_bytes()).expect("chiho compiles from bytes");
    assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
    let doc: Value = serde_json::from_str(CHIHO).unwrap();
    let yaml = serde_norway::to_string(&doc).unwrap();
    document::compile_yaml(yaml.as_bytes()).expect("chiho compiles from YAML");
    // JSON is YAML too: the flow-style form of the real scenario stays within the scan budget.
    document::compile_yaml(CHIHO.as_bytes()).expect("chiho's JSON read as YAML");
}

mod fuzz {
    //! Bounded property tests ("fuzzing on stable"): arbitrary and hostile inputs to every parser
    //! of outside text never panic, and are either refused or processed. Case counts are modest
    //! so the set runs in seconds in a debug build.

    use proptest::prelude::*;
    use serde_json::json;

    use super::super::super::condition::Condition;
    use super::super::super::document;
    use super::super::super::template::{Vars, render};
    use super::super::ctx;
    use super::{render_reference, vars_fixture};

    /// Pieces hostile inputs are built from: operators, brackets, quotes, huge numbers, odd unicode.
    const PIECES: &[&str] = &[
        " and ",
        " or ",
        "not ",
        "(",
        ")",
        "[",
        "]",
        ",",
        "'",
        "\"",
        "\\",
        "x",
        "user.first_name",
        " == ",
        " in ",
        " exists",
        " contains ",
        "1e999999",
        "-0.5",
        "99999999999999999999999",
        "\u{202e}",
        "é",
        "🙂",
        "\u{0}",
        " ",
        "{{",
        "}}",
        "{",
        "}",
        ".",
        "\n",
        ": ",
        "- ",
        "#",
        "&a ",
        "*a",
        "!!str ",
        "|",
        ">",
    ];

    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(prop::sample::select(PIECES), 0..200).prop_map(|p| p.concat()),
            (prop::sample::select(PIECES), 1..5_000usize).prop_map(|(p, n)| p.repeat(n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn conditions_never_panic(src in hostile()) {
            if let Ok(c) = Condition::parse(&src) {
                let _ = c.eval(&serde_json::Map::new(), &ctx());
            }
        }

        #[test]
        fn render_never_panics_and_matches_the_old_renderer(text in hostile()) {
            let (data, mapping) = vars_fixture();
            let c = ctx();
            let vars = Vars { data: &data, ctx: &c, mapping: &mapping, escape: None };
            prop_assert_eq!(render(&text, &vars), render_reference(&text, &vars));
        }

        #[test]
        fn json_documents_never_panic(text in hostile(), wrap in 0..3usize) {
            let doc = match wrap {
                0 => text,
                1 => json!({ "steps": { "a": { "message": { "text": text } } } }).to_string(),
                _ => json!({ "steps": { "a": { "message": { "text": "t" },
                    "next_step": { "type": "conditional", "conditions": [{ "if": text, "then": "a" }] } } } })
                    .to_string(),
            };
            let _ = document::compile_json(doc.as_bytes());
        }

        #[test]
        fn yaml_documents_never_panic(text in hostile()) {
            let _ = document::compile_yaml(text.as_bytes());
            let _ = document::compile_yaml(format!("steps:\n  a:\n    message:\n      text: {text}\n").as_bytes());
        }
    }
}
