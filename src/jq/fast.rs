//! The fast path: an expression that is a plain path (`.`, `.a.b`, `.a["x-y"]`, `.a[0]`),
//! optionally followed by `// <literal>`, is evaluated here, natively and in time linear in
//! the path, without a trip to the sandbox. Its results agree with jaq's (a property test
//! checks that on random paths and inputs); anything else is left to jaq.

use serde_json::Value;

/// A recognised path expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    steps: Vec<Step>,
    /// The literal after `//`, if any.
    default: Option<Value>,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

/// Words that are jq syntax, never shorthand field names here (jaq decides what `.if` means).
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "if", "then", "elif", "else", "end", "as", "def", "reduce", "foreach", "try", "catch", "label",
    "import", "include", "__loc__",
];

impl Path {
    /// The path `src` is, or `None` when it is anything else.
    pub fn parse(src: &str) -> Option<Path> {
        let (path, default) = match src.split_once("//") {
            Some((path, lit)) => (path, Some(literal(lit.trim())?)),
            None => (src, None),
        };
        let steps = steps(path.trim())?;
        Some(Path { steps, default })
    }

    /// The one output on `input`, or jq's error when a step indexes something it cannot.
    pub fn eval(&self, input: &Value) -> Result<Value, String> {
        // As in jaq, `//` replaces null and false, not errors: those propagate.
        match (&self.default, self.walk(input)?) {
            (Some(d), Value::Null | Value::Bool(false)) => Ok(d.clone()),
            (_, found) => Ok(found.clone()),
        }
    }

    fn walk<'a>(&self, input: &'a Value) -> Result<&'a Value, String> {
        static NULL: Value = Value::Null;
        let mut at = input;
        for step in &self.steps {
            at = match (at, step) {
                (Value::Null, _) => &NULL,
                (Value::Object(map), Step::Key(k)) => map.get(k).unwrap_or(&NULL),
                // jaq's objects may have keys of any type; JSON's never have a number key.
                (Value::Object(_), Step::Index(_)) => &NULL,
                (Value::Array(items), Step::Index(i)) => {
                    let i = if *i < 0 { items.len() as i64 + i } else { *i };
                    usize::try_from(i).ok().and_then(|i| items.get(i)).unwrap_or(&NULL)
                }
                (v, Step::Key(k)) => return Err(format!("cannot index {} with \"{k}\"", kind(v))),
                (v, Step::Index(i)) => return Err(format!("cannot index {} with {i}", kind(v))),
            };
        }
        Ok(at)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A scalar written the same way in JSON and jq: null, booleans, strings without
/// interpolation, and integers (jq and JSON may print other numbers differently).
fn literal(text: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text).ok()?;
    match &v {
        Value::Number(n) if n.is_i64() => Some(v),
        Value::Null | Value::Bool(_) | Value::String(_) => Some(v),
        _ => None,
    }
}

/// `.`, then `.name` and `[key]` steps, no spaces.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('.')?;
    let mut steps = Vec::new();
    let mut first = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(bracket(&r[..end])?);
            rest = &r[end + 1..];
        } else {
            let r = if first { rest } else { rest.strip_prefix('.')? };
            let len = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            let name = &r[..len];
            let starts_well = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            if !starts_well || KEYWORDS.contains(&name) {
                return None;
            }
            steps.push(Step::Key(name.to_string()));
            rest = &r[len..];
        }
        first = false;
    }
    Some(steps)
}

/// `"key"` (a plain JSON string: a `]` inside one is left to jaq) or an integer.
fn bracket(inner: &str) -> Option<Step> {
    match serde_json::from_str::<Value>(inner).ok()? {
        Value::String(s) if !inner.contains('\\') => Some(Step::Key(s)),
        Value::Number(n) => n.as_i64().filter(|i| i.abs() < 1 << 40).map(Step::Index),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn recognises_plain_paths_only() {
        for yes in [
            ".",
            ".a",
            ".a.b",
            ".a[\"x-y\"]",
            ".a[0]",
            ".[1]",
            ".headers[\"x-github-event\"]",
            ".a // \"none\"",
            ".a.b // 0",
            ".[-1]",
        ] {
            assert!(Path::parse(yes).is_some(), "{yes}");
        }
        for no in [
            ".a | .b",
            ".a[]",
            ".a?",
            "{a: .a}",
            ".a // .b",
            ".a // 1.5",
            ". a",
            "..",
            ".a.",
            ".if",
            ".[\"a\\\"]\"]",
            ".a[1:2]",
            "1",
            "\"\\(.a)\"",
        ] {
            assert!(Path::parse(no).is_none(), "{no}");
        }
    }

    #[test]
    fn evaluates_like_jq() {
        let input = json!({"a": {"b": [1, {"c": true}]}, "x-y": null, "f": false});
        let eval = |src: &str| Path::parse(src).unwrap().eval(&input);
        assert_eq!(eval(".a.b[1].c"), Ok(json!(true)));
        assert_eq!(eval(".a.b[-2]"), Ok(json!(1)));
        assert_eq!(eval(".a.b[5]"), Ok(Value::Null));
        assert_eq!(eval(".nope.deeper"), Ok(Value::Null));
        assert_eq!(eval(".[\"x-y\"] // \"d\""), Ok(json!("d")));
        assert_eq!(eval(".f // 7"), Ok(json!(7)));
        assert!(eval(".a.b.c").is_err());
        assert!(eval(".a.b.c // null").is_err(), "jaq's `//` lets errors through");
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(prop_oneof![Just("a"), Just("b"), Just("x-y")], inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }

    fn path_text() -> impl Strategy<Value = String> {
        let step = prop_oneof![
            Just(".a"),
            Just(".b"),
            Just("[\"x-y\"]"),
            Just("[0]"),
            Just("[1]"),
            Just("[-1]")
        ];
        let alt = prop_oneof![
            Just(""),
            Just(" // null"),
            Just(" // \"d\""),
            Just(" // 3"),
            Just(" // false")
        ];
        (prop::collection::vec(step, 0..4), alt).prop_map(|(steps, alt)| {
            let body = steps.concat();
            let body = if body.starts_with('.') {
                body
            } else {
                format!(".{body}")
            };
            format!("{body}{alt}")
        })
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_jaq(src in path_text(), input in value()) {
            let path = Path::parse(&src).expect("a plain path");
            let filter = super::super::engine::compile(&src).unwrap();
            let val: jaq_json::Val = serde_json::from_value(input.clone()).unwrap();
            let jaq = super::super::engine::run(&filter, val, 2, 1 << 20);
            match (path.eval(&input), jaq) {
                (Ok(v), Ok(outs)) => {
                    let outs: Vec<Value> = outs.iter().map(|o| serde_json::from_str(o).unwrap()).collect();
                    prop_assert_eq!(vec![v], outs, "{} on {}", src, input);
                }
                (Err(_), Err(_)) => {}
                (fast, jaq) => prop_assert!(false, "{} on {}: fast {:?}, jaq {:?}", src, input, fast, jaq),
            }
        }
    }
}
