//! The OData filter subset NetBackup's `/admin/jobs` accepts: comparisons joined by `and`/`or`/`not`, parentheses,
//! single-quoted strings, bare numbers and bare ISO date-times (a quoted date-time is rejected, as on 10.4).

use crate::world::{Attr, Dialect, View};
use nbu_exporter::netbackup::time::parse_timestamp;

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Date(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Cmp(String, Op, Lit),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

const DATE_ATTRS: &[&str] = &["startTime", "endTime", "lastUpdateTime", "activeTryStartTime"];

fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut lit = String::from("'");
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        lit.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => lit.push(ch),
                    None => return Err("unterminated string".into()),
                }
            }
            out.push(lit);
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '(' || ch == ')' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<String>,
    pos: usize,
    attrs: &'static [&'static str],
}

impl P {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }
    fn take(&mut self) -> Result<String, String> {
        let t = self.toks.get(self.pos).cloned().ok_or("unexpected end of filter")?;
        self.pos += 1;
        Ok(t)
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.peek() == Some("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some("(") {
            self.pos += 1;
            let e = self.or()?;
            if self.take()? != ")" {
                return Err("missing )".into());
            }
            return Ok(e);
        }
        let attr = self.take()?;
        if !self.attrs.contains(&attr.as_str()) {
            return Err(format!("unknown attribute {attr}"));
        }
        let op = match self.take()?.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            o => return Err(format!("unknown operator {o}")),
        };
        let raw = self.take()?;
        let is_date = DATE_ATTRS.contains(&attr.as_str());
        let lit = if let Some(s) = raw.strip_prefix('\'') {
            if is_date {
                return Err("date-time literals must not be quoted".into());
            }
            Lit::Str(s.to_string())
        } else if is_date {
            Lit::Date(parse_timestamp(&raw).ok_or_else(|| format!("bad date-time {raw}"))?)
        } else {
            Lit::Num(raw.parse().map_err(|_| format!("bad literal {raw}"))?)
        };
        Ok(Expr::Cmp(attr, op, lit))
    }
}

/// Filterable attributes; `lastUpdateTime` only exists from API 10.0 on.
const ATTRS: &[&str] = &[
    "jobId",
    "parentJobId",
    "status",
    "kilobytesTransferred",
    "numberOfFiles",
    "state",
    "jobType",
    "policyType",
    "policyName",
    "clientName",
    "startTime",
    "endTime",
    "lastUpdateTime",
];

pub fn parse(s: &str, d: Dialect) -> Result<Expr, String> {
    let attrs = if d.modern { ATTRS } else { &ATTRS[..ATTRS.len() - 1] };
    let mut p = P { toks: tokens(s)?, pos: 0, attrs };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    Ok(e)
}

fn cmp<T: PartialOrd>(a: T, op: Op, b: T) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
    }
}

pub fn eval(e: &Expr, v: &View, d: Dialect) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v, d) && eval(b, v, d),
        Expr::Or(a, b) => eval(a, v, d) || eval(b, v, d),
        Expr::Not(a) => !eval(a, v, d),
        Expr::Cmp(attr, op, lit) => match (v.attr(attr, d), lit) {
            (Some(Attr::Num(x)), Lit::Num(y)) => cmp(x, *op, *y),
            (Some(Attr::Str(x)), Lit::Str(y)) => cmp(x.as_str(), *op, y.as_str()),
            (Some(Attr::Date(x)), Lit::Date(y)) => cmp(x, *op, *y),
            _ => false,
        },
    }
}
