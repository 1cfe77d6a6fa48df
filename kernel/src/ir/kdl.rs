//! The KDL IR parser (KERNEL.md §3; the grammar is documented in `docs/IR.md`).
//!
//! The text is read as a KDL v2 document by the `syntax` module below, then walked node by
//! node. Every problem is an [`ErrorCode::InvalidIr`] error whose message says what is wrong and
//! where, and whose `details` is `{"line": L, "column": C}` (1-based; the column counts Unicode
//! scalar values). The walk stops at the first problem. What is left — names that must resolve,
//! duplicates, the graph rules — is [`Registry::build`]'s job, and its `InvalidRegistry` error
//! is passed through unchanged.
//!
//! Nothing here indexes, unwraps or recurses without bound on input: every input yields `Ok` or
//! `Err`. (That is why the KDL syntax is read here rather than by the `kdl` crate: its parser
//! recurses once per syntax error it recovers from, and a few KiB of bad input overflow the
//! stack.)

use super::build::ContextDecl;
use super::model::*;
use crate::error::{Error, ErrorCode, Result};
use serde_json::json;
use std::fmt::Display;
use syntax::{Entry, Node, Value};

/// The newest IR version this kernel reads: it reads every version from 1 to this one, and
/// writes the lowest that expresses a registry ([`Registry::ir_version`]).
pub const IR_VERSION: u64 = 2;

/// The version that brought `enum` nodes.
const ENUMS_SINCE: u64 = 2;

const FUNCTION_PROPS: [&str; 9] = ["context", "output", "auth", "private", "view", "websocket", "rev", "cache", "route"];
const FORM_ROLES: [&str; 3] = ["schema", "validate", "submit"];

impl Registry {
    /// Parse KDL IR text (`mizan-ir version=1` …) into a checked registry.
    pub fn from_kdl(text: &str) -> Result<Registry> {
        let src = Source { text };
        let nodes = syntax::parse(text)
            .map_err(|e| src.error(e.pos, format_args!("KDL syntax error: {}", e.message)))?;
        let mut nodes = nodes.iter();
        let version = match nodes.next() {
            Some(header) => src.header(header)?,
            None => return Err(src.error(0, "the IR is empty: it must start with `mizan-ir version=1`")),
        };
        let mut functions = Vec::new();
        let mut contexts = Vec::new();
        let mut types = Vec::new();
        let mut enums = Vec::new();
        for node in nodes {
            match node.name.as_str() {
                "context" => contexts.push(src.context(node)?),
                "function" => functions.push(src.function(node)?),
                "type" => types.push(src.object_type(node)?),
                "enum" if version < ENUMS_SINCE => {
                    return Err(src.at_node(
                        node,
                        format!("`enum` needs `mizan-ir version={ENUMS_SINCE}` (this document is version {version})"),
                    ));
                }
                "enum" => enums.push(src.enum_type(node)?),
                "mizan-ir" => {
                    return Err(src.at_node(node, "`mizan-ir` may appear only once, as the first node"));
                }
                other => {
                    let expected = if version < ENUMS_SINCE { "`context`, `function` or `type`" } else { "`context`, `function`, `type` or `enum`" };
                    return Err(src.at_node(node, format!("unknown node `{other}`: expected {expected}")));
                }
            }
        }
        Registry::build_with_enums(functions, contexts, types, enums)
    }
}

/// KDL v2 newlines (CRLF is handled by the callers as one).
fn is_newline(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// KDL v2 whitespace other than newlines.
fn is_space(c: char) -> bool {
    matches!(c, '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

/// A KDL v2 reader (<https://kdl.dev/spec/>, grammar of 2.0.0): a document becomes a tree of
/// [`Node`]s, each remembering the byte offset it and its entries start at.
///
/// It is a hand-written recursive-descent parser over the text; its only recursion is one level
/// per children block, capped at [`syntax::MAX_DEPTH`]. It stops at the first error (no
/// recovery) and never panics. Everything in the grammar is accepted — comments, slashdash,
/// line continuations, type annotations, quoted, raw and multi-line strings with their
/// dedent rules, hex/octal/binary numbers, `#inf`/`#nan` — so any KDL v2 tool's output reads
/// here; the IR walker then refuses what the IR does not use (type annotations, floats…).
/// Integers must fit an `i128`.
mod syntax {
    use super::{is_newline, is_space};

    /// Children blocks nested deeper than this are refused (the IR needs two levels).
    pub const MAX_DEPTH: usize = 16;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        String(String),
        Integer(i128),
        Float(f64),
        Bool(bool),
        Null,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct Entry {
        /// Byte offset of the entry (its type annotation, property name or value).
        pub pos: usize,
        pub ty: Option<String>,
        /// The property name; `None` for an argument.
        pub key: Option<String>,
        pub value: Value,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct Node {
        /// Byte offset of the node (its type annotation or name).
        pub pos: usize,
        pub ty: Option<String>,
        pub name: String,
        /// Arguments and properties in document order, duplicates included.
        pub entries: Vec<Entry>,
        pub children: Option<Vec<Node>>,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct SyntaxError {
        pub pos: usize,
        pub message: String,
    }

    type PResult<T> = Result<T, SyntaxError>;

    fn error(pos: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError { pos, message: message.into() }
    }

    /// Code points KDL forbids anywhere in a document (the BOM is allowed first).
    fn is_disallowed(c: char) -> bool {
        matches!(
            c,
            '\u{0}'..='\u{8}'
                | '\u{E}'..='\u{1F}'
                | '\u{7F}'
                | '\u{200E}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
    }

    fn is_identifier_char(c: char) -> bool {
        !(is_space(c)
            || is_newline(c)
            || is_disallowed(c)
            || matches!(c, '\\' | '/' | '(' | ')' | '{' | '}' | ';' | '[' | ']' | '"' | '#' | '='))
    }

    /// Parse a whole document.
    pub fn parse(text: &str) -> PResult<Vec<Node>> {
        let body = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let start = text.len() - body.len();
        if let Some((i, c)) = body.char_indices().find(|(_, c)| is_disallowed(*c)) {
            return Err(error(
                start + i,
                format!("U+{:04X} may not appear literally in a KDL document (a quoted string can escape it)", c as u32),
            ));
        }
        let mut p = Parser { src: text, pos: start };
        let nodes = p.nodes(0)?;
        // `nodes` stops at the end or at a `}` with no block open.
        if p.pos < text.len() {
            return Err(p.here("unexpected `}`: no children block is open"));
        }
        Ok(nodes)
    }

    struct Parser<'a> {
        src: &'a str,
        pos: usize,
    }

    impl<'a> Parser<'a> {
        fn rest(&self) -> &'a str {
            self.src.get(self.pos..).unwrap_or("")
        }

        fn peek(&self) -> Option<char> {
            self.rest().chars().next()
        }

        fn starts(&self, s: &str) -> bool {
            self.rest().starts_with(s)
        }

        fn bump(&mut self) -> Option<char> {
            let c = self.peek()?;
            self.pos += c.len_utf8();
            Some(c)
        }

        fn here(&self, message: impl Into<String>) -> SyntaxError {
            error(self.pos, message)
        }

        /// `newline` (CRLF counts once).
        fn newline(&mut self) -> bool {
            if self.starts("\r\n") {
                self.pos += 2;
                return true;
            }
            match self.peek() {
                Some(c) if is_newline(c) => {
                    self.bump();
                    true
                }
                _ => false,
            }
        }

        /// `ws := unicode-space | multi-line-comment`
        fn ws(&mut self) -> PResult<bool> {
            match self.peek() {
                Some(c) if is_space(c) => {
                    self.bump();
                    Ok(true)
                }
                _ if self.starts("/*") => {
                    let start = self.pos;
                    self.pos += 2;
                    let mut depth = 1usize;
                    while depth > 0 {
                        if self.starts("/*") {
                            self.pos += 2;
                            depth += 1;
                        } else if self.starts("*/") {
                            self.pos += 2;
                            depth -= 1;
                        } else if self.bump().is_none() {
                            return Err(error(start, "this `/*` comment is never closed"));
                        }
                    }
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        /// `single-line-comment := '//' ^newline* (newline | eof)`
        fn line_comment(&mut self) -> bool {
            if !self.starts("//") {
                return false;
            }
            while self.peek().is_some_and(|c| !is_newline(c)) {
                self.bump();
            }
            self.newline();
            true
        }

        /// `escline := '\' ws* (single-line-comment | newline | eof)`
        fn escline(&mut self) -> PResult<bool> {
            if self.peek() != Some('\\') {
                return Ok(false);
            }
            let start = self.pos;
            self.bump();
            while self.ws()? {}
            if self.line_comment() || self.newline() || self.peek().is_none() {
                Ok(true)
            } else {
                Err(error(start, "a line continuation `\\` must be followed by a newline or a comment"))
            }
        }

        /// `node-space*`; whether any was read.
        fn node_space(&mut self) -> PResult<bool> {
            let start = self.pos;
            while self.ws()? || self.escline()? {}
            Ok(self.pos > start)
        }

        /// `line-space*`
        fn line_space(&mut self) -> PResult<()> {
            while self.ws()? || self.escline()? || self.newline() || self.line_comment() {}
            Ok(())
        }

        /// `slashdash := '/-' line-space*`, if there is one.
        fn slashdash(&mut self) -> PResult<bool> {
            if !self.starts("/-") {
                return Ok(false);
            }
            let start = self.pos;
            self.pos += 2;
            self.line_space()?;
            match self.peek() {
                None | Some('}' | ';') => Err(error(start, "a slashdash `/-` must be followed by what it comments out")),
                _ if self.starts("/-") => Err(self.here("a slashdash `/-` cannot follow another")),
                _ => Ok(true),
            }
        }

        /// `nodes := (line-space* node)* line-space*`, up to a `}` or the end.
        fn nodes(&mut self, depth: usize) -> PResult<Vec<Node>> {
            let mut out = Vec::new();
            loop {
                self.line_space()?;
                if matches!(self.peek(), None | Some('}')) {
                    return Ok(out);
                }
                let commented = self.slashdash()?;
                let node = self.base_node(depth)?;
                // `node-terminator`; the last node of a block may end at its `}`.
                if !(self.peek().is_none() || self.newline() || self.line_comment()) {
                    match self.peek() {
                        Some(';') => {
                            self.bump();
                        }
                        Some('}') if depth > 0 => {}
                        Some('}') => return Err(self.here("unexpected `}`: no children block is open")),
                        Some(c) => {
                            return Err(self.here(format!("unexpected `{c}`: a node ends at a newline, `;` or `}}`")));
                        }
                        None => {}
                    }
                }
                if !commented {
                    out.push(node);
                }
            }
        }

        /// `base-node`: type, name, entries, children blocks (slashdashed ones dropped).
        fn base_node(&mut self, depth: usize) -> PResult<Node> {
            let pos = self.pos;
            let ty = self.type_annotation()?;
            self.node_space()?;
            let name_pos = self.pos;
            let name = match self.value()? {
                Some(Value::String(s)) => s,
                Some(_) => return Err(error(name_pos, "a node name must be a string")),
                None => return Err(self.unexpected("a node name")),
            };
            let mut node = Node { pos, ty, name, entries: Vec::new(), children: None };
            // Whether a children block (kept or slashdashed) has been read: entries must precede.
            let mut blocks = false;
            loop {
                let spaced = self.node_space()?;
                if self.slashdash()? {
                    if self.peek() == Some('{') {
                        self.children(depth)?;
                        blocks = true;
                    } else if blocks {
                        return Err(self.here("arguments and properties must come before children blocks"));
                    } else if !spaced {
                        return Err(self.here("arguments and properties must be separated by whitespace"));
                    } else {
                        self.entry()?;
                    }
                    continue;
                }
                match self.peek() {
                    Some('{') => {
                        if node.children.is_some() {
                            return Err(self.here("a node has at most one children block"));
                        }
                        node.children = Some(self.children(depth)?);
                        blocks = true;
                    }
                    None | Some(';' | '}') => break,
                    Some(c) if is_newline(c) => break,
                    _ if self.starts("//") => break,
                    _ if blocks => return Err(self.here("arguments and properties must come before children blocks")),
                    _ if !spaced => {
                        return Err(self.here("arguments and properties must be separated by whitespace"));
                    }
                    _ => {
                        let entry = self.entry()?;
                        node.entries.push(entry);
                    }
                }
            }
            Ok(node)
        }

        /// `node-children := '{' nodes final-node? '}'`
        fn children(&mut self, depth: usize) -> PResult<Vec<Node>> {
            let open = self.pos;
            if depth >= MAX_DEPTH {
                return Err(error(open, format!("children blocks nest more than {MAX_DEPTH} levels deep")));
            }
            self.bump();
            let nodes = self.nodes(depth + 1)?;
            if self.peek() != Some('}') {
                return Err(error(open, "this `{` is never closed"));
            }
            self.bump();
            Ok(nodes)
        }

        /// `node-prop-or-arg := prop | value`
        fn entry(&mut self) -> PResult<Entry> {
            let pos = self.pos;
            if let Some(ty) = self.type_annotation()? {
                self.node_space()?;
                let value = self.value()?.ok_or_else(|| self.unexpected("a value after the type annotation"))?;
                if self.starts("=") {
                    return Err(error(pos, "a property name cannot have a type annotation"));
                }
                return Ok(Entry { pos, ty: Some(ty), key: None, value });
            }
            let value = self.value()?.ok_or_else(|| self.unexpected("an argument or a property"))?;
            let after = self.pos;
            self.node_space()?;
            if self.peek() != Some('=') {
                self.pos = after;
                return Ok(Entry { pos, ty: None, key: None, value });
            }
            let Value::String(key) = value else {
                return Err(error(pos, "a property name must be a string"));
            };
            self.bump();
            self.node_space()?;
            let ty = self.type_annotation()?;
            if ty.is_some() {
                self.node_space()?;
            }
            let value = self.value()?.ok_or_else(|| self.unexpected("a property value"))?;
            Ok(Entry { pos, ty, key: Some(key), value })
        }

        fn unexpected(&self, expected: &str) -> SyntaxError {
            match self.peek() {
                None => self.here(format!("expected {expected}, found the end of the document")),
                Some(c) if is_newline(c) => self.here(format!("expected {expected}, found a newline")),
                Some(c) => self.here(format!("expected {expected}, found `{c}`")),
            }
        }

        /// `type := '(' node-space* string node-space* ')'`, if there is one.
        fn type_annotation(&mut self) -> PResult<Option<String>> {
            if self.peek() != Some('(') {
                return Ok(None);
            }
            let open = self.pos;
            self.bump();
            self.node_space()?;
            let name = match self.value()? {
                Some(Value::String(s)) => s,
                _ => return Err(error(open, "a type annotation `(…)` must hold a string")),
            };
            self.node_space()?;
            if self.peek() != Some(')') {
                return Err(self.unexpected("`)` closing the type annotation"));
            }
            self.bump();
            Ok(Some(name))
        }

        /// A string, number or keyword; `None` when nothing here can start one.
        fn value(&mut self) -> PResult<Option<Value>> {
            let start = self.pos;
            match self.peek() {
                Some('"') => self.quoted_string().map(|s| Some(Value::String(s))),
                Some('#') => {
                    let hashes = self.rest().len() - self.rest().trim_start_matches('#').len();
                    if self.rest().get(hashes..).is_some_and(|r| r.starts_with('"')) {
                        return self.raw_string(hashes).map(|s| Some(Value::String(s)));
                    }
                    self.bump();
                    let word = self.bare_token();
                    Ok(Some(match word {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        "null" => Value::Null,
                        "inf" => Value::Float(f64::INFINITY),
                        "-inf" => Value::Float(f64::NEG_INFINITY),
                        "nan" => Value::Float(f64::NAN),
                        _ => {
                            return Err(error(
                                start,
                                format!("unknown keyword `#{word}`: expected #true, #false, #null, #inf, #-inf or #nan"),
                            ));
                        }
                    }))
                }
                Some(c) if is_identifier_char(c) => {
                    let token = self.bare_token();
                    classify(token).map(Some).map_err(|message| error(start, message))
                }
                _ => Ok(None),
            }
        }

        fn bare_token(&mut self) -> &'a str {
            let rest = self.rest();
            let len = rest.find(|c: char| !is_identifier_char(c)).unwrap_or(rest.len());
            self.pos += len;
            rest.get(..len).unwrap_or("")
        }

        /// `'"' single-line-string-body '"'`, or a multi-line `"""` string.
        fn quoted_string(&mut self) -> PResult<String> {
            let start = self.pos;
            if self.starts("\"\"\"") {
                return self.multi_line_string();
            }
            self.bump();
            let mut out = String::new();
            loop {
                match self.peek() {
                    None => return Err(error(start, "this string is never closed")),
                    Some('"') => {
                        self.bump();
                        return Ok(out);
                    }
                    Some('\\') => {
                        let escape = self.pos;
                        self.bump();
                        if self.peek().is_some_and(|c| is_space(c) || is_newline(c)) {
                            self.skip_escaped_whitespace();
                        } else {
                            let len = resolve_escape(self.src.get(escape..).unwrap_or(""), &mut out)
                                .map_err(|message| error(escape, message))?;
                            self.pos = escape + len;
                        }
                    }
                    Some(c) if is_newline(c) => {
                        return Err(error(
                            start,
                            "this string is never closed on its line (a multi-line string starts with \"\"\")",
                        ));
                    }
                    Some(c) => {
                        out.push(c);
                        self.bump();
                    }
                }
            }
        }

        /// The rest of a whitespace escape: all whitespace and newlines after the `\`.
        fn skip_escaped_whitespace(&mut self) {
            while self.peek().is_some_and(|c| is_space(c) || is_newline(c)) {
                self.bump();
            }
        }

        /// `'"""' newline (multi-line-string-body newline)? (unicode-space | ws-escape)* '"""'`
        fn multi_line_string(&mut self) -> PResult<String> {
            let start = self.pos;
            self.pos += 3;
            if !self.newline() {
                return Err(error(start, "a multi-line string's opening \"\"\" must end its line"));
            }
            // The body up to the first unescaped `"""`, whitespace escapes resolved, other
            // escapes kept as written (they are resolved after the dedent).
            let mut body = String::new();
            loop {
                if self.starts("\"\"\"") {
                    self.pos += 3;
                    break;
                }
                match self.bump() {
                    None => return Err(error(start, "this multi-line string is never closed")),
                    Some('\\') if self.peek().is_some_and(|c| is_space(c) || is_newline(c)) => {
                        self.skip_escaped_whitespace();
                    }
                    Some('\\') => {
                        body.push('\\');
                        if let Some(c) = self.bump() {
                            body.push(c);
                        }
                    }
                    Some(c) => body.push(c),
                }
            }
            let dedented = dedent(&body).map_err(|message| error(start, message))?;
            let mut out = String::new();
            let mut rest = dedented.as_str();
            while let Some(i) = rest.find('\\') {
                out.push_str(rest.get(..i).unwrap_or(""));
                let tail = rest.get(i..).unwrap_or("");
                let len = resolve_escape(tail, &mut out).map_err(|message| error(start, message))?;
                rest = tail.get(len..).unwrap_or("");
            }
            out.push_str(rest);
            Ok(out)
        }

        /// `raw-string`, `hashes` `#` from here: no escapes; the first closing quote wins.
        fn raw_string(&mut self, hashes: usize) -> PResult<String> {
            let start = self.pos;
            self.pos += hashes;
            let fence = "#".repeat(hashes);
            if self.starts("\"\"\"") {
                self.pos += 3;
                if !self.newline() {
                    return Err(error(start, "a multi-line raw string's opening \"\"\" must end its line"));
                }
                let close = format!("\"\"\"{fence}");
                let rest = self.rest();
                let Some(end) = rest.find(&close) else {
                    return Err(error(start, "this raw string is never closed"));
                };
                self.pos += end + close.len();
                return dedent(rest.get(..end).unwrap_or("")).map_err(|message| error(start, message));
            }
            self.bump();
            let close = format!("\"{fence}");
            let rest = self.rest();
            let end = rest.find(&close);
            let line_end = rest.find(is_newline);
            match end {
                Some(end) if line_end.is_none_or(|l| end < l) => {
                    self.pos += end + close.len();
                    Ok(rest.get(..end).unwrap_or("").to_string())
                }
                _ => Err(error(start, format!("this raw string is never closed on its line (by \"{fence})"))),
            }
        }
    }

    /// Classify a bare token: a number when it starts like one, else an identifier string.
    fn classify(token: &str) -> Result<Value, String> {
        let unsigned = token.strip_prefix(['+', '-']).unwrap_or(token);
        let digit_first = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
        if digit_first(unsigned) || unsigned.strip_prefix('.').is_some_and(digit_first) {
            return number(token).ok_or_else(|| format!("`{token}` is not a valid number (or does not fit 128 bits)"));
        }
        if matches!(token, "true" | "false" | "null" | "inf" | "-inf" | "nan") {
            return Err(format!("`{token}` is not a KDL v2 value: write #{token}, or \"{token}\" for the string"));
        }
        Ok(Value::String(token.to_string()))
    }

    /// `number := hex | octal | binary | decimal` (keyword numbers are read elsewhere).
    fn number(token: &str) -> Option<Value> {
        let negative = token.starts_with('-');
        let body = token.strip_prefix(['+', '-']).unwrap_or(token);
        let digits_of = |s: &str, radix: u32| {
            s.starts_with(|c: char| c.is_digit(radix)) && s.chars().all(|c| c == '_' || c.is_digit(radix))
        };
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
            if let Some(digits) = body.strip_prefix(prefix) {
                if !digits_of(digits, radix) {
                    return None;
                }
                let clean: String = digits.chars().filter(|c| *c != '_').collect();
                let magnitude = i128::from_str_radix(&clean, radix).ok()?;
                return Some(Value::Integer(if negative { -magnitude } else { magnitude }));
            }
        }
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(i) => (body.get(..i)?, Some(body.get(i + 1..)?)),
            None => (body, None),
        };
        let (integer, fraction) = match mantissa.split_once('.') {
            Some((integer, fraction)) => (integer, Some(fraction)),
            None => (mantissa, None),
        };
        let valid = digits_of(integer, 10)
            && fraction.is_none_or(|f| digits_of(f, 10))
            && exponent.is_none_or(|e| digits_of(e.strip_prefix(['+', '-']).unwrap_or(e), 10));
        if !valid {
            return None;
        }
        let clean: String = token.chars().filter(|c| *c != '_').collect();
        if fraction.is_none() && exponent.is_none() {
            clean.parse().ok().map(Value::Integer)
        } else {
            clean.parse().ok().map(Value::Float)
        }
    }

    /// Resolve the escape at the start of `s` (which starts with `\`) into `out`; its length.
    fn resolve_escape(s: &str, out: &mut String) -> Result<usize, String> {
        let mut chars = s.chars();
        chars.next();
        let c = chars.next().ok_or("a `\\` escape is cut off by the end of the string")?;
        let simple = match c {
            '"' => '"',
            '\\' => '\\',
            'b' => '\u{8}',
            'f' => '\u{C}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            's' => ' ',
            'u' => {
                let hex = s.get(2..).and_then(|r| r.strip_prefix('{')).unwrap_or("");
                let digits = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
                let value = hex.get(..digits).and_then(|d| u32::from_str_radix(d, 16).ok());
                let closed = hex.get(digits..).is_some_and(|r| r.starts_with('}'));
                return match value.and_then(char::from_u32) {
                    Some(ch) if (1..=6).contains(&digits) && closed => {
                        out.push(ch);
                        Ok(digits + 4)
                    }
                    _ => Err("invalid `\\u{…}` escape: it takes 1 to 6 hex digits naming a Unicode scalar value".into()),
                };
            }
            other => return Err(format!("invalid escape `\\{other}`")),
        };
        out.push(simple);
        Ok(1 + c.len_utf8())
    }

    /// The multi-line string rules: the last line (whitespace only) is the indentation every
    /// other line starts with and loses; whitespace-only lines become empty; lines join with LF.
    fn dedent(body: &str) -> Result<String, String> {
        let mut lines: Vec<&str> = Vec::new();
        let mut rest = body;
        while let Some(i) = rest.find(is_newline) {
            lines.push(rest.get(..i).unwrap_or(""));
            let after = rest.get(i..).unwrap_or("");
            let len = if after.starts_with("\r\n") { 2 } else { after.chars().next().map_or(1, char::len_utf8) };
            rest = after.get(len..).unwrap_or("");
        }
        let prefix = rest;
        if !prefix.chars().all(is_space) {
            return Err("a multi-line string's closing \"\"\" must be on its own line".into());
        }
        let mut out: Vec<&str> = Vec::with_capacity(lines.len());
        for line in lines {
            if line.chars().all(is_space) {
                out.push("");
            } else if let Some(stripped) = line.strip_prefix(prefix) {
                out.push(stripped);
            } else {
                return Err("every line of a multi-line string must start with the indentation of its closing \"\"\"".into());
            }
        }
        Ok(out.join("\n"))
    }
}

/// The text being parsed, for turning byte offsets into line and column.
struct Source<'a> {
    text: &'a str,
}

/// A node's entries, split into positional arguments and (unique, known) properties.
struct Parts<'n> {
    node: &'n Node,
    args: Vec<&'n Entry>,
    props: Vec<(&'n str, &'n Entry)>,
}

impl<'n> Parts<'n> {
    fn prop(&self, key: &str) -> Option<&'n Entry> {
        self.props.iter().find(|(k, _)| *k == key).map(|(_, e)| *e)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Bool(_) => "a boolean",
        Value::Null => "#null",
    }
}

fn children(node: &Node) -> &[Node] {
    node.children.as_deref().unwrap_or(&[])
}

impl Source<'_> {
    /// 1-based line and column (in Unicode scalar values) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let (mut line, mut column) = (1, 1);
        let mut after_cr = false;
        for (i, c) in self.text.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' && after_cr {
                after_cr = false;
                continue;
            }
            after_cr = c == '\r';
            if is_newline(c) {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        (line, column)
    }

    fn error(&self, offset: usize, message: impl Display) -> Error {
        let (line, column) = self.line_col(offset);
        Error::new(ErrorCode::InvalidIr, format!("line {line}, column {column}: {message}"))
            .with_details(json!({ "line": line, "column": column }))
    }

    fn at_node(&self, node: &Node, message: impl Display) -> Error {
        self.error(node.pos, message)
    }

    fn at_entry(&self, entry: &Entry, message: impl Display) -> Error {
        self.error(entry.pos, message)
    }

    /// The first node, `mizan-ir version=N`: the document's version.
    fn header(&self, node: &Node) -> Result<u64> {
        if node.name.as_str() != "mizan-ir" {
            return Err(self.at_node(node, "the first node must be `mizan-ir version=1`"));
        }
        let parts = self.parts(node, &["version"])?;
        if let Some(extra) = parts.args.first() {
            return Err(self.at_entry(extra, "`mizan-ir` takes no arguments, only version=1"));
        }
        self.no_children(node)?;
        let Some(entry) = parts.prop("version") else {
            return Err(self.at_node(node, "`mizan-ir` needs version=1"));
        };
        match &entry.value {
            Value::Integer(v) => match u64::try_from(*v) {
                Ok(v) if (1..=IR_VERSION).contains(&v) => Ok(v),
                _ => Err(self.at_entry(
                    entry,
                    format!("unsupported IR version {v}: this kernel reads versions 1 to {IR_VERSION}"),
                )),
            },
            other => Err(self.at_entry(entry, format!("version must be an integer (version=1), not {}", kind(other)))),
        }
    }

    /// `context NAME [shared=bool] { member NAME… }`
    fn context(&self, node: &Node) -> Result<ContextDecl> {
        let parts = self.parts(node, &["shared"])?;
        let name = self.name_arg(&parts, "context")?;
        let shared = self.opt_bool(&parts, "shared")?.unwrap_or(false);
        let mut members: Option<Vec<String>> = None;
        for child in children(node) {
            match child.name.as_str() {
                "member" => {
                    let p = self.parts(child, &[])?;
                    self.no_children(child)?;
                    members.get_or_insert_with(Vec::new).extend(self.string_args(&p, "member")?);
                }
                other => {
                    return Err(self.at_node(
                        child,
                        format!("unknown node `{other}` in context `{name}`: expected `member`"),
                    ));
                }
            }
        }
        Ok(ContextDecl { name, shared, members })
    }

    /// `function NAME props… { input… affects… merge… methods… form }`
    fn function(&self, node: &Node) -> Result<Function> {
        let parts = self.parts(node, &FUNCTION_PROPS)?;
        let name = self.name_arg(&parts, "function")?;
        let output = match parts.prop("output") {
            Some(entry) => self.type_of(entry)?,
            None => return Err(self.at_node(node, format!("function `{name}` needs output=TYPE"))),
        };
        let mut f = Function::new(name, output);
        if let Some(entry) = parts.prop("context") {
            let context = self.string(entry, "context")?;
            if !is_identifier(&context) {
                return Err(self.at_entry(entry, format!("context=`{context}` is not an identifier")));
            }
            f.context = Some(context);
        }
        if let Some(entry) = parts.prop("auth") {
            f.auth = self.auth(entry)?;
        }
        f.private = self.opt_bool(&parts, "private")?.unwrap_or(false);
        f.view = self.opt_bool(&parts, "view")?.unwrap_or(false);
        f.websocket = self.opt_bool(&parts, "websocket")?.unwrap_or(false);
        if let Some(entry) = parts.prop("rev") {
            f.rev = self.non_negative(entry, "rev")?;
        }
        if let Some(entry) = parts.prop("cache") {
            f.cache = Some(match &entry.value {
                Value::Bool(false) => CacheSetting::Never,
                Value::Integer(_) => CacheSetting::Ttl(self.non_negative(entry, "cache")?),
                other => {
                    return Err(self.at_entry(
                        entry,
                        format!("cache must be #false or a TTL in seconds (a non-negative integer), not {}", describe(other)),
                    ));
                }
            });
        }
        if let Some(entry) = parts.prop("route") {
            f.route = Some(self.string(entry, "route")?);
        }
        for child in children(node) {
            match child.name.as_str() {
                "input" => {
                    let (name, ty, required) = self.typed(child, "input")?;
                    f.inputs.push(Input { name, ty, required });
                }
                "affects" | "merge" | "methods" => {
                    let what = child.name.as_str();
                    let p = self.parts(child, &[])?;
                    self.no_children(child)?;
                    let values = self.string_args(&p, what)?;
                    match what {
                        "affects" => f.affects.extend(values),
                        "merge" => f.merge.extend(values),
                        _ => {
                            for (entry, method) in p.args.iter().zip(values) {
                                if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() {
                                    return Err(self.at_entry(
                                        entry,
                                        format!("`{method}` is not an HTTP method (uppercase letters, like POST)"),
                                    ));
                                }
                                f.methods.push(method);
                            }
                        }
                    }
                }
                "form" => {
                    if f.form.is_some() {
                        return Err(self.at_node(child, format!("function `{}` has more than one `form`", f.name)));
                    }
                    let p = self.parts(child, &["role", "name"])?;
                    if let Some(extra) = p.args.first() {
                        return Err(self.at_entry(extra, "`form` takes no arguments, only role= and name="));
                    }
                    self.no_children(child)?;
                    let Some(role_entry) = p.prop("role") else {
                        return Err(self.at_node(child, "`form` needs role=schema, role=validate or role=submit"));
                    };
                    let role = self.string(role_entry, "role")?;
                    if !FORM_ROLES.contains(&role.as_str()) {
                        return Err(self.at_entry(
                            role_entry,
                            format!("unknown form role `{role}`: expected schema, validate or submit"),
                        ));
                    }
                    f.form = Some(role);
                    if let Some(entry) = p.prop("name") {
                        f.form_name = Some(self.string(entry, "name")?);
                    }
                }
                other => {
                    return Err(self.at_node(
                        child,
                        format!(
                            "unknown node `{other}` in function `{}`: expected `input`, `affects`, `merge`, `methods` or `form`",
                            f.name
                        ),
                    ));
                }
            }
        }
        Ok(f)
    }

    /// `type NAME [key=FIELD] { field NAME type=T [required=bool]… }`
    fn object_type(&self, node: &Node) -> Result<ObjectType> {
        let parts = self.parts(node, &["key"])?;
        let name = self.name_arg(&parts, "type")?;
        let key = match parts.prop("key") {
            Some(entry) => Some(self.string(entry, "key")?),
            None => None,
        };
        let mut fields = Vec::new();
        for child in children(node) {
            match child.name.as_str() {
                "field" => {
                    let (name, ty, required) = self.typed(child, "field")?;
                    fields.push(Field { name, ty, required });
                }
                other => {
                    return Err(self.at_node(child, format!("unknown node `{other}` in type `{name}`: expected `field`")));
                }
            }
        }
        Ok(ObjectType { name, fields, key })
    }

    /// `enum NAME { value V… }` (version 2). Whether it has values, and no value twice, is the
    /// graph check's job (the JSON form goes through it too).
    fn enum_type(&self, node: &Node) -> Result<EnumType> {
        let parts = self.parts(node, &[])?;
        let name = self.name_arg(&parts, "enum")?;
        let mut values = Vec::new();
        for child in children(node) {
            match child.name.as_str() {
                "value" => {
                    let p = self.parts(child, &[])?;
                    self.no_children(child)?;
                    values.extend(self.string_args(&p, "value")?);
                }
                other => {
                    return Err(self.at_node(child, format!("unknown node `{other}` in enum `{name}`: expected `value`")));
                }
            }
        }
        Ok(EnumType { name, values })
    }

    /// `input|field NAME type=T [required=bool]`; `required` defaults to "not `optional<…>`".
    fn typed(&self, node: &Node, what: &str) -> Result<(String, TypeRef, bool)> {
        let parts = self.parts(node, &["type", "required"])?;
        let name = self.name_arg(&parts, what)?;
        self.no_children(node)?;
        let ty = match parts.prop("type") {
            Some(entry) => self.type_of(entry)?,
            None => return Err(self.at_node(node, format!("{what} `{name}` needs type=TYPE"))),
        };
        let required = self.opt_bool(&parts, "required")?.unwrap_or(!matches!(ty, TypeRef::Optional(_)));
        Ok((name, ty, required))
    }

    /// Split a node's entries, refusing type annotations, unknown and repeated properties.
    fn parts<'n>(&self, node: &'n Node, allowed: &[&str]) -> Result<Parts<'n>> {
        let what = node.name.as_str();
        if node.ty.is_some() {
            return Err(self.at_node(node, format!("`{what}`: type annotations are not part of the IR")));
        }
        let mut parts = Parts { node, args: Vec::new(), props: Vec::new() };
        for entry in &node.entries {
            if entry.ty.is_some() {
                return Err(self.at_entry(entry, format!("`{what}`: type annotations are not part of the IR")));
            }
            match entry.key.as_deref() {
                None => parts.args.push(entry),
                Some(key) => {
                    if !allowed.contains(&key) {
                        let expected = if allowed.is_empty() {
                            "it takes no properties".to_string()
                        } else {
                            format!("expected {}", allowed.join(", "))
                        };
                        return Err(self.at_entry(entry, format!("unknown property `{key}` on `{what}`: {expected}")));
                    }
                    if parts.prop(key).is_some() {
                        return Err(self.at_entry(entry, format!("duplicate property `{key}` on `{what}`")));
                    }
                    parts.props.push((key, entry));
                }
            }
        }
        Ok(parts)
    }

    /// The single positional argument naming a context, function, type, input or field.
    fn name_arg(&self, parts: &Parts<'_>, what: &str) -> Result<String> {
        let mut args = parts.args.iter();
        let Some(first) = args.next() else {
            return Err(self.at_node(parts.node, format!("`{what}` needs a name")));
        };
        let name = self.string(first, &format!("the {what} name"))?;
        if let Some(extra) = args.next() {
            return Err(self.at_entry(extra, format!("unexpected argument after the {what} name `{name}`")));
        }
        Ok(name)
    }

    /// One or more string arguments (`affects`, `merge`, `methods`, `member`, `value`).
    fn string_args(&self, parts: &Parts<'_>, what: &str) -> Result<Vec<String>> {
        if parts.args.is_empty() {
            return Err(self.at_node(parts.node, format!("`{what}` needs at least one name")));
        }
        parts.args.iter().map(|e| self.string(e, what)).collect()
    }

    fn no_children(&self, node: &Node) -> Result<()> {
        if node.children.is_some() {
            return Err(self.at_node(node, format!("`{}` takes no children block", node.name.as_str())));
        }
        Ok(())
    }

    fn string(&self, entry: &Entry, what: &str) -> Result<String> {
        match &entry.value {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.at_entry(entry, format!("{what} must be a string, not {}", describe(other)))),
        }
    }

    fn opt_bool(&self, parts: &Parts<'_>, key: &str) -> Result<Option<bool>> {
        match parts.prop(key) {
            None => Ok(None),
            Some(entry) => match &entry.value {
                Value::Bool(b) => Ok(Some(*b)),
                other => Err(self.at_entry(entry, format!("{key} must be #true or #false, not {}", describe(other)))),
            },
        }
    }

    fn non_negative(&self, entry: &Entry, what: &str) -> Result<u64> {
        match &entry.value {
            Value::Integer(v) => u64::try_from(*v)
                .map_err(|_| self.at_entry(entry, format!("{what} must be a non-negative integer below 2^64, not {v}"))),
            other => Err(self.at_entry(entry, format!("{what} must be a non-negative integer, not {}", describe(other)))),
        }
    }

    fn type_of(&self, entry: &Entry) -> Result<TypeRef> {
        let what = entry.key.as_deref().unwrap_or("type");
        let text = self.string(entry, what)?;
        TypeRef::parse(&text).map_err(|e| self.at_entry(entry, format!("{what}=\"{text}\": {e}")))
    }

    fn auth(&self, entry: &Entry) -> Result<Auth> {
        let text = self.string(entry, "auth")?;
        Ok(match text.as_str() {
            "required" => Auth::Required,
            "staff" => Auth::Staff,
            "superuser" => Auth::Superuser,
            other => match other.strip_prefix("predicate:") {
                Some(name) if !name.is_empty() => Auth::Predicate(name.to_string()),
                _ => {
                    return Err(self.at_entry(
                        entry,
                        format!("auth=\"{text}\": expected required, staff, superuser or \"predicate:NAME\""),
                    ));
                }
            },
        })
    }
}

/// A value's kind, with the value itself when it is short (for error messages).
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() <= 40 => format!("the string \"{s}\""),
        Value::Integer(v) => format!("the integer {v}"),
        Value::Float(v) => format!("the float {v}"),
        Value::Bool(b) => format!("#{b}"),
        other => kind(other).to_string(),
    }
}


#[cfg(test)]
mod tests {
    use super::syntax::{self, Node, Value};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    /// A node tree in the form of the KDL test suite's expected files: properties deduplicated
    /// (the rightmost wins) and sorted, empty children blocks dropped.
    fn dump(out: &mut String, depth: usize, name: &str, ty: Option<&str>, args: Vec<String>, props: Vec<(String, String)>) {
        out.push_str(&"  ".repeat(depth));
        if let Some(ty) = ty {
            out.push_str(&format!("({ty:?})"));
        }
        out.push_str(&format!("{name:?}"));
        for a in args {
            out.push(' ');
            out.push_str(&a);
        }
        let props: BTreeMap<String, String> = props.into_iter().collect();
        for (k, v) in props {
            out.push_str(&format!(" {k:?}={v}"));
        }
        out.push('\n');
    }

    fn float(f: f64) -> String {
        if f.is_nan() { "#nan".into() } else { format!("{f:?}") }
    }

    fn mine(nodes: &[Node], depth: usize, out: &mut String) {
        let repr = |ty: &Option<String>, v: &Value| {
            let t = ty.as_ref().map(|t| format!("({t:?})")).unwrap_or_default();
            t + &match v {
                Value::String(s) => format!("{s:?}"),
                Value::Integer(i) => i.to_string(),
                Value::Float(f) => float(*f),
                Value::Bool(b) => format!("#{b}"),
                Value::Null => "#null".into(),
            }
        };
        for n in nodes {
            let args = n.entries.iter().filter(|e| e.key.is_none()).map(|e| repr(&e.ty, &e.value)).collect();
            let props = n
                .entries
                .iter()
                .filter_map(|e| e.key.as_ref().map(|k| (k.clone(), repr(&e.ty, &e.value))))
                .collect();
            dump(out, depth, &n.name, n.ty.as_deref(), args, props);
            mine(n.children.as_deref().unwrap_or(&[]), depth + 1, out);
        }
    }

    fn theirs(doc: &::kdl::KdlDocument, depth: usize, out: &mut String) {
        let repr = |e: &::kdl::KdlEntry| {
            let t = e.ty().map(|t| format!("({:?})", t.value())).unwrap_or_default();
            t + &match e.value() {
                ::kdl::KdlValue::String(s) => format!("{s:?}"),
                ::kdl::KdlValue::Integer(i) => i.to_string(),
                ::kdl::KdlValue::Float(f) => float(*f),
                ::kdl::KdlValue::Bool(b) => format!("#{b}"),
                ::kdl::KdlValue::Null => "#null".into(),
            }
        };
        for n in doc.nodes() {
            let args = n.entries().iter().filter(|e| e.name().is_none()).map(repr).collect();
            let props = n
                .entries()
                .iter()
                .filter_map(|e| e.name().map(|k| (k.value().to_string(), repr(e))))
                .collect();
            dump(out, depth, n.name().value(), n.ty().map(|t| t.value()), args, props);
            if let Some(children) = n.children() {
                theirs(children, depth + 1, out);
            }
        }
    }

    /// The official KDL test suite, as shipped inside the `kdl` crate's sources.
    fn suite() -> Option<PathBuf> {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        for registry in std::fs::read_dir(home.join("registry").join("src")).ok()?.flatten() {
            let mut crates: Vec<PathBuf> = std::fs::read_dir(registry.path())
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("kdl-6.")))
                .collect();
            crates.sort();
            if let Some(dir) = crates.pop() {
                return Some(dir.join("tests").join("test_cases"));
            }
        }
        None
    }

    #[test]
    fn official_kdl_test_suite() {
        let Some(dir) = suite().filter(|d| d.is_dir()) else {
            eprintln!("the KDL test suite is not available; skipped");
            return;
        };
        let mut failures = Vec::new();
        let mut count = 0;
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir.join("input")).into_iter().flatten().flatten().map(|e| e.path()).collect();
        inputs.sort();
        for input in inputs {
            let name = input.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let text = std::fs::read_to_string(&input).unwrap_or_default().replace("\r\n", "\n");
            count += 1;
            let parsed = syntax::parse(&text);
            if name.ends_with("_fail.kdl") {
                if parsed.is_ok() {
                    failures.push(format!("{name}: should fail, parsed"));
                }
                continue;
            }
            let nodes = match parsed {
                Ok(nodes) => nodes,
                Err(e) => {
                    failures.push(format!("{name}: should parse, got {e:?}"));
                    continue;
                }
            };
            // A few valid inputs have no expected file in this copy of the suite.
            let Ok(expected_text) = std::fs::read_to_string(dir.join("expected_kdl").join(&name)) else {
                continue;
            };
            let mut expected = String::new();
            match ::kdl::KdlDocument::parse_v2(&expected_text) {
                Ok(doc) => theirs(&doc, 0, &mut expected),
                Err(_) => match syntax::parse(&expected_text) {
                    Ok(n) => mine(&n, 0, &mut expected),
                    Err(e) => {
                        failures.push(format!("{name}: expected file does not parse: {e:?}"));
                        continue;
                    }
                },
            }
            let mut actual = String::new();
            mine(&nodes, 0, &mut actual);
            if actual != expected {
                failures.push(format!("{name}: mismatch\n--- expected\n{expected}--- actual\n{actual}"));
            }
        }
        assert!(count > 300, "only {count} test cases found");
        assert!(failures.is_empty(), "{} of {count} failed:\n{}", failures.len(), failures.join("\n"));
    }
}
