//! A KDL v2 reader (<https://kdl.dev/spec/>, grammar of 2.0.0): a document becomes a tree of
//! [`Node`]s, each remembering the byte offset it and its entries start at. Nothing here knows
//! the IR; `walk.rs` gives the nodes their meaning.
//!
//! Why a reader of our own rather than the `kdl` crate: that crate's parser recurses once per
//! syntax error it recovers from, so a few KiB of adversarial input exhaust the stack, and a
//! stack overflow traps the whole component instance (a panic cannot be caught in wasm). This
//! one is a hand-written recursive-descent parser whose only recursion is one level per children
//! block, capped at [`MAX_DEPTH`]; it stops at the first error (no recovery) and never indexes,
//! unwraps or panics on input. The `kdl` crate stays a dev-dependency: the official KDL test
//! suite it ships checks this reader (`tests.rs`).
//!
//! Everything in the grammar is accepted — comments, slashdash, line continuations, type
//! annotations, quoted, raw and multi-line strings with their dedent rules, hex/octal/binary
//! numbers, `#inf`/`#nan` — so any KDL v2 tool's output reads here; the IR walker then refuses
//! what the IR does not use (type annotations, floats…). Integers must fit an `i128`.

/// KDL v2 newlines (CRLF is handled by the callers as one).
fn is_newline(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// KDL v2 whitespace other than newlines.
fn is_space(c: char) -> bool {
    matches!(c, '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

/// 1-based line and column (in Unicode scalar values) of a byte offset, counting lines by KDL's
/// newlines (CRLF once), so error positions match what an editor shows.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    let mut after_cr = false;
    for (i, c) in text.char_indices() {
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
