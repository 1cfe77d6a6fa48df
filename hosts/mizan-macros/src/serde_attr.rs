//! The `#[serde(…)]` attributes that change a type's JSON shape, read so the IR describes what
//! serde writes and reads: names (`rename`, `rename_all`), absent fields (`skip`, `default`,
//! `skip_serializing_if`), and the shapes the IR cannot describe (`flatten`, tagged enums,
//! custom (de)serializers), which are refused with a way out.
//!
//! `rename_all` follows serde's rules exactly: fields are written in snake_case and variants in
//! PascalCase in Rust, and each rule converts from that.

use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    fn parse(lit: &LitStr) -> syn::Result<RenameRule> {
        Ok(match lit.value().as_str() {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return Err(syn::Error::new(lit.span(), "unknown rename rule (serde's: lowercase, UPPERCASE, PascalCase, camelCase, snake_case, SCREAMING_SNAKE_CASE, kebab-case, SCREAMING-KEBAB-CASE)")),
        })
    }

    /// A snake_case field name under this rule.
    pub fn field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_string(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal => field
                .split('_')
                .map(|word| {
                    let mut chars = word.chars();
                    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
                })
                .collect(),
            RenameRule::Camel => {
                let pascal = RenameRule::Pascal.field(field);
                let mut chars = pascal.chars();
                chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        }
    }

    /// A PascalCase variant name under this rule.
    pub fn variant(self, variant: &str) -> String {
        match self {
            RenameRule::Pascal => variant.to_string(),
            RenameRule::Lower => variant.to_ascii_lowercase(),
            RenameRule::Upper => variant.to_ascii_uppercase(),
            RenameRule::Camel => {
                let mut chars = variant.chars();
                chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
            }
            RenameRule::Snake => {
                let mut out = String::new();
                for (i, c) in variant.char_indices() {
                    if i > 0 && c.is_uppercase() {
                        out.push('_');
                    }
                    out.push(c.to_ascii_lowercase());
                }
                out
            }
            RenameRule::ScreamingSnake => RenameRule::Snake.variant(variant).to_ascii_uppercase(),
            RenameRule::Kebab => RenameRule::Snake.variant(variant).replace('_', "-"),
            RenameRule::ScreamingKebab => RenameRule::ScreamingSnake.variant(variant).replace('_', "-"),
        }
    }
}

/// `key = "x"` or `key(serialize = "x", deserialize = "y")`: one name, since the IR has one.
fn one_name(meta: &ParseNestedMeta, what: &str) -> syn::Result<LitStr> {
    if meta.input.peek(syn::Token![=]) {
        return meta.value()?.parse();
    }
    let (mut ser, mut de) = (None::<LitStr>, None::<LitStr>);
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("serialize") {
            ser = Some(inner.value()?.parse()?);
        } else if inner.path.is_ident("deserialize") {
            de = Some(inner.value()?.parse()?);
        }
        Ok(())
    })?;
    match (ser, de) {
        (Some(s), Some(d)) if s.value() != d.value() => Err(meta.error(format!(
            "{what} differs between serialize and deserialize: the IR has one name for both"
        ))),
        (Some(s), _) => Ok(s),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(meta.error(format!("{what} needs a name"))),
    }
}

/// Container attributes.
#[derive(Default)]
pub struct Container {
    pub rename_all: Option<RenameRule>,
    pub transparent: bool,
    /// `tag`, `untagged`, `content`: a tagged representation (refused for unit-variant enums
    /// unless it is plain).
    pub tagging: Option<proc_macro2::Span>,
}

impl Container {
    pub fn read(attrs: &[Attribute]) -> syn::Result<Container> {
        let mut c = Container::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    c.rename_all = Some(RenameRule::parse(&one_name(&meta, "rename_all")?)?);
                } else if meta.path.is_ident("transparent") {
                    c.transparent = true;
                } else if meta.path.is_ident("tag") || meta.path.is_ident("untagged") || meta.path.is_ident("content") {
                    c.tagging = Some(meta.path.get_ident().map(|i| i.span()).unwrap_or_else(proc_macro2::Span::call_site));
                    skip_value(&meta)?;
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            })?;
        }
        Ok(c)
    }
}

/// Field (or variant) attributes.
#[derive(Default)]
pub struct Member {
    pub rename: Option<LitStr>,
    pub skip: bool,
    /// May be absent on the wire: `default`, `skip_serializing`, `skip_serializing_if`.
    pub may_be_absent: bool,
    pub flatten: Option<proc_macro2::Span>,
    /// `with`, `serialize_with`, `deserialize_with`: a shape only the function knows.
    pub custom: Option<proc_macro2::Span>,
}

impl Member {
    pub fn read(attrs: &[Attribute]) -> syn::Result<Member> {
        let mut m = Member::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
                match key.as_str() {
                    "rename" => m.rename = Some(one_name(&meta, "rename")?),
                    "skip" => m.skip = true,
                    "default" | "skip_serializing" | "skip_serializing_if" => {
                        m.may_be_absent = true;
                        skip_value(&meta)?;
                    }
                    "flatten" => m.flatten = Some(meta.path.span()),
                    "with" | "serialize_with" | "deserialize_with" => {
                        m.custom = Some(meta.path.span());
                        skip_value(&meta)?;
                    }
                    _ => skip_value(&meta)?,
                }
                Ok(())
            })?;
        }
        Ok(m)
    }
}

/// Consume whatever follows a serde key we do not interpret (`= "…"` or `(…)`).
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _group: proc_macro2::Group = meta.input.parse()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::RenameRule::*;

    #[test]
    fn rename_rules_match_serde() {
        let cases = [
            (Lower, "outcome_code", "OutcomeCode", "outcome_code", "outcomecode"),
            (Upper, "outcome_code", "OutcomeCode", "OUTCOME_CODE", "OUTCOMECODE"),
            (Pascal, "outcome_code", "OutcomeCode", "OutcomeCode", "OutcomeCode"),
            (Camel, "outcome_code", "OutcomeCode", "outcomeCode", "outcomeCode"),
            (Snake, "outcome_code", "OutcomeCode", "outcome_code", "outcome_code"),
            (ScreamingSnake, "outcome_code", "OutcomeCode", "OUTCOME_CODE", "OUTCOME_CODE"),
            (Kebab, "outcome_code", "OutcomeCode", "outcome-code", "outcome-code"),
            (ScreamingKebab, "outcome_code", "OutcomeCode", "OUTCOME-CODE", "OUTCOME-CODE"),
        ];
        for (rule, field, variant, field_out, variant_out) in cases {
            assert_eq!(rule.field(field), field_out, "{rule:?} field");
            assert_eq!(rule.variant(variant), variant_out, "{rule:?} variant");
        }
        assert_eq!(Camel.field("a"), "a");
        assert_eq!(Pascal.field("_x"), "X");
    }
}
