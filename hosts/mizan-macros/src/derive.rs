//! `#[derive(Mizan)]`: `impl mizan_host::IrType` for a struct or an enum.
//!
//! - A struct with named fields is a named object type (`type NAME { field … }`), declared once
//!   in the registry's type set; fields follow serde's names and absences.
//! - A newtype struct, or a `#[serde(transparent)]` one, is its inner type (that is what serde
//!   writes); a unit struct is `null`.
//! - An enum of unit variants is a string enum of the variants' serde names.
//!
//! What serde writes but the IR cannot describe (flattened fields, tagged or data-carrying
//! enums, tuple structs, generics) is a compile error that says what to do instead.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr, Path};

use crate::client::unraw;
use crate::options::{crate_path, flag, string};
use crate::serde_attr::{Container, Member};

/// `#[mizan(name = "…", key = "…", crate = "…")]` on the type.
#[derive(Default)]
struct TypeOptions {
    name: Option<LitStr>,
    key: Option<LitStr>,
    krate: Option<Path>,
}

/// `#[mizan(type = "…", required = bool, skip)]` on a field.
#[derive(Default)]
struct FieldOptions {
    ty: Option<LitStr>,
    required: Option<bool>,
    skip: bool,
}

fn type_options(attrs: &[syn::Attribute]) -> syn::Result<TypeOptions> {
    let mut o = TypeOptions::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("mizan")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                o.name = Some(string(&meta)?);
            } else if meta.path.is_ident("key") {
                o.key = Some(string(&meta)?);
            } else if meta.path.is_ident("crate") {
                o.krate = Some(string(&meta)?.parse()?);
            } else {
                return Err(meta.error("unknown #[mizan] option on a type; the options are name, key, crate"));
            }
            Ok(())
        })?;
    }
    Ok(o)
}

fn field_options(attrs: &[syn::Attribute]) -> syn::Result<FieldOptions> {
    let mut o = FieldOptions::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("mizan")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("type") {
                o.ty = Some(string(&meta)?);
            } else if meta.path.is_ident("required") {
                o.required = Some(flag(&meta)?);
            } else if meta.path.is_ident("skip") {
                o.skip = true;
            } else {
                return Err(meta.error("unknown #[mizan] option on a field; the options are type, required, skip"));
            }
            Ok(())
        })?;
    }
    Ok(o)
}

pub fn expand(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "#[derive(Mizan)] needs a concrete type: IR types are not generic (declare one named struct per use)",
        ));
    }
    let options = type_options(&input.attrs)?;
    let container = Container::read(&input.attrs)?;
    let krate = crate_path(options.krate.clone());
    let ident = &input.ident;
    let name = options.name.as_ref().map(LitStr::value).unwrap_or_else(|| unraw(ident));

    let body = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) if container.transparent => {
                let inner = named.named.iter().find(|f| !Member::read(&f.attrs).is_ok_and(|m| m.skip));
                match inner {
                    Some(f) => inner_type(&krate, &f.ty),
                    None => return Err(syn::Error::new(input.span(), "a transparent struct needs a field")),
                }
            }
            Fields::Named(named) => {
                let mut members = Vec::new();
                for f in &named.named {
                    let serde = Member::read(&f.attrs)?;
                    let opts = field_options(&f.attrs)?;
                    if serde.skip || opts.skip {
                        continue;
                    }
                    if let Some(span) = serde.flatten {
                        return Err(syn::Error::new(
                            span,
                            "the IR has no flattened fields: write the fields out, or give this field its own named type",
                        ));
                    }
                    if let (Some(span), None) = (serde.custom, &opts.ty) {
                        return Err(syn::Error::new(
                            span,
                            "a custom (de)serializer decides this field's JSON: say its IR type with #[mizan(type = \"…\")]",
                        ));
                    }
                    let rust_name = unraw(f.ident.as_ref().expect("named fields have names"));
                    let wire = match (&serde.rename, container.rename_all) {
                        (Some(r), _) => r.value(),
                        (None, Some(rule)) => rule.field(&rust_name),
                        (None, None) => rust_name,
                    };
                    let ty = &f.ty;
                    let ir = match &opts.ty {
                        Some(lit) => quote!(::std::string::String::from(#lit)),
                        None => quote_spanned!(ty.span()=> <#ty as #krate::IrType>::ir_type(__types)),
                    };
                    let required = match (opts.required, serde.may_be_absent) {
                        (Some(r), _) => quote!(::std::option::Option::Some(#r)),
                        (None, true) => quote!(::std::option::Option::Some(false)),
                        (None, false) => quote!(::std::option::Option::None),
                    };
                    members.push(quote!(#krate::code_first::Member::new(#wire, #ir, #required)));
                }
                let key = match &options.key {
                    Some(k) => quote!(::std::option::Option::Some(#k)),
                    None => quote!(::std::option::Option::None),
                };
                quote! {
                    __types.object::<Self>(#name, #key, |__types| ::std::vec![#(#members),*])
                }
            }
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => inner_type(&krate, &fields.unnamed[0].ty),
            Fields::Unnamed(fields) => {
                return Err(syn::Error::new(
                    fields.span(),
                    "a tuple struct is a JSON array of mixed types, which the IR cannot describe: use named fields",
                ));
            }
            Fields::Unit => quote!(::std::string::String::from("null")),
        },
        Data::Enum(e) => {
            if let Some(span) = container.tagging {
                return Err(syn::Error::new(
                    span,
                    "a tagged or untagged enum is an object or a union in JSON, which the IR cannot describe: \
                     #[derive(Mizan)] takes enums of unit variants (IR string enums)",
                ));
            }
            let mut values = Vec::new();
            for v in &e.variants {
                let serde = Member::read(&v.attrs)?;
                if serde.skip {
                    continue;
                }
                if !matches!(v.fields, Fields::Unit) {
                    return Err(syn::Error::new(
                        v.span(),
                        "only enums of unit variants have an IR type (a string enum); for data-carrying variants \
                         use a struct, or `serde_json::Value` (`any`)",
                    ));
                }
                let rust_name = unraw(&v.ident);
                values.push(match (&serde.rename, container.rename_all) {
                    (Some(r), _) => r.value(),
                    (None, Some(rule)) => rule.variant(&rust_name),
                    (None, None) => rust_name,
                });
            }
            if values.is_empty() {
                return Err(syn::Error::new(e.variants.span(), "an IR string enum needs at least one value"));
            }
            quote!(__types.string_enum::<Self>(#name, &[#(#values),*]))
        }
        Data::Union(u) => return Err(syn::Error::new(u.union_token.span(), "unions have no IR type")),
    };

    Ok(quote! {
        impl #krate::IrType for #ident {
            fn ir_type(__types: &mut #krate::code_first::TypeSet) -> ::std::string::String {
                #body
            }
        }
    })
}

fn inner_type(krate: &Path, ty: &syn::Type) -> TokenStream {
    quote_spanned!(ty.span()=> <#ty as #krate::IrType>::ir_type(__types))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_ok(item: TokenStream) -> String {
        expand(item).unwrap().to_string()
    }

    fn expand_err(item: TokenStream) -> String {
        expand(item).unwrap_err().to_string()
    }

    #[test]
    fn structs_follow_serde_names_and_absences() {
        let out = expand_ok(quote! {
            #[serde(rename_all = "camelCase")]
            #[mizan(key = "userId")]
            struct Profile {
                user_id: i64,
                #[serde(rename = "mail")] email: Option<String>,
                #[serde(default)] tags: Vec<String>,
                #[serde(skip)] cache: u8,
                #[serde(skip_serializing_if = "Option::is_none")] nick: Option<String>,
                #[mizan(type = "string")] #[serde(with = "my_dates")] born: Date,
                #[mizan(required)] note: Option<String>,
            }
        });
        assert!(out.contains("__types . object :: < Self > (\"Profile\" , :: std :: option :: Option :: Some (\"userId\")"), "{out}");
        assert!(out.contains("Member :: new (\"userId\" , < i64 as :: mizan_host :: IrType >"), "{out}");
        assert!(out.contains("Member :: new (\"mail\""), "{out}");
        assert!(out.contains("Member :: new (\"tags\" , < Vec < String > as :: mizan_host :: IrType > :: ir_type (__types) , :: std :: option :: Option :: Some (false))"), "{out}");
        assert!(!out.contains("cache"), "skipped: {out}");
        assert!(out.contains("Member :: new (\"nick\" , < Option < String > as :: mizan_host :: IrType > :: ir_type (__types) , :: std :: option :: Option :: Some (false))"), "{out}");
        assert!(out.contains("Member :: new (\"born\" , :: std :: string :: String :: from (\"string\")"), "{out}");
        assert!(out.contains("Member :: new (\"note\" , < Option < String > as :: mizan_host :: IrType > :: ir_type (__types) , :: std :: option :: Option :: Some (true))"), "{out}");
    }

    #[test]
    fn enums_newtypes_and_units() {
        let out = expand_ok(quote! {
            #[serde(rename_all = "snake_case")]
            enum Status { Active, OnHold, #[serde(rename = "gone")] Deleted, #[serde(skip)] Internal }
        });
        assert!(out.contains("string_enum :: < Self > (\"Status\" , & [\"active\" , \"on_hold\" , \"gone\"])"), "{out}");
        assert!(expand_ok(quote!(struct UserId(i64);)).contains("< i64 as :: mizan_host :: IrType >"));
        assert!(expand_ok(quote!(#[serde(transparent)] struct Wrapper { inner: String })).contains("< String as"));
        assert!(expand_ok(quote!(struct Nothing;)).contains("from (\"null\")"));
        assert!(expand_ok(quote!(#[mizan(name = "Other", crate = "mizan")] struct S { a: i64 })).contains("mizan :: IrType for S"));
    }

    #[test]
    fn clear_errors() {
        let cases = [
            (quote!(struct G<T> { t: T }), "IR types are not generic"),
            (quote!(struct P(i64, String);), "tuple struct"),
            (quote!(struct F { #[serde(flatten)] inner: Other }), "no flattened fields"),
            (quote!(struct C { #[serde(with = "x")] at: Date }), "#[mizan(type"),
            (quote!(enum E { A(i64), B }), "only enums of unit variants"),
            (quote!(#[serde(tag = "kind")] enum E { A, B }), "tagged or untagged"),
            (quote!(#[serde(untagged)] enum E { A, B }), "tagged or untagged"),
            (quote!(enum E {}), "at least one value"),
            (quote!(#[serde(rename_all = "Title Case")] struct S { a: i64 }), "unknown rename rule"),
            (quote!(struct S { #[serde(rename(serialize = "a", deserialize = "b"))] x: i64 }), "one name for both"),
            (quote!(#[mizan(keys = "id")] struct S { id: i64 }), "unknown #[mizan] option on a type"),
            (quote!(struct S { #[mizan(requird)] id: i64 }), "unknown #[mizan] option on a field"),
        ];
        for (item, expected) in cases {
            let message = expand_err(item.clone());
            assert!(message.contains(expected), "{item}: {message:?} lacks {expected:?}");
        }
    }
}
