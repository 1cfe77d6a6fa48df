//! The KDL IR parser (KERNEL.md §3; the grammar is documented in `docs/IR.md`).
//!
//! The text is parsed as a KDL v2 document by the `kdl` crate, then walked node by node. Every
//! grammar problem is an [`ErrorCode::InvalidIr`] error whose message says what is wrong and
//! where, and whose `details` is `{"line": L, "column": C}` (1-based; the column counts Unicode
//! scalar values). The walk stops at the first problem. What is left — names that must resolve,
//! duplicates, the graph rules — is [`Registry::build`]'s job, and its `InvalidRegistry` error is
//! passed through unchanged.
//!
//! Nothing here indexes, unwraps or recurses on input: every input yields `Ok` or `Err`.

use super::build::ContextDecl;
use super::model::*;
use crate::error::{Error, ErrorCode, Result};
use ::kdl::{KdlDocument, KdlEntry, KdlError, KdlNode, KdlValue};
use serde_json::json;
use std::fmt::Display;

/// The one IR version this kernel reads and writes.
pub const IR_VERSION: u64 = 1;

/// How many children blocks the KDL parser may have open at once. It recurses once per block,
/// several KiB of stack a level (tens of KiB in a debug build); the IR itself needs two levels.
/// See [`Scan`] for how no input can take it deeper.
const MAX_OPEN_BLOCKS: usize = 16;

const FUNCTION_PROPS: [&str; 9] = ["context", "output", "auth", "private", "view", "websocket", "rev", "cache", "route"];
const FORM_ROLES: [&str; 3] = ["schema", "validate", "submit"];

impl Registry {
    /// Parse KDL IR text (`mizan-ir version=1` …) into a checked registry.
    pub fn from_kdl(text: &str) -> Result<Registry> {
        let mut functions = Vec::new();
        let mut contexts = Vec::new();
        let mut types = Vec::new();
        let mut seen_header = false;
        let scan = Scan::new(text);
        for (base, end) in scan.chunks()? {
            let src = Source { text, base };
            let doc = scan.parse(base, end).map_err(|e| src.syntax_error(&e))?;
            for node in doc.nodes() {
                if !seen_header {
                    src.header(node)?;
                    seen_header = true;
                    continue;
                }
                match node.name().value() {
                    "context" => contexts.push(src.context(node)?),
                    "function" => functions.push(src.function(node)?),
                    "type" => types.push(src.object_type(node)?),
                    "mizan-ir" => {
                        return Err(src.at_node(node, "`mizan-ir` may appear only once, as the first node"));
                    }
                    other => {
                        return Err(src.at_node(
                            node,
                            format!("unknown node `{other}`: expected `context`, `function` or `type`"),
                        ));
                    }
                }
            }
        }
        if !seen_header {
            let src = Source { text, base: 0 };
            return Err(src.error(0, "the IR is empty: it must start with `mizan-ir version=1`"));
        }
        Registry::build(functions, contexts, types)
    }
}

/// Whether `c` is a KDL v2 newline (CRLF is two of them here, which is harmless where this is
/// used, and is counted once by [`Source::line_col`]).
fn is_newline(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// KDL v2 whitespace other than newlines.
fn is_space(c: char) -> bool {
    matches!(c, '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// A light scan of the text that keeps the recursive KDL parser's stack use bounded on any
/// input, however malformed.
///
/// The parser opens a block at a `{` and its error recovery resumes parsing anywhere, so no
/// reading of the text can say which `{` it will treat as blocks — only that it opens at most
/// as many blocks as it is handed `{` characters. So:
///
/// - the scan reads strings (quoted, multi-line, raw) and comments as KDL v2 does, and builds a
///   `masked` copy of the text, byte for byte the same length, in which every `{`/`}` inside a
///   string or comment is replaced (a `\u{…}` escape by an equally long run of `\\` escapes), so
///   that its only braces are the structural ones;
/// - the text is cut at top-level node boundaries into chunks of at most [`MAX_OPEN_BLOCKS`]
///   structural `{` each, and a chunk is parsed on its own;
/// - a chunk with at most that many `{` in all is parsed as is. Otherwise its masked copy is
///   parsed first (safe: few braces), and the chunk itself only if the copy is valid KDL: then
///   the scan read it as KDL does, its other braces sit in strings and comments, and the chunk
///   parses the same way, opening no more blocks than its copy.
struct Scan<'a> {
    text: &'a str,
    masked: Vec<u8>,
    /// Where the text may be cut: the ends of newlines and `;` outside strings, comments and
    /// children blocks, and not right after a line continuation (`\`) or a slashdash (`/-`,
    /// which may be followed by newlines). A valid document parses the same whole or in chunks;
    /// on an invalid one the cut changes only which error is reported.
    boundaries: Vec<usize>,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        let mut scan = Scan { text, masked: text.as_bytes().to_vec(), boundaries: Vec::new() };
        let mut chars: Chars<'a> = text.char_indices().peekable();
        let mut depth = 0usize;
        let (mut continuation, mut slashdash) = (false, false);
        while let Some((i, c)) = chars.next() {
            let mut after = i + c.len_utf8();
            if c == '\r' && chars.next_if(|(_, c)| *c == '\n').is_some() {
                after += 1;
            }
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                '"' => {
                    let multi_line = scan.rest(after).starts_with("\"\"");
                    if multi_line {
                        chars.next();
                        chars.next();
                    }
                    scan.string(&mut chars, if multi_line { "\"\"\"" } else { "\"" }, !multi_line, false);
                }
                '#' if scan.rest(i).trim_start_matches('#').starts_with('"') => {
                    let hashes = scan.rest(i).len() - scan.rest(i).trim_start_matches('#').len();
                    let multi_line = scan.rest(i + hashes).starts_with("\"\"\"");
                    let quotes = if multi_line { 3 } else { 1 };
                    for _ in 1..hashes + quotes {
                        chars.next();
                    }
                    let close = format!("{}{}", if multi_line { "\"\"\"" } else { "\"" }, "#".repeat(hashes));
                    scan.string(&mut chars, &close, !multi_line, true);
                }
                '/' if scan.rest(after).starts_with('/') => {
                    while let Some((j, _)) = chars.next_if(|(_, c)| !is_newline(*c)) {
                        scan.mask_brace(j);
                    }
                    continue;
                }
                '/' if scan.rest(after).starts_with('*') => {
                    chars.next();
                    scan.block_comment(&mut chars);
                    continue;
                }
                '/' if scan.rest(after).starts_with('-') => {
                    chars.next();
                    slashdash = true;
                    continue;
                }
                '\\' => {
                    continuation = true;
                    continue;
                }
                c if is_newline(c) || c == ';' => {
                    if depth == 0 && !continuation && !slashdash {
                        scan.boundaries.push(after);
                    }
                    if is_newline(c) {
                        continuation = false;
                    }
                    continue;
                }
                c if is_space(c) || c == '\u{FEFF}' => continue,
                _ => {}
            }
            continuation = false;
            slashdash = false;
        }
        scan
    }

    fn rest(&self, i: usize) -> &'a str {
        self.text.get(i..).unwrap_or("")
    }

    fn mask_brace(&mut self, i: usize) {
        if let Some(b @ (b'{' | b'}')) = self.masked.get_mut(i) {
            *b = b'_';
        }
    }

    /// Consume a string body up to and including `close`, masking its braces. `\` escapes one
    /// character, or a run of whitespace and newlines, unless the string is `raw`. A
    /// `single_line` string also stops, unterminated, before a newline (where KDL rejects it).
    fn string(&mut self, chars: &mut Chars<'a>, close: &str, single_line: bool, raw: bool) {
        while let Some(&(i, c)) = chars.peek() {
            if single_line && is_newline(c) {
                return;
            }
            chars.next();
            if c == '\\' && !raw {
                if chars.next_if(|(_, c)| is_space(*c) || is_newline(*c)).is_some() {
                    while chars.next_if(|(_, c)| is_space(*c) || is_newline(*c)).is_some() {}
                } else if let Some(len) = unicode_escape(self.rest(i)) {
                    // `\u{…}` becomes `\\` escapes (and one plain `a` when the length is odd).
                    for k in 0..len {
                        if let Some(b) = self.masked.get_mut(i + k) {
                            *b = if len % 2 == 1 && k == len - 1 { b'a' } else { b'\\' };
                        }
                    }
                    for _ in 1..len {
                        chars.next();
                    }
                } else if let Some((j, _)) = chars.next() {
                    self.mask_brace(j);
                }
            } else if self.rest(i).starts_with(close) {
                for _ in 1..close.len() {
                    chars.next();
                }
                return;
            } else {
                self.mask_brace(i);
            }
        }
    }

    /// Consume a (nestable) `/* */` comment whose `/*` has been consumed, masking its braces.
    fn block_comment(&mut self, chars: &mut Chars<'a>) {
        let mut nesting = 1usize;
        while let Some((j, c)) = chars.next() {
            let next = self.rest(j + 1);
            if c == '/' && next.starts_with('*') {
                chars.next();
                nesting += 1;
            } else if c == '*' && next.starts_with('/') {
                chars.next();
                nesting -= 1;
                if nesting == 0 {
                    return;
                }
            } else {
                self.mask_brace(j);
            }
        }
    }

    /// `(start, end)` byte ranges, cut at boundaries, each with at most [`MAX_OPEN_BLOCKS`]
    /// structural `{`.
    fn chunks(&self) -> Result<Vec<(usize, usize)>> {
        let mut out = Vec::new();
        let mut boundaries = self.boundaries.iter().copied().peekable();
        let mut start = 0usize;
        let mut last_boundary: Option<usize> = None;
        // Structural `{` in the current chunk, and since its last boundary.
        let (mut in_chunk, mut since_boundary) = (0usize, 0usize);
        for (i, b) in self.masked.iter().enumerate() {
            while let Some(boundary) = boundaries.next_if(|b| *b <= i) {
                last_boundary = Some(boundary);
                since_boundary = 0;
            }
            if *b != b'{' {
                continue;
            }
            in_chunk += 1;
            since_boundary += 1;
            if in_chunk > MAX_OPEN_BLOCKS {
                match last_boundary.filter(|b| *b > start) {
                    Some(boundary) if since_boundary <= MAX_OPEN_BLOCKS => {
                        out.push((start, boundary));
                        start = boundary;
                        in_chunk = since_boundary;
                    }
                    _ => {
                        let src = Source { text: self.text, base: 0 };
                        return Err(src.error(
                            i,
                            format!("children blocks nest more than {MAX_OPEN_BLOCKS} levels deep"),
                        ));
                    }
                }
            }
        }
        out.push((start, self.text.len()));
        Ok(out)
    }

    /// Parse one chunk (see [`Scan`] for why this is safe).
    fn parse(&self, start: usize, end: usize) -> Result<KdlDocument, KdlError> {
        let chunk = self.text.get(start..end).unwrap_or("");
        if chunk.bytes().filter(|b| *b == b'{').count() > MAX_OPEN_BLOCKS {
            let masked = self.masked.get(start..end).unwrap_or(&[]);
            // Only ASCII bytes were replaced, by ASCII bytes, so this is still UTF-8.
            KdlDocument::parse_v2(std::str::from_utf8(masked).unwrap_or(""))?;
        }
        KdlDocument::parse_v2(chunk)
    }
}

/// The length of a well-formed `\u{…}` escape (1 to 6 hex digits naming a Unicode scalar
/// value) at the start of `s`.
fn unicode_escape(s: &str) -> Option<usize> {
    let hex = s.strip_prefix("\\u{")?;
    let digits = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    let value = u32::from_str_radix(hex.get(..digits)?, 16).ok()?;
    ((1..=6).contains(&digits) && hex.get(digits..)?.starts_with('}') && char::from_u32(value).is_some())
        .then_some(digits + 4)
}

/// The text being parsed, for turning byte offsets into line and column. `base` is the offset
/// of the chunk whose spans are being reported.
struct Source<'a> {
    text: &'a str,
    base: usize,
}

/// A node's entries, split into positional arguments and (unique, known) properties.
struct Parts<'n> {
    node: &'n KdlNode,
    args: Vec<&'n KdlEntry>,
    props: Vec<(&'n str, &'n KdlEntry)>,
}

impl<'n> Parts<'n> {
    fn prop(&self, key: &str) -> Option<&'n KdlEntry> {
        self.props.iter().find(|(k, _)| *k == key).map(|(_, e)| *e)
    }
}

fn kind(value: &KdlValue) -> &'static str {
    match value {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a float",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

fn children(node: &KdlNode) -> &[KdlNode] {
    node.children().map(KdlDocument::nodes).unwrap_or(&[])
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

    fn at_node(&self, node: &KdlNode, message: impl Display) -> Error {
        self.error(self.base + node.span().offset(), message)
    }

    fn at_entry(&self, entry: &KdlEntry, message: impl Display) -> Error {
        self.error(self.base + entry.span().offset(), message)
    }

    fn syntax_error(&self, e: &KdlError) -> Error {
        let first = e.diagnostics.iter().min_by_key(|d| d.span.offset());
        let offset = self.base + first.map(|d| d.span.offset()).unwrap_or(0);
        let mut message = String::from("KDL syntax error: ");
        message.push_str(first.and_then(|d| d.message.as_deref()).unwrap_or("the text is not a KDL v2 document"));
        if let Some(help) = first.and_then(|d| d.help.as_deref()) {
            message.push_str(" (");
            message.push_str(help);
            message.push(')');
        }
        self.error(offset, message)
    }

    /// The first node: `mizan-ir version=1`.
    fn header(&self, node: &KdlNode) -> Result<()> {
        if node.name().value() != "mizan-ir" {
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
        match entry.value() {
            KdlValue::Integer(v) if *v == i128::from(IR_VERSION) => Ok(()),
            KdlValue::Integer(v) => Err(self.at_entry(
                entry,
                format!("unsupported IR version {v}: this kernel reads version {IR_VERSION}"),
            )),
            other => Err(self.at_entry(
                entry,
                format!("version must be an integer (version={IR_VERSION}), not {}", kind(other)),
            )),
        }
    }

    /// `context NAME [shared=bool] { member NAME… }`
    fn context(&self, node: &KdlNode) -> Result<ContextDecl> {
        let parts = self.parts(node, &["shared"])?;
        let name = self.name_arg(&parts, "context")?;
        let shared = self.opt_bool(&parts, "shared")?.unwrap_or(false);
        let mut members: Option<Vec<String>> = None;
        for child in children(node) {
            match child.name().value() {
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
    fn function(&self, node: &KdlNode) -> Result<Function> {
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
            f.cache = Some(match entry.value() {
                KdlValue::Bool(false) => CacheSetting::Never,
                KdlValue::Integer(_) => CacheSetting::Ttl(self.non_negative(entry, "cache")?),
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
            match child.name().value() {
                "input" => {
                    let (name, ty, required) = self.typed(child, "input")?;
                    f.inputs.push(Input { name, ty, required });
                }
                "affects" | "merge" | "methods" => {
                    let what = child.name().value();
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
    fn object_type(&self, node: &KdlNode) -> Result<ObjectType> {
        let parts = self.parts(node, &["key"])?;
        let name = self.name_arg(&parts, "type")?;
        let key = match parts.prop("key") {
            Some(entry) => Some(self.string(entry, "key")?),
            None => None,
        };
        let mut fields = Vec::new();
        for child in children(node) {
            match child.name().value() {
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

    /// `input|field NAME type=T [required=bool]`; `required` defaults to "not `optional<…>`".
    fn typed(&self, node: &KdlNode, what: &str) -> Result<(String, TypeRef, bool)> {
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
    fn parts<'n>(&self, node: &'n KdlNode, allowed: &[&str]) -> Result<Parts<'n>> {
        let what = node.name().value();
        if node.ty().is_some() {
            return Err(self.at_node(node, format!("`{what}`: type annotations are not part of the IR")));
        }
        let mut parts = Parts { node, args: Vec::new(), props: Vec::new() };
        for entry in node.entries() {
            if entry.ty().is_some() {
                return Err(self.at_entry(entry, format!("`{what}`: type annotations are not part of the IR")));
            }
            match entry.name() {
                None => parts.args.push(entry),
                Some(key) => {
                    let key = key.value();
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

    /// One or more string arguments (`affects`, `merge`, `methods`, `member`).
    fn string_args(&self, parts: &Parts<'_>, what: &str) -> Result<Vec<String>> {
        if parts.args.is_empty() {
            return Err(self.at_node(parts.node, format!("`{what}` needs at least one name")));
        }
        parts.args.iter().map(|e| self.string(e, what)).collect()
    }

    fn no_children(&self, node: &KdlNode) -> Result<()> {
        if node.children().is_some() {
            return Err(self.at_node(node, format!("`{}` takes no children block", node.name().value())));
        }
        Ok(())
    }

    fn string(&self, entry: &KdlEntry, what: &str) -> Result<String> {
        match entry.value() {
            KdlValue::String(s) => Ok(s.clone()),
            other => Err(self.at_entry(entry, format!("{what} must be a string, not {}", describe(other)))),
        }
    }

    fn opt_bool(&self, parts: &Parts<'_>, key: &str) -> Result<Option<bool>> {
        match parts.prop(key) {
            None => Ok(None),
            Some(entry) => match entry.value() {
                KdlValue::Bool(b) => Ok(Some(*b)),
                other => Err(self.at_entry(entry, format!("{key} must be #true or #false, not {}", describe(other)))),
            },
        }
    }

    fn non_negative(&self, entry: &KdlEntry, what: &str) -> Result<u64> {
        match entry.value() {
            KdlValue::Integer(v) => u64::try_from(*v)
                .map_err(|_| self.at_entry(entry, format!("{what} must be a non-negative integer below 2^64, not {v}"))),
            other => Err(self.at_entry(entry, format!("{what} must be a non-negative integer, not {}", describe(other)))),
        }
    }

    fn type_of(&self, entry: &KdlEntry) -> Result<TypeRef> {
        let what = entry.name().map(|k| k.value()).unwrap_or("type");
        let text = self.string(entry, what)?;
        TypeRef::parse(&text).map_err(|e| self.at_entry(entry, format!("{what}=\"{text}\": {e}")))
    }

    fn auth(&self, entry: &KdlEntry) -> Result<Auth> {
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
fn describe(value: &KdlValue) -> String {
    match value {
        KdlValue::String(s) if s.chars().count() <= 40 => format!("the string \"{s}\""),
        KdlValue::Integer(v) => format!("the integer {v}"),
        KdlValue::Float(v) => format!("the float {v}"),
        KdlValue::Bool(b) => format!("#{b}"),
        other => kind(other).to_string(),
    }
}

