//! Meta rule expressions: rules combined with `&&`, `||`, `!`, parentheses, and counts such as
//! `(A + B + C) >= 2`. A rule name is 1 when the rule matched and 0 when not; `+` adds, the
//! comparisons (`>=`, `>`, `<=`, `<`, `==`, `!=`) give 1 or 0, and a value other than 0 is
//! true. Written by hand: the grammar is a dozen lines and no crate fits it better.

use std::fmt;

/// A parsed expression over rule names.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Rule(String),
    Number(i64),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Sum(Vec<Expr>),
    Cmp(Box<Expr>, Cmp, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

/// Deepest nesting of parentheses and `!`: a hostile rule file cannot overflow the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(i64),
    And,
    Or,
    Not,
    Plus,
    Open,
    Close,
    Cmp(Cmp),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Name(n) => write!(f, "`{n}`"),
            Tok::Num(n) => write!(f, "`{n}`"),
            Tok::And => f.write_str("`&&`"),
            Tok::Or => f.write_str("`||`"),
            Tok::Not => f.write_str("`!`"),
            Tok::Plus => f.write_str("`+`"),
            Tok::Open => f.write_str("`(`"),
            Tok::Close => f.write_str("`)`"),
            Tok::Cmp(_) => f.write_str("a comparison"),
        }
    }
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let two = b.get(i..i + 2);
        let (tok, len) = match c {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'(' => (Tok::Open, 1),
            b')' => (Tok::Close, 1),
            b'+' => (Tok::Plus, 1),
            _ if two == Some(b"&&") => (Tok::And, 2),
            _ if two == Some(b"||") => (Tok::Or, 2),
            _ if two == Some(b">=") => (Tok::Cmp(Cmp::Ge), 2),
            _ if two == Some(b"<=") => (Tok::Cmp(Cmp::Le), 2),
            _ if two == Some(b"==") => (Tok::Cmp(Cmp::Eq), 2),
            _ if two == Some(b"!=") => (Tok::Cmp(Cmp::Ne), 2),
            b'>' => (Tok::Cmp(Cmp::Gt), 1),
            b'<' => (Tok::Cmp(Cmp::Lt), 1),
            b'!' => (Tok::Not, 1),
            b'0'..=b'9' => {
                let len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                let n = s[i..i + len]
                    .parse()
                    .map_err(|_| format!("number `{}` is too large", &s[i..i + len]))?;
                (Tok::Num(n), len)
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                let len = b[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                (Tok::Name(s[i..i + len].to_string()), len)
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected `{ch}` in the meta expression"));
            }
        };
        out.push(tok);
        i += len;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat(&Tok::Or) {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.eat(&Tok::And) {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("meta expression nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat(&Tok::Not) {
            self.deeper()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let left = self.sum()?;
        if let Some(Tok::Cmp(op)) = self.peek().cloned() {
            self.at += 1;
            let right = self.sum()?;
            return Ok(Expr::Cmp(Box::new(left), op, Box::new(right)));
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let first = self.atom()?;
        if self.peek() != Some(&Tok::Plus) {
            return Ok(first);
        }
        let mut terms = vec![first];
        while self.eat(&Tok::Plus) {
            terms.push(self.atom()?);
        }
        Ok(Expr::Sum(terms))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.at).cloned() {
            Some(Tok::Name(n)) => {
                self.at += 1;
                Ok(Expr::Rule(n))
            }
            Some(Tok::Num(n)) => {
                self.at += 1;
                Ok(Expr::Number(n))
            }
            Some(Tok::Open) => {
                self.at += 1;
                self.deeper()?;
                let e = self.or()?;
                self.depth -= 1;
                if !self.eat(&Tok::Close) {
                    return Err("missing `)` in the meta expression".into());
                }
                Ok(e)
            }
            Some(t) => Err(format!("expected a rule name, a number or `(`, found {t}")),
            None => Err("the meta expression ends too early".into()),
        }
    }
}

impl Expr {
    /// Parses `text`; the error says what was wrong.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let toks = lex(text)?;
        if toks.is_empty() {
            return Err("empty meta expression".into());
        }
        let mut p = Parser {
            toks,
            at: 0,
            depth: 0,
        };
        let e = p.or()?;
        match p.peek() {
            None => Ok(e),
            Some(t) => Err(format!("unexpected {t} in the meta expression")),
        }
    }

    /// The rule names it refers to, in order of appearance.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Rule(n) => out.push(n.clone()),
            Expr::Number(_) => {}
            Expr::Not(e) => e.names(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(a, _, b) => {
                a.names(out);
                b.names(out);
            }
            Expr::Sum(v) => v.iter().for_each(|e| e.names(out)),
        }
    }

    /// Rewrites rule names to indices, for evaluation without string lookups.
    pub fn resolve(&self, index: &dyn Fn(&str) -> Option<usize>) -> Result<Resolved, String> {
        Ok(match self {
            Expr::Rule(n) => Resolved::Rule(
                index(n).ok_or_else(|| format!("meta refers to unknown rule `{n}`"))?,
            ),
            Expr::Number(n) => Resolved::Number(*n),
            Expr::Not(e) => Resolved::Not(Box::new(e.resolve(index)?)),
            Expr::And(a, b) => {
                Resolved::And(Box::new(a.resolve(index)?), Box::new(b.resolve(index)?))
            }
            Expr::Or(a, b) => {
                Resolved::Or(Box::new(a.resolve(index)?), Box::new(b.resolve(index)?))
            }
            Expr::Sum(v) => Resolved::Sum(
                v.iter()
                    .map(|e| e.resolve(index))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Cmp(a, op, b) => Resolved::Cmp(
                Box::new(a.resolve(index)?),
                *op,
                Box::new(b.resolve(index)?),
            ),
        })
    }
}

/// An [`Expr`] whose names are rule indices.
#[derive(Debug, Clone)]
pub enum Resolved {
    Rule(usize),
    Number(i64),
    Not(Box<Resolved>),
    And(Box<Resolved>, Box<Resolved>),
    Or(Box<Resolved>, Box<Resolved>),
    Sum(Vec<Resolved>),
    Cmp(Box<Resolved>, Cmp, Box<Resolved>),
}

impl Resolved {
    /// Whether the expression holds, given which rules matched.
    pub fn holds(&self, hits: &[bool]) -> bool {
        self.value(hits) != 0
    }

    fn value(&self, hits: &[bool]) -> i64 {
        let b = |v: bool| i64::from(v);
        match self {
            Resolved::Rule(i) => b(hits.get(*i).copied().unwrap_or(false)),
            Resolved::Number(n) => *n,
            Resolved::Not(e) => b(e.value(hits) == 0),
            Resolved::And(x, y) => b(x.value(hits) != 0 && y.value(hits) != 0),
            Resolved::Or(x, y) => b(x.value(hits) != 0 || y.value(hits) != 0),
            Resolved::Sum(v) => v.iter().fold(0i64, |s, e| s.saturating_add(e.value(hits))),
            Resolved::Cmp(x, op, y) => {
                let (x, y) = (x.value(hits), y.value(hits));
                b(match op {
                    Cmp::Ge => x >= y,
                    Cmp::Gt => x > y,
                    Cmp::Le => x <= y,
                    Cmp::Lt => x < y,
                    Cmp::Eq => x == y,
                    Cmp::Ne => x != y,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `expr` holds when the rules in `on` matched (of the rules A to E).
    fn holds(expr: &str, on: &[&str]) -> bool {
        let names = ["A", "B", "C", "D", "E"];
        let e = Expr::parse(expr).unwrap();
        let r = e.resolve(&|n| names.iter().position(|x| *x == n)).unwrap();
        let hits: Vec<bool> = names.iter().map(|n| on.contains(n)).collect();
        r.holds(&hits)
    }

    #[test]
    fn boolean_operators_and_precedence() {
        assert!(holds("A && B", &["A", "B"]));
        assert!(!holds("A && B", &["A"]));
        assert!(holds("A || B && C", &["A"]), "&& binds tighter than ||");
        assert!(!holds("(A || B) && C", &["A"]));
        assert!(holds("!A && B", &["B"]));
        assert!(!holds("!(A || B)", &["B"]));
        assert!(holds("!!A", &["A"]));
    }

    #[test]
    fn counts_compare() {
        let e = "(A + B + C) >= 2";
        assert!(!holds(e, &["A"]));
        assert!(holds(e, &["A", "C"]));
        assert!(holds("A + B + C == 3", &["A", "B", "C"]));
        assert!(holds("A + B < 1 || C", &["C"]));
        assert!(holds("(A + B > 0) && !C", &["B"]));
    }

    #[test]
    fn mistakes_are_reported() {
        for (bad, why) in [
            ("A &&", "ends too early"),
            ("(A || B", "missing `)`"),
            ("A B", "unexpected `B`"),
            ("A & B", "unexpected `&`"),
            ("", "empty"),
            ("A >= ", "ends too early"),
            (") A", "found `)`"),
        ] {
            let e = Expr::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let deep = format!("{}A{}", "(".repeat(100), ")".repeat(100));
        assert!(Expr::parse(&deep).unwrap_err().contains("deeper"));
        let mut names = Vec::new();
        Expr::parse("(A + B) >= 2 && !C").unwrap().names(&mut names);
        assert_eq!(names, ["A", "B", "C"]);
        let unknown = Expr::parse("A && Z")
            .unwrap()
            .resolve(&|n| (n == "A").then_some(0));
        assert!(unknown.unwrap_err().contains("unknown rule `Z`"));
    }
}
