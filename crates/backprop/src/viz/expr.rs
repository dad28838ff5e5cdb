//! Scalar expressions: a recursive-descent parser, and the builder that
//! records an expression on a [`Graph`] so autodiff can differentiate it.
//!
//! The grammar, with the usual precedence (`^` binds tightest and groups to
//! the right; unary minus binds looser than `^`, so `-a^2` is `-(a^2)`):
//!
//! ```text
//! expr  = term (("+" | "-") term)*
//! term  = unary (("*" | "/") unary)*
//! unary = ("-" | "+") unary | power
//! power = atom ("^" unary)?
//! atom  = number | variable | function "(" expr ")" | "(" expr ")"
//! ```

use super::render::format_number;
use crate::autograd::{Graph, Var};
use crate::{Error, Result, Tensor};
use std::collections::BTreeMap;

/// Longest accepted expression, in characters.
const MAX_LEN: usize = 2000;
/// Deepest accepted nesting of parentheses, signs and powers.
const MAX_DEPTH: usize = 100;

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b`
    Pow,
}

impl BinOp {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
        }
    }
}

/// A function of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// e^x
    Exp,
    /// ln x
    Log,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// max(x, 0)
    Relu,
    /// tanh x
    Tanh,
}

impl Func {
    const ALL: [Func; 5] = [Func::Exp, Func::Log, Func::Sigmoid, Func::Relu, Func::Tanh];

    /// The name used in expressions.
    ///
    /// ```
    /// assert_eq!(backprop::viz::Func::Sigmoid.name(), "sigmoid");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sigmoid => "sigmoid",
            Func::Relu => "relu",
            Func::Tanh => "tanh",
        }
    }

    /// The function called `name`, if there is one.
    ///
    /// ```
    /// use backprop::viz::Func;
    /// assert_eq!(Func::from_name("tanh"), Some(Func::Tanh));
    /// assert_eq!(Func::from_name("sin"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    fn eval(self, x: f64) -> f64 {
        match self {
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Func::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Func::Tanh => x.tanh(),
        }
    }

    fn apply(self, x: Var<'_>) -> Var<'_> {
        match self {
            Func::Exp => x.exp(),
            Func::Log => x.log(),
            Func::Sigmoid => x.sigmoid(),
            Func::Relu => x.relu(),
            Func::Tanh => x.tanh(),
        }
    }
}

/// A parsed scalar expression.
///
/// ```
/// use backprop::viz::{BinOp, Expr};
/// let e = Expr::parse("2 ^ 3 ^ 2")?; // right-associative: 2^(3^2)
/// let Expr::Binary(BinOp::Pow, _, rhs) = e else { panic!() };
/// assert!(matches!(*rhs, Expr::Binary(BinOp::Pow, _, _)));
/// let err = Expr::parse("3*(a+)").unwrap_err().to_string();
/// assert!(err.contains("unexpected ')' at column 6"), "{err}");
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number.
    Number(f64),
    /// A variable, with the (1-based) column where it appears.
    Variable {
        /// Its name.
        name: String,
        /// Where it appears.
        column: usize,
    },
    /// `-x`
    Neg(Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `f(x)`
    Call(Func, Box<Expr>),
}

/// An expression recorded on a graph by [`Expr::build`].
pub struct BuiltExpr<'g> {
    /// The expression's value: the node to call `backward` on.
    pub output: Var<'g>,
    /// Each variable's leaf, in order of first use.
    pub leaves: Vec<(String, Var<'g>)>,
    /// Names to draw for nodes, by node id: variable names for leaves, and
    /// `neg` or `^2` for ops whose recorded op name would mislead.
    pub labels: BTreeMap<usize, String>,
}

impl Expr {
    /// Parses `src`. Errors are [`Error::InvalidArgument`] naming the column
    /// and what was expected there.
    ///
    /// ```
    /// use backprop::viz::Expr;
    /// assert!(Expr::parse("sigmoid(w*x + b) ^ 2").is_ok());
    /// let err = Expr::parse("sin(x)").unwrap_err().to_string();
    /// assert!(err.contains("unknown function 'sin' at column 1"), "{err}");
    /// ```
    pub fn parse(src: &str) -> Result<Expr> {
        let len = src.chars().count();
        if len > MAX_LEN {
            return Err(invalid(format!("the expression has {len} characters; at most {MAX_LEN} are accepted")));
        }
        let tokens = tokenize(src)?;
        if tokens.len() == 1 {
            return Err(invalid("the expression is empty".to_string()));
        }
        let mut p = Parser { tokens, pos: 0, depth: 0 };
        let e = p.expr()?;
        let t = p.peek();
        match t.kind {
            Kind::End => Ok(e),
            Kind::Close => Err(invalid(format!("unexpected ')' at column {} (no '(' is open)", t.column))),
            _ => Err(unexpected(t, "an operator (+ - * / ^)")),
        }
    }

    /// Records the expression on `g`: each variable becomes a leaf
    /// (`Graph::leaf`) holding its value from `values`, each number a
    /// constant; parts without variables are folded into one constant first.
    /// `x ^ c` with a constant exponent uses [`Var::powf`], any other power
    /// [`Var::pow`] (never `exp(b ln a)`, undefined for a <= 0): values and
    /// gradients follow PyTorch's `pow`, so `(-2)^y` at y = 2 is 4 with
    /// d/dx = -4 and d/dy NaN, and `x^y` at x = 0, y = 2 has both gradients 0.
    ///
    /// Errors when a variable has no value in `values`.
    ///
    /// ```
    /// use backprop::{viz::Expr, Graph};
    /// let g = Graph::new();
    /// let e = Expr::parse("x^2 + 1")?.build(&g, &[("x", 3.0)])?;
    /// let grads = g.backward(e.output);
    /// assert_eq!(e.output.item(), 10.0);
    /// assert_eq!(grads.wrt(e.leaves[0].1).unwrap().item(), 6.0);
    /// assert!(Expr::parse("y")?.build(&g, &[("x", 3.0)]).is_err());
    ///
    /// let g = Graph::new();
    /// let e = Expr::parse("x^y")?.build(&g, &[("x", 0.0), ("y", 2.0)])?;
    /// let grads = g.backward(e.output);
    /// assert_eq!(e.output.item(), 0.0);
    /// assert_eq!(grads.wrt(e.leaves[0].1).unwrap().item(), 0.0);
    /// assert_eq!(grads.wrt(e.leaves[1].1).unwrap().item(), 0.0);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn build<'g>(&self, g: &'g Graph, values: &[(&str, f32)]) -> Result<BuiltExpr<'g>> {
        let mut b = Builder { g, values, leaves: Vec::new(), labels: BTreeMap::new() };
        let value = b.build(self)?;
        let output = b.node(value);
        Ok(BuiltExpr { output, leaves: b.leaves, labels: b.labels })
    }
}

fn invalid(message: String) -> Error {
    Error::invalid("expression", message)
}

// ---------------------------------------------------------------- tokens

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Number(f64),
    Name(String),
    Op(char),
    Open,
    Close,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    text: String,
    column: usize,
}

impl Token {
    fn describe(&self) -> String {
        match self.kind {
            Kind::Number(_) => format!("number {}", self.text),
            Kind::End => "end of the expression".to_string(),
            _ => format!("'{}'", self.text),
        }
    }
}

fn unexpected(t: &Token, expected: &str) -> Error {
    invalid(format!("unexpected {} at column {}; expected {expected}", t.describe(), t.column))
}

fn tokenize(src: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let digits_from = |mut i: usize| {
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let start = i;
        let kind = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            i = digits_from(i);
            if chars.get(i) == Some(&'.') {
                i = digits_from(i + 1);
            }
            if matches!(chars.get(i), Some('e' | 'E')) {
                let sign = usize::from(matches!(chars.get(i + 1), Some('+' | '-')));
                if chars.get(i + 1 + sign).is_some_and(char::is_ascii_digit) {
                    i = digits_from(i + 1 + sign);
                }
            }
            let text: String = chars[start..i].iter().collect();
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Kind::Number(v),
                _ => return Err(invalid(format!("number {text} at column {column} is out of range"))),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            Kind::Name(chars[start..i].iter().collect())
        } else {
            i += 1;
            match c {
                '+' | '-' | '*' | '/' | '^' => Kind::Op(c),
                '(' => Kind::Open,
                ')' => Kind::Close,
                _ => {
                    return Err(invalid(format!("unexpected character '{}' at column {column}", c.escape_debug())));
                }
            }
        };
        tokens.push(Token { kind, text: chars[start..i].iter().collect(), column });
    }
    tokens.push(Token { kind: Kind::End, text: String::new(), column: chars.len() + 1 });
    Ok(tokens)
}

// ---------------------------------------------------------------- parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

const OPERAND: &str = "a number, a variable, a function or '('";

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != Kind::End {
            self.pos += 1;
        }
        t
    }

    /// The next token when it is one of the operators `ops`.
    fn eat_op(&mut self, ops: &[char]) -> Option<char> {
        match self.peek().kind {
            Kind::Op(c) if ops.contains(&c) => {
                self.pos += 1;
                Some(c)
            }
            _ => None,
        }
    }

    fn expr(&mut self) -> Result<Expr> {
        let mut lhs = self.term()?;
        while let Some(c) = self.eat_op(&['+', '-']) {
            let op = if c == '+' { BinOp::Add } else { BinOp::Sub };
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(self.term()?));
        }
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Expr> {
        let mut lhs = self.unary()?;
        while let Some(c) = self.eat_op(&['*', '/']) {
            let op = if c == '*' { BinOp::Mul } else { BinOp::Div };
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(self.unary()?));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let column = self.peek().column;
            return Err(invalid(format!("the expression nests more than {MAX_DEPTH} levels deep at column {column}")));
        }
        let e = match self.eat_op(&['-', '+']) {
            Some('-') => self.unary().map(|x| Expr::Neg(Box::new(x))),
            Some(_) => self.unary(),
            None => self.power(),
        };
        self.depth -= 1;
        e
    }

    fn power(&mut self) -> Result<Expr> {
        let base = self.atom()?;
        if self.eat_op(&['^']).is_some() {
            let exponent = self.unary()?;
            return Ok(Expr::Binary(BinOp::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr> {
        let t = self.next();
        match &t.kind {
            Kind::Number(v) => Ok(Expr::Number(*v)),
            Kind::Open => self.parenthesized(&t),
            Kind::Name(name) if self.peek().kind == Kind::Open => {
                let Some(func) = Func::from_name(name) else {
                    let known: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
                    return Err(invalid(format!(
                        "unknown function '{name}' at column {} (known: {})",
                        t.column,
                        known.join(", ")
                    )));
                };
                let open = self.next();
                Ok(Expr::Call(func, Box::new(self.parenthesized(&open)?)))
            }
            Kind::Name(name) if Func::from_name(name).is_some() => {
                Err(unexpected(self.peek(), &format!("'(' after the function '{name}'")))
            }
            Kind::Name(name) => Ok(Expr::Variable { name: name.clone(), column: t.column }),
            _ => Err(unexpected(&t, OPERAND)),
        }
    }

    /// The expression after an opening parenthesis `open`, and its `)`.
    fn parenthesized(&mut self, open: &Token) -> Result<Expr> {
        let inner = self.expr()?;
        let t = self.next();
        match t.kind {
            Kind::Close => Ok(inner),
            Kind::End => Err(unexpected(&t, &format!("')' to close the '(' at column {}", open.column))),
            _ => Err(unexpected(&t, "an operator (+ - * / ^) or ')'")),
        }
    }
}

// ---------------------------------------------------------------- builder

/// A built subexpression: still a number (folded), or a graph node.
#[derive(Clone, Copy)]
enum Value<'g> {
    Const(f64),
    Node(Var<'g>),
}

struct Builder<'g, 'v> {
    g: &'g Graph,
    values: &'v [(&'v str, f32)],
    leaves: Vec<(String, Var<'g>)>,
    labels: BTreeMap<usize, String>,
}

impl<'g> Builder<'g, '_> {
    fn build(&mut self, e: &Expr) -> Result<Value<'g>> {
        Ok(match e {
            Expr::Number(v) => Value::Const(*v),
            Expr::Variable { name, column } => Value::Node(self.leaf(name, *column)?),
            Expr::Neg(x) => match self.build(x)? {
                Value::Const(c) => Value::Const(-c),
                Value::Node(n) => self.labelled(-n, "neg".to_string()),
            },
            Expr::Call(f, x) => match self.build(x)? {
                Value::Const(c) => Value::Const(f.eval(c)),
                Value::Node(n) => Value::Node(f.apply(n)),
            },
            Expr::Binary(op, l, r) => {
                let (l, r) = (self.build(l)?, self.build(r)?);
                self.combine(*op, l, r)
            }
        })
    }

    fn combine(&mut self, op: BinOp, l: Value<'g>, r: Value<'g>) -> Value<'g> {
        match (op, l, r) {
            (_, Value::Const(a), Value::Const(b)) => Value::Const(op.apply(a, b)),
            (BinOp::Pow, Value::Node(base), Value::Const(p)) => {
                self.labelled(base.powf(p as f32), format!("^{}", format_number(p as f32)))
            }
            (op, l, r) => {
                let (a, b) = (self.node(l), self.node(r));
                Value::Node(match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Pow => a.pow(b),
                })
            }
        }
    }

    fn labelled(&mut self, v: Var<'g>, label: String) -> Value<'g> {
        self.labels.insert(v.id(), label);
        Value::Node(v)
    }

    /// The graph node of a value: numbers become constants.
    fn node(&mut self, v: Value<'g>) -> Var<'g> {
        match v {
            Value::Node(n) => n,
            Value::Const(c) => self.g.constant(Tensor::scalar(c as f32)),
        }
    }

    /// The leaf of variable `name`, created on its first use.
    fn leaf(&mut self, name: &str, column: usize) -> Result<Var<'g>> {
        if let Some((_, v)) = self.leaves.iter().find(|(n, _)| n == name) {
            return Ok(*v);
        }
        let Some(&(_, value)) = self.values.iter().find(|(n, _)| *n == name) else {
            let given: Vec<&str> = self.values.iter().map(|(n, _)| *n).collect();
            let given = if given.is_empty() {
                "no values were given".to_string()
            } else {
                format!("values: {}", given.join(", "))
            };
            return Err(invalid(format!("unknown variable '{name}' at column {column} ({given})")));
        };
        let v = self.g.leaf(Tensor::scalar(value));
        self.labels.insert(v.id(), name.to_string());
        self.leaves.push((name.to_string(), v));
        Ok(v)
    }
}
