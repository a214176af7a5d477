//! The text form of conditions, as marketers type it:
//!
//! ```text
//! condition  := term ("or" term)*
//! term       := factor ("and" factor)*
//! factor     := "not" factor | "(" condition ")" | atom
//! atom       := "trait" name comparison
//!             | "computed" name comparison
//!             | "performed" string where? times? within?
//!             | "in" "segment" string
//!             | "consent" string
//! where      := "where" filter | "where" "(" filter ("and" filter)* ")"
//! filter     := name comparison
//! times      := ("=" | "!=" | "<" | "<=" | ">" | ">=") integer "times"
//! within     := "within" integer ("days" | "hours")
//! comparison := ("=" | "!=" | "<" | "<=" | ">" | ">=") value | "contains" value
//!             | "starts" "with" string | "exists" | "in" list | "before" string
//!             | "after" string | "within" "last" number "days"
//! name       := identifier | string
//! value      := string | number | "true" | "false" | "null" | list
//! ```
//!
//! Keywords are case-insensitive. Errors point at the line and column of the mistake.

use cdp_profiles::compare::Op;
use serde_json::Value;

use crate::condition::{Comparison, Condition, Performed, PropertyFilter, Times, Window};
use crate::json::{MAX_DEPTH, MAX_NODES};

/// What is wrong with a text condition, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// Byte offset into the text.
    pub offset: usize,
    pub line: usize,
    /// In characters, from 1.
    pub column: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(serde_json::Number),
    Symbol(&'static str),
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{w}`"),
            Token::Text(t) => format!("the string {}", Value::String(t.clone())),
            Token::Number(n) => format!("the number {n}"),
            Token::Symbol(s) => format!("`{s}`"),
            Token::End => "the end of the condition".to_owned(),
        }
    }
}

const SYMBOLS: [&str; 11] = ["<=", ">=", "!=", "=", "<", ">", "(", ")", "[", "]", ","];

/// Characters of a bare name after its first (letters, digits, `_`, `.`, `$`, `-`).
pub(crate) fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '-')
}

fn lex(text: &str) -> Result<Vec<(Token, usize)>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if let Some(symbol) = SYMBOLS.iter().find(|s| text[at..].starts_with(**s)) {
            for _ in 0..symbol.len() {
                chars.next();
            }
            tokens.push((Token::Symbol(symbol), at));
            continue;
        }
        if c == '"' {
            chars.next();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in chars.by_ref() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(end) = end else {
                return Err((at, "this string is never closed (a `\"` is missing)".into()));
            };
            let value: String = serde_json::from_str(&text[at..=end])
                .map_err(|_| (at, "this string has an invalid escape".to_owned()))?;
            tokens.push((Token::Text(value), at));
            continue;
        }
        if c.is_ascii_digit()
            || (c == '-' && text[at + 1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            let mut end = at;
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+') || (d == '-' && i == at)
                {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let number = number(&text[at..end])
                .ok_or_else(|| (at, format!("`{}` is not a number", &text[at..end])))?;
            tokens.push((Token::Number(number), at));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let mut end = at;
            while let Some(&(i, d)) = chars.peek() {
                if name_char(d) {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push((Token::Word(text[at..end].to_owned()), at));
            continue;
        }
        return Err((at, format!("unexpected character `{c}`")));
    }
    tokens.push((Token::End, text.len()));
    Ok(tokens)
}

/// A number as JSON would read it, floats correctly rounded (the same value the JSON
/// form holds, so that the two forms agree).
fn number(text: &str) -> Option<serde_json::Number> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n.into());
    }
    if let Ok(n) = text.parse::<u64>() {
        return Some(n.into());
    }
    let shaped = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && !text.ends_with('.')
        && !text.starts_with('.');
    serde_json::Number::from_f64(text.parse::<f64>().ok().filter(|_| shaped)?)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Token, usize)>,
    at: usize,
    depth: usize,
    nodes: usize,
}

type Parsed<T> = Result<T, ParseError>;

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Parses the text form of a condition.
pub fn parse(text: &str) -> Result<Condition, ParseError> {
    let tokens = lex(text).map_err(|(offset, message)| {
        let (line, column) = position(text, offset);
        ParseError {
            offset,
            line,
            column,
            message,
        }
    })?;
    let mut parser = Parser {
        text,
        tokens,
        at: 0,
        depth: 0,
        nodes: 0,
    };
    let condition = parser.condition()?;
    if parser.peek() != &Token::End {
        return parser.fail(format!(
            "expected `and`, `or` or the end, found {}",
            parser.peek().describe()
        ));
    }
    Ok(condition)
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at].0
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].0.clone();
        if token != Token::End {
            self.at += 1;
        }
        token
    }

    fn fail<T>(&self, message: String) -> Parsed<T> {
        let offset = self.tokens[self.at].1;
        let (line, column) = position(self.text, offset);
        Err(ParseError {
            offset,
            line,
            column,
            message,
        })
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Token::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.is_word(word);
        if found {
            self.next();
        }
        found
    }

    fn expect_word(&mut self, word: &str, context: &str) -> Parsed<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            self.fail(format!(
                "expected `{word}` {context}, found {}",
                self.peek().describe()
            ))
        }
    }

    fn expect_symbol(&mut self, symbol: &str, context: &str) -> Parsed<()> {
        if self.peek() == &Token::Symbol(leak(symbol)) {
            self.next();
            Ok(())
        } else {
            self.fail(format!(
                "expected `{symbol}` {context}, found {}",
                self.peek().describe()
            ))
        }
    }

    fn count_node(&mut self) -> Parsed<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.fail(format!("a condition has at most {MAX_NODES} parts"));
        }
        Ok(())
    }

    fn condition(&mut self) -> Parsed<Condition> {
        let mut items = vec![self.term()?];
        while self.eat_word("or") {
            items.push(self.term()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Condition::Or(items)
        })
    }

    fn term(&mut self) -> Parsed<Condition> {
        let mut items = vec![self.factor()?];
        while self.eat_word("and") {
            items.push(self.factor()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Condition::And(items)
        })
    }

    fn nested<T>(&mut self, inner: impl FnOnce(&mut Self) -> Parsed<T>) -> Parsed<T> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(format!("conditions nest at most {MAX_DEPTH} deep"));
        }
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn factor(&mut self) -> Parsed<Condition> {
        self.count_node()?;
        if self.eat_word("not") {
            return self.nested(|p| Ok(Condition::Not(Box::new(p.factor()?))));
        }
        if self.peek() == &Token::Symbol("(") {
            self.next();
            let inner = self.nested(|p| p.condition())?;
            self.expect_symbol(")", "to close the `(`")?;
            return Ok(inner);
        }
        let Token::Word(word) = self.peek().clone() else {
            return self.fail(format!(
                "expected a condition (trait, computed, performed, in segment, consent, not or `(`), found {}",
                self.peek().describe()
            ));
        };
        match word.to_ascii_lowercase().as_str() {
            "trait" => {
                self.next();
                Ok(Condition::Trait(self.comparison("a trait name")?))
            }
            "computed" => {
                self.next();
                Ok(Condition::Computed(self.comparison("a computed trait name")?))
            }
            "performed" => {
                self.next();
                self.performed()
            }
            "in" => {
                self.next();
                self.expect_word("segment", "after `in`")?;
                Ok(Condition::InSegment(self.string("a segment id")?))
            }
            "consent" => {
                self.next();
                Ok(Condition::Consent(self.string("a purpose")?.to_lowercase()))
            }
            _ => self.fail(format!(
                "expected a condition (trait, computed, performed, in segment, consent, not or `(`), found {}",
                self.peek().describe()
            )),
        }
    }

    fn string(&mut self, what: &str) -> Parsed<String> {
        match self.peek().clone() {
            Token::Text(t) if !t.trim().is_empty() => {
                self.next();
                Ok(t)
            }
            other => self.fail(format!(
                "expected {what} as a quoted string, found {}",
                other.describe()
            )),
        }
    }

    fn name(&mut self, what: &str) -> Parsed<String> {
        match self.peek().clone() {
            Token::Word(w) | Token::Text(w) if !w.trim().is_empty() && w.len() <= 200 => {
                self.next();
                Ok(w)
            }
            other => self.fail(format!("expected {what}, found {}", other.describe())),
        }
    }

    fn comparison(&mut self, what: &str) -> Parsed<Comparison> {
        let name = self.name(what)?;
        let (op, value) = self.operator_and_value(&name)?;
        Ok(Comparison { name, op, value })
    }

    fn ordering(&mut self) -> Option<Op> {
        let op = match self.peek() {
            Token::Symbol("=") => Op::Eq,
            Token::Symbol("!=") => Op::Neq,
            Token::Symbol("<") => Op::Lt,
            Token::Symbol("<=") => Op::Lte,
            Token::Symbol(">") => Op::Gt,
            Token::Symbol(">=") => Op::Gte,
            _ => return None,
        };
        self.next();
        Some(op)
    }

    fn operator_and_value(&mut self, name: &str) -> Parsed<(Op, Value)> {
        let start = self.at;
        let (op, value) = if let Some(op) = self.ordering() {
            (op, self.value()?)
        } else if self.eat_word("contains") {
            (Op::Contains, self.value()?)
        } else if self.eat_word("starts") {
            self.expect_word("with", "after `starts`")?;
            (Op::StartsWith, self.value()?)
        } else if self.eat_word("exists") {
            (Op::Exists, Value::Null)
        } else if self.eat_word("in") {
            (Op::In, self.value()?)
        } else if self.eat_word("before") {
            (Op::Before, self.value()?)
        } else if self.eat_word("after") {
            (Op::After, self.value()?)
        } else if self.eat_word("within") {
            self.expect_word("last", "after `within` (within last N days)")?;
            let days = self.value()?;
            self.expect_word("days", "after the number of days")?;
            (Op::WithinLastDays, days)
        } else {
            return self.fail(format!(
                "expected a comparison after `{name}` (=, !=, <, <=, >, >=, contains, starts with, exists, in, before, after, within last N days), found {}",
                self.peek().describe()
            ));
        };
        let operand = (op != Op::Exists)
            .then_some(&value)
            .filter(|v| !v.is_null());
        if let Some(why) = op.check_operand(operand) {
            // Pointing at the operator, whose operand is wrong.
            self.at = start;
            return self.fail(why.to_owned());
        }
        Ok((op, value))
    }

    fn value(&mut self) -> Parsed<Value> {
        match self.next() {
            Token::Text(t) => Ok(Value::String(t)),
            Token::Number(n) => Ok(Value::Number(n)),
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Token::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Value::Null),
            Token::Symbol("[") => self.nested(|p| {
                let mut items = Vec::new();
                if p.peek() == &Token::Symbol("]") {
                    p.next();
                    return Ok(Value::Array(items));
                }
                loop {
                    if p.peek() == &Token::Symbol("[") {
                        return p
                            .fail("a list holds strings, numbers and booleans, not lists".into());
                    }
                    let item = p.value()?;
                    if item.is_null() {
                        p.at -= 1;
                        return p
                            .fail("a list holds strings, numbers and booleans, not null".into());
                    }
                    items.push(item);
                    match p.next() {
                        Token::Symbol(",") => {}
                        Token::Symbol("]") => return Ok(Value::Array(items)),
                        _ => {
                            p.at -= 1;
                            return p.fail(format!(
                                "expected `,` or `]` in the list, found {}",
                                p.peek().describe()
                            ));
                        }
                    }
                }
            }),
            other => {
                if other != Token::End {
                    self.at -= 1;
                }
                self.fail(format!(
                    "expected a value (a quoted string, a number, true, false, null or a [list]), found {}",
                    other.describe()
                ))
            }
        }
    }

    fn performed(&mut self) -> Parsed<Condition> {
        let event = self.string("an event name")?;
        let mut filters = Vec::new();
        if self.eat_word("where") {
            let grouped = self.peek() == &Token::Symbol("(");
            if grouped {
                self.next();
            }
            loop {
                self.count_node()?;
                let property = self.name("a property name")?;
                let (op, value) = self.operator_and_value(&property)?;
                filters.push(PropertyFilter {
                    property,
                    op,
                    value,
                });
                if !(grouped && self.eat_word("and")) {
                    break;
                }
            }
            if grouped {
                self.expect_symbol(")", "to close the property filters")?;
            }
        }
        let mut times = None;
        if let Some(op) = self.ordering() {
            let value = match self.next() {
                Token::Number(n) if n.as_u64().is_some_and(|v| v <= 1_000_000) => {
                    n.as_u64().expect("checked")
                }
                other => {
                    if other != Token::End {
                        self.at -= 1;
                    }
                    return self.fail(format!(
                        "expected a whole number of times (0 to 1000000), found {}",
                        other.describe()
                    ));
                }
            };
            if !self.eat_word("times") && !self.eat_word("time") {
                return self.fail(format!(
                    "expected `times` after the number, found {}",
                    self.peek().describe()
                ));
            }
            times = Some(Times { op, value });
        }
        let mut within = None;
        if self.eat_word("within") {
            let amount = match self.next() {
                Token::Number(n) if n.as_u64().is_some_and(|v| (1..=87_600).contains(&v)) => {
                    n.as_u64().expect("checked") as u32
                }
                other => {
                    if other != Token::End {
                        self.at -= 1;
                    }
                    return self.fail(format!(
                        "expected a whole number of days or hours after `within`, found {}",
                        other.describe()
                    ));
                }
            };
            within = Some(if self.eat_word("days") || self.eat_word("day") {
                if amount > 3650 {
                    self.at -= 1;
                    return self.fail("a window is at most 3650 days".into());
                }
                Window::Days(amount)
            } else if self.eat_word("hours") || self.eat_word("hour") {
                Window::Hours(amount)
            } else {
                return self.fail(format!(
                    "expected `days` or `hours`, found {}",
                    self.peek().describe()
                ));
            });
        }
        Ok(Condition::Performed(Performed {
            event,
            filters,
            times,
            within,
        }))
    }
}

fn leak(symbol: &str) -> &'static str {
    SYMBOLS
        .iter()
        .find(|s| **s == symbol)
        .copied()
        .expect("a known symbol")
}
