//! The arguments of `#[client(…)]` and `#[predicate(…)]`: parsed and checked for shape here, so a
//! misspelt option or a wrong kind of value is a compile error at that token. Whether the names
//! make a consistent registry (an `affects` target that exists…) is the kernel's graph check,
//! run when the registry is built.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit, LitStr, Path};

/// `auth = …`: a spelled level, or the path of a `#[predicate]` function.
pub enum Auth {
    Spelled(String),
    Predicate(Path),
}

pub enum Cache {
    Never,
    Ttl(u64),
}

#[derive(Default)]
pub struct ClientOptions {
    pub name: Option<String>,
    pub context: Option<String>,
    pub affects: Vec<String>,
    pub merge: Vec<String>,
    pub auth: Option<Auth>,
    pub private: bool,
    pub view: bool,
    pub websocket: bool,
    pub rev: u64,
    pub cache: Option<Cache>,
    pub route: Option<String>,
    pub methods: Vec<String>,
    pub form: Option<String>,
    pub form_name: Option<String>,
    pub output: Option<LitStr>,
    pub krate: Option<Path>,
}

const CLIENT_KEYS: &str =
    "context, affects, merge, auth, private, view, websocket, rev, cache, route, methods, form, form_name, name, output, crate";

impl ClientOptions {
    pub fn parse(attr: TokenStream) -> syn::Result<ClientOptions> {
        let mut o = ClientOptions::default();
        let parser = syn::meta::parser(|meta| {
            let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
            match key.as_str() {
                "name" => o.name = Some(identifier(&meta, "name")?),
                "context" => o.context = Some(identifier(&meta, "context")?),
                "affects" => o.affects = strings(&meta)?,
                "merge" => o.merge = strings(&meta)?,
                "auth" => o.auth = Some(auth(&meta)?),
                "private" => o.private = flag(&meta)?,
                "view" => o.view = flag(&meta)?,
                "websocket" => o.websocket = flag(&meta)?,
                "rev" => o.rev = unsigned(&meta, "rev")?,
                "cache" => o.cache = Some(cache(&meta)?),
                "route" => o.route = Some(string(&meta)?.value()),
                "methods" => o.methods = strings(&meta)?.into_iter().map(|m| m.to_ascii_uppercase()).collect(),
                "form" => {
                    let role = string(&meta)?;
                    if !matches!(role.value().as_str(), "schema" | "validate" | "submit") {
                        return Err(syn::Error::new(role.span(), "form is \"schema\", \"validate\" or \"submit\""));
                    }
                    o.form = Some(role.value());
                }
                "form_name" => o.form_name = Some(string(&meta)?.value()),
                "output" => o.output = Some(string(&meta)?),
                "crate" => o.krate = Some(string(&meta)?.parse()?),
                "shared" => {
                    return Err(meta.error(
                        "`shared` belongs to the context, not to one of its functions: declare it once with \
                         `mizan_host::context!(NAME, shared);`",
                    ));
                }
                _ => return Err(meta.error(format!("unknown #[client] option; the options are {CLIENT_KEYS}"))),
            }
            Ok(())
        });
        parser.parse2(attr)?;
        Ok(o)
    }
}

/// `#[predicate(name = "…", crate = "…")]`.
#[derive(Default)]
pub struct PredicateOptions {
    pub name: Option<String>,
    pub krate: Option<Path>,
}

impl PredicateOptions {
    pub fn parse(attr: TokenStream) -> syn::Result<PredicateOptions> {
        let mut o = PredicateOptions::default();
        syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                o.name = Some(identifier(&meta, "name")?);
            } else if meta.path.is_ident("crate") {
                o.krate = Some(string(&meta)?.parse()?);
            } else {
                return Err(meta.error("unknown #[predicate] option; the options are name, crate"));
            }
            Ok(())
        })
        .parse2(attr)?;
        Ok(o)
    }
}

pub fn string(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s),
        other => Err(syn::Error::new_spanned(other, "expected a string literal")),
    }
}

/// An IR name: a letter or `_`, then letters, digits or `_` (the IR's identifier rule, checked
/// here so the error points at the attribute instead of coming from the kernel at start).
fn identifier(meta: &ParseNestedMeta, what: &str) -> syn::Result<String> {
    let s = string(meta)?;
    if !is_identifier(&s.value()) {
        return Err(syn::Error::new(s.span(), format!("{what} must be an identifier (a letter or `_`, then letters, digits or `_`)")));
    }
    Ok(s.value())
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `key` alone (true) or `key = true|false`.
pub fn flag(meta: &ParseNestedMeta) -> syn::Result<bool> {
    if !meta.input.peek(syn::Token![=]) {
        return Ok(true);
    }
    match meta.value()?.parse::<Lit>()? {
        Lit::Bool(b) => Ok(b.value),
        other => Err(syn::Error::new(other.span(), "expected `true` or `false`")),
    }
}

fn unsigned(meta: &ParseNestedMeta, what: &str) -> syn::Result<u64> {
    match meta.value()?.parse::<Lit>()? {
        Lit::Int(i) => i.base10_parse::<u64>().map_err(|_| syn::Error::new(i.span(), format!("{what} takes a non-negative integer"))),
        other => Err(syn::Error::new(other.span(), format!("{what} takes a non-negative integer"))),
    }
}

/// `"one"` or `["one", "two"]`.
fn strings(meta: &ParseNestedMeta) -> syn::Result<Vec<String>> {
    let expr: Expr = meta.value()?.parse()?;
    let items: Vec<Expr> = match expr {
        Expr::Array(a) => a.elems.into_iter().collect(),
        one @ Expr::Lit(_) => vec![one],
        other => return Err(syn::Error::new_spanned(other, "expected a string or a list of strings: [\"a\", \"b\"]")),
    };
    items
        .into_iter()
        .map(|e| match e {
            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.value()),
            other => Err(syn::Error::new_spanned(other, "expected a string literal")),
        })
        .collect()
}

fn auth(meta: &ParseNestedMeta) -> syn::Result<Auth> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => {
            let v = s.value();
            let ok = matches!(v.as_str(), "required" | "staff" | "superuser")
                || v.strip_prefix("predicate:").is_some_and(|p| !p.is_empty());
            if !ok {
                return Err(syn::Error::new(
                    s.span(),
                    "auth is \"required\", \"staff\", \"superuser\", \"predicate:NAME\", or the path of a #[predicate] function",
                ));
            }
            Ok(Auth::Spelled(v))
        }
        Expr::Path(p) if p.qself.is_none() => Ok(Auth::Predicate(p.path)),
        other => Err(syn::Error::new_spanned(
            other,
            "auth is \"required\", \"staff\", \"superuser\", \"predicate:NAME\", or the path of a #[predicate] function",
        )),
    }
}

fn cache(meta: &ParseNestedMeta) -> syn::Result<Cache> {
    match meta.value()?.parse::<Lit>()? {
        Lit::Bool(b) if !b.value => Ok(Cache::Never),
        Lit::Int(i) => Ok(Cache::Ttl(i.base10_parse().map_err(|_| syn::Error::new(i.span(), "cache takes `false` (never cache) or a TTL in seconds"))?)),
        other => Err(syn::Error::new(other.span(), "cache takes `false` (never cache) or a TTL in seconds")),
    }
}

/// The path the expansion names `mizan-host` by.
pub fn crate_path(krate: Option<Path>) -> Path {
    krate.unwrap_or_else(|| syn::parse_quote_spanned!(Span::call_site()=> ::mizan_host))
}
