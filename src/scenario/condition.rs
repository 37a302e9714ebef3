//! The condition language used by `next_step` conditions and `conditional_message`.
//!
//! One language everywhere (GET INN had two evaluators that disagreed), parsed once when a
//! scenario is compiled, so a syntax error is reported with its position before any user sees it.
//!
//! ```text
//! expr     := and ("or" and)*
//! and      := unary ("and" unary)*
//! unary    := "not" unary | "exists" operand | "(" expr ")" | test
//! test     := operand [ ("=="|"!="|">"|"<"|">="|"<="|"contains") operand
//!                     | "exists" | ["not"] "in" ( "[" operand ("," operand)* "]" | operand ) ]
//! operand  := 'string' | "string" | number | true | false | null | path
//! ```
//!
//! * Keywords are case-insensitive. A path (`position`, `user.first_name`) is always a variable,
//!   on either side: literals must be quoted. (`x == active` compares with a variable named
//!   `active`; compilation warns when such a word is not a known variable.)
//! * Undefined variables are null: equal only to null, never greater or less, `exists` false.
//! * Two values compare as numbers when both are numbers or numeric strings, else as strings.
//! * A bare operand is a truthiness test (null, false, 0, "" and empty lists are false).
//!
//! A condition is bounded before any work is done on it: at most
//! [`MAX_CONDITION_CHARS`] characters, [`MAX_CONDITION_TERMS`] tests and [`MAX_CONDITION_DEPTH`]
//! levels of `(` and `not`. A chain of `and`/`or` is kept flat (one node with a list of operands,
//! not a tree as deep as the chain is long), so the parser and the evaluator recurse only as deep
//! as the parentheses go.

use std::fmt;

use serde_json::{Map, Value};

use super::eval::eval;
use super::limits::{MAX_CONDITION_CHARS, MAX_CONDITION_DEPTH, MAX_CONDITION_TERMS};
use super::types::Context;
use super::value::{is_ident_char, number_value};

/// A parse error; `pos` is the 1-based character position in the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionError {
    pub pos: usize,
    pub message: String,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.pos)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Contains,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Lit(Value),
    Var(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum InSet {
    List(Vec<Operand>),
    Value(Operand),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Two or more operands, any of which must hold (evaluated left to right, short-circuit).
    Or(Vec<Expr>),
    /// Two or more operands, all of which must hold (evaluated left to right, short-circuit).
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, CmpOp, Operand),
    Exists(Operand),
    In(Operand, InSet),
    Truthy(Operand),
}

/// A compiled condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub expr: Expr,
    /// Variables written bare on the right of a comparison, with positions: likely missing quotes.
    pub rhs_vars: Vec<(String, usize)>,
}

impl Condition {
    pub fn parse(src: &str) -> Result<Condition, ConditionError> {
        let chars = src.chars().count();
        if chars > MAX_CONDITION_CHARS {
            return Err(ConditionError {
                pos: MAX_CONDITION_CHARS + 1,
                message: format!("condition is {chars} characters long; the limit is {MAX_CONDITION_CHARS}"),
            });
        }
        let tokens = lex(src)?;
        let mut p = Parser {
            tokens,
            at: 0,
            depth: 0,
            terms: 0,
            end: chars + 1,
            rhs_vars: Vec::new(),
        };
        if p.tokens.is_empty() {
            return Err(p.error_at(1, "empty condition"));
        }
        let expr = p.expr()?;
        if let Some((tok, pos)) = p.tokens.get(p.at) {
            return Err(p.error_at(*pos, &format!("unexpected {}", tok.describe())));
        }
        Ok(Condition {
            expr,
            rhs_vars: p.rhs_vars,
        })
    }

    pub fn eval(&self, data: &Map<String, Value>, ctx: &Context) -> bool {
        eval(&self.expr, data, ctx)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Op(CmpOp),
    And,
    Or,
    Not,
    In,
    Exists,
    Lit(Value),
    Path(String),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
            Tok::Op(_) => "operator".into(),
            Tok::And => "'and'".into(),
            Tok::Or => "'or'".into(),
            Tok::Not => "'not'".into(),
            Tok::In => "'in'".into(),
            Tok::Exists => "'exists'".into(),
            Tok::Lit(v) => format!("value {v}"),
            Tok::Path(p) => format!("'{p}'"),
        }
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ConditionError> {
    let chars: Vec<char> = src.chars().collect();
    let err = |pos: usize, message: String| ConditionError { pos: pos + 1, message };
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let next = chars.get(i + 1).copied();
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '=' | '!' | '>' | '<' => {
                let op = match (c, next) {
                    ('=', Some('=')) => CmpOp::Eq,
                    ('!', Some('=')) => CmpOp::Ne,
                    ('>', Some('=')) => CmpOp::Ge,
                    ('<', Some('=')) => CmpOp::Le,
                    ('>', _) => CmpOp::Gt,
                    ('<', _) => CmpOp::Lt,
                    ('=', _) => return Err(err(i, "use '==' to compare, not '='".into())),
                    _ => return Err(err(i, "use 'not' or '!=' instead of '!'".into())),
                };
                i += if matches!(op, CmpOp::Gt | CmpOp::Lt) { 1 } else { 2 };
                out.push((Tok::Op(op), start + 1));
                continue;
            }
            '\'' | '"' => {
                let (text, end) = lex_string(&chars, start).ok_or_else(|| err(start, "unterminated string".into()))?;
                i = end;
                out.push((Tok::Lit(Value::String(text)), start + 1));
                continue;
            }
            c if c.is_ascii_digit() || (matches!(c, '-' | '+' | '.') && next.is_some_and(|n| n.is_ascii_digit())) => {
                i += 1;
                while chars.get(i).is_some_and(|ch| ch.is_ascii_digit() || *ch == '.') {
                    i += 1;
                }
                let text: String = chars.get(start..i).unwrap_or_default().iter().collect();
                let Some(n) = text.parse::<f64>().ok().filter(|f| f.is_finite()) else {
                    return Err(err(start, format!("invalid number '{text}'")));
                };
                if chars.get(i).is_some_and(|ch| is_ident_char(*ch)) {
                    return Err(err(i, "unexpected character after number".into()));
                }
                out.push((Tok::Lit(number_value(n)), start + 1));
                continue;
            }
            c if is_ident_char(c) => {
                while let Some(&ch) = chars.get(i) {
                    let dot_then_ident = ch == '.' && chars.get(i + 1).is_some_and(|n| is_ident_char(*n));
                    if is_ident_char(ch) || dot_then_ident {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                let tok = match word.to_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "in" => Tok::In,
                    "exists" => Tok::Exists,
                    "contains" => Tok::Op(CmpOp::Contains),
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    "null" | "none" => Tok::Lit(Value::Null),
                    _ => Tok::Path(word),
                };
                out.push((tok, start + 1));
                continue;
            }
            other => return Err(err(i, format!("unexpected character '{other}'"))),
        };
        i += 1;
        out.push((tok, start + 1));
    }
    Ok(out)
}

/// The quoted string starting at `start` (its quote, `'` or `"`, ends it; `\n`, `\t` and
/// `\<any>` are escapes): its text and the index just past its closing quote, or `None` when
/// it is not closed.
fn lex_string(chars: &[char], start: usize) -> Option<(String, usize)> {
    let quote = *chars.get(start)?;
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match *chars.get(i)? {
            q if q == quote => return Some((text, i + 1)),
            '\\' => {
                i += 1;
                match *chars.get(i)? {
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    e => text.push(e),
                }
            }
            ch => text.push(ch),
        }
        i += 1;
    }
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    at: usize,
    depth: u32,
    /// Tests parsed so far (see [`MAX_CONDITION_TERMS`]).
    terms: usize,
    end: usize,
    rhs_vars: Vec<(String, usize)>,
}

impl Parser {
    fn error_at(&self, pos: usize, message: &str) -> ConditionError {
        ConditionError {
            pos,
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn pos(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(_, p)| *p)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), ConditionError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.error_at(self.pos(), &format!("expected {what}")))
        }
    }

    /// Enters one level of `(` or `not`, refusing to go deeper than [`MAX_CONDITION_DEPTH`].
    fn descend(&mut self) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            return Err(self.error_at(
                self.pos(),
                &format!("expression nested too deeply (more than {MAX_CONDITION_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    /// Counts one test, refusing more than [`MAX_CONDITION_TERMS`].
    fn count_term(&mut self) -> Result<(), ConditionError> {
        self.terms += 1;
        if self.terms > MAX_CONDITION_TERMS {
            return Err(self.error_at(
                self.pos(),
                &format!("condition has more than {MAX_CONDITION_TERMS} tests"),
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ConditionError> {
        self.descend()?;
        let mut items = vec![self.and()?];
        while self.eat(&Tok::Or) {
            items.push(self.and()?);
        }
        self.depth -= 1;
        Ok(flat(items, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.unary()?];
        while self.eat(&Tok::And) {
            items.push(self.unary()?);
        }
        Ok(flat(items, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        if self.eat(&Tok::Not) {
            self.descend()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.eat(&Tok::Exists) {
            self.count_term()?;
            return Ok(Expr::Exists(self.operand("a variable after 'exists'")?));
        }
        if self.eat(&Tok::LParen) {
            let inner = self.expr()?;
            self.expect(&Tok::RParen, "')'")?;
            return Ok(inner);
        }
        self.test()
    }

    fn test(&mut self) -> Result<Expr, ConditionError> {
        self.count_term()?;
        let left = self.operand("a value or variable")?;
        match self.peek() {
            Some(Tok::Op(op)) => {
                let op = *op;
                self.at += 1;
                let pos = self.pos();
                let right = self.operand("a value after the operator")?;
                if let Operand::Var(name) = &right {
                    self.rhs_vars.push((name.clone(), pos));
                }
                Ok(Expr::Cmp(left, op, right))
            }
            Some(Tok::Exists) => {
                self.at += 1;
                Ok(Expr::Exists(left))
            }
            Some(Tok::In) => {
                self.at += 1;
                Ok(Expr::In(left, self.in_set()?))
            }
            Some(Tok::Not) if self.tokens.get(self.at + 1).map(|(t, _)| t) == Some(&Tok::In) => {
                self.at += 2;
                Ok(Expr::Not(Box::new(Expr::In(left, self.in_set()?))))
            }
            _ => Ok(Expr::Truthy(left)),
        }
    }

    fn in_set(&mut self) -> Result<InSet, ConditionError> {
        if !self.eat(&Tok::LBracket) {
            return Ok(InSet::Value(self.operand("a list after 'in'")?));
        }
        let mut items = Vec::new();
        if self.eat(&Tok::RBracket) {
            return Ok(InSet::List(items));
        }
        loop {
            items.push(self.operand("a list item")?);
            if self.eat(&Tok::RBracket) {
                return Ok(InSet::List(items));
            }
            self.expect(&Tok::Comma, "',' or ']'")?;
        }
    }

    fn operand(&mut self, what: &str) -> Result<Operand, ConditionError> {
        match self.tokens.get(self.at) {
            Some((Tok::Lit(v), _)) => {
                let v = v.clone();
                self.at += 1;
                Ok(Operand::Lit(v))
            }
            Some((Tok::Path(p), _)) => {
                let p = p.clone();
                self.at += 1;
                Ok(Operand::Var(p))
            }
            Some((tok, pos)) => Err(self.error_at(*pos, &format!("expected {what}, found {}", tok.describe()))),
            None => Err(self.error_at(self.end, &format!("expected {what} at the end"))),
        }
    }
}

/// One operand stays itself; several become one flat `and`/`or` node.
fn flat(mut items: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    join(items)
}
