//! `#[client]` and `#[predicate]`: keep the function as written, and submit a registration
//! (`mizan_host::code_first::ClientFn` / `PredicateFn`) that `inventory` collects at link time.
//!
//! The registration holds the function's flags, a `signature` function that turns its Rust
//! types into IR types (through `mizan_host::IrType`, so a type without one is a compile error
//! at the parameter) and a `call` shim: engine arguments (JSON text) → typed parameters → the
//! function → its result as JSON text, or the error outcome.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, LitStr, Pat, PathArguments, ReturnType, Signature, Type};

use crate::options::{Auth, Cache, ClientOptions, PredicateOptions, crate_path, flag, string};

/// What `#[mizan(…)]` says about one parameter.
#[derive(Default)]
struct ParamAttrs {
    ctx: bool,
    /// `Some(None)`: `default` (`Default::default()`); `Some(Some(e))`: `default = e`.
    default: Option<Option<Expr>>,
    ty: Option<LitStr>,
    required: Option<bool>,
    /// `not_null` on an `Option<T>` input: absent is `None`, null is refused (IR `T`, not required).
    not_null: bool,
}

/// Remove the `#[mizan(…)]` attributes of a parameter (rustc would refuse them) and read them.
fn take_param_attrs(attrs: &mut Vec<syn::Attribute>) -> syn::Result<ParamAttrs> {
    let mut out = ParamAttrs::default();
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        if !attr.path().is_ident("mizan") {
            kept.push(attr);
            continue;
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("ctx") {
                out.ctx = true;
            } else if meta.path.is_ident("default") {
                out.default = Some(if meta.input.peek(syn::Token![=]) { Some(meta.value()?.parse()?) } else { None });
            } else if meta.path.is_ident("type") {
                out.ty = Some(string(&meta)?);
            } else if meta.path.is_ident("required") {
                out.required = Some(flag(&meta)?);
            } else if meta.path.is_ident("not_null") {
                out.not_null = flag(&meta)?;
            } else {
                return Err(meta.error(
                    "unknown parameter option; the options are ctx, default, default = EXPR, type = \"IR type\", required, not_null",
                ));
            }
            Ok(())
        })?;
    }
    *attrs = kept;
    Ok(out)
}

/// The last path segment of a type, through references: `&mizan_host::app::Ctx` → `Ctx`.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Reference(r) => last_segment(&r.elem),
        Type::Paren(p) => last_segment(&p.elem),
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

fn is_ctx_type(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Ctx")
}

/// `r#type` → `type`.
pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

/// What every registered function must be: a free, non-generic, safe function.
fn check_signature(sig: &Signature, what: &str) -> syn::Result<()> {
    if let Some(u) = &sig.unsafety {
        return Err(syn::Error::new(u.span(), format!("{what} functions cannot be `unsafe`: the server calls them")));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{what} functions cannot be generic: the IR needs one concrete type per input and output"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(v.span(), format!("{what} functions cannot be variadic")));
    }
    if let Some(FnArg::Receiver(r)) = sig.inputs.first() {
        return Err(syn::Error::new(r.span(), format!("{what} goes on a free function, not a method")));
    }
    Ok(())
}

/// The request-context parameter's type (without the reference).
struct CtxParam {
    ty: Type,
}

/// The first type argument of a path type named `name` (`Result<T, E>` → `T`, `Option<T>` → `T`).
fn first_type_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

/// The result type of `Result<T, E>` (any path ending in `Result` with type arguments).
fn result_ok_type(ty: &Type) -> Option<&Type> {
    first_type_arg(ty, "Result")
}

pub fn expand_client(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let opts = ClientOptions::parse(attr)?;
    let mut func: ItemFn = syn::parse2(item)?;
    check_signature(&func.sig, "#[client]")?;
    let krate = crate_path(opts.krate.clone());
    let fn_ident = func.sig.ident.clone();
    let ir_name = opts.name.clone().unwrap_or_else(|| unraw(&fn_ident));

    let mut ctx: Option<CtxParam> = None;
    let mut members = Vec::new(); // signature entries
    let mut takes = Vec::new(); // `let __mizan_arg_N = __a.take…;`
    let mut bound = Vec::new(); // the names that must all be `Some`
    let mut call_args = Vec::new();
    for (i, arg) in func.sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(pt) = arg else { unreachable!("receivers were refused above") };
        let attrs = take_param_attrs(&mut pt.attrs)?;
        if attrs.ctx || (is_ctx_type(&pt.ty) && attrs.default.is_none() && attrs.ty.is_none()) {
            if ctx.is_some() {
                return Err(syn::Error::new(pt.span(), "a #[client] function takes at most one request context (`Ctx`)"));
            }
            let (ty, by_ref) = match &*pt.ty {
                Type::Reference(r) if r.mutability.is_none() => ((*r.elem).clone(), true),
                Type::Reference(r) => return Err(syn::Error::new(r.span(), "take the context by value or by `&`, not `&mut`")),
                other => (other.clone(), false),
            };
            ctx = Some(CtxParam { ty });
            call_args.push(if by_ref { quote!(&__mizan_ctx) } else { quote!(__mizan_ctx) });
            continue;
        }
        let name = match &*pt.pat {
            Pat::Ident(p) if p.subpat.is_none() => unraw(&p.ident),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "an input needs a plain name (the argument's name in the IR and on the wire), not a pattern",
                ));
            }
        };
        if let Type::Reference(r) = &*pt.ty {
            return Err(syn::Error::new(
                r.span(),
                "inputs are owned values deserialized from the request: take `String`, `Vec<T>`…, not a reference",
            ));
        }
        let ty = &pt.ty;
        // `not_null`: the IR describes the `T` of `Option<T>` (the kernel refuses null for it),
        // and the input is not required (absent: `None`).
        let described = match (attrs.not_null, first_type_arg(ty, "Option")) {
            (false, _) => ty.as_ref(),
            (true, Some(inner)) => inner,
            (true, None) => {
                return Err(syn::Error::new(
                    ty.span(),
                    "#[mizan(not_null)] goes on an `Option<T>` input: `None` when the client leaves it out (null is refused)",
                ));
            }
        };
        let ir_type = match &attrs.ty {
            Some(lit) => quote!(::std::string::String::from(#lit)),
            None => quote_spanned!(ty.span()=> <#described as #krate::IrType>::ir_type(__types)),
        };
        let required = match (attrs.required, &attrs.default, attrs.not_null) {
            (Some(r), _, _) => quote!(::std::option::Option::Some(#r)),
            (None, Some(_), _) | (None, None, true) => quote!(::std::option::Option::Some(false)),
            (None, None, false) => quote!(::std::option::Option::None),
        };
        members.push(quote!(#krate::code_first::Member::new(#name, #ir_type, #required)));
        let var = format_ident!("__mizan_arg_{}", i);
        takes.push(match &attrs.default {
            None => quote_spanned!(ty.span()=> let #var = __a.take::<#ty>(#name);),
            Some(None) => quote_spanned!(ty.span()=> let #var = __a.take_or::<#ty>(#name, ::std::default::Default::default);),
            Some(Some(e)) => quote_spanned!(ty.span()=> let #var = __a.take_or::<#ty>(#name, || #e);),
        });
        bound.push(var.clone());
        call_args.push(quote!(#var));
    }

    let (output_ty, is_result) = match &func.sig.output {
        ReturnType::Default => (syn::parse_quote!(()), false),
        ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(ok) => (ok.clone(), true),
            None => ((**ty).clone(), false),
        },
    };
    let output = match &opts.output {
        Some(lit) => quote!(::std::string::String::from(#lit)),
        None => quote_spanned!(output_ty.span()=> <#output_ty as #krate::IrType>::ir_type(__types)),
    };

    let check_all = if bound.is_empty() {
        quote!()
    } else {
        let somes = bound.iter().map(|v| quote!(::std::option::Option::Some(#v)));
        quote!(let (#(#somes,)*) = (#(#bound,)*) else { return __a.into_outcome(); };)
    };
    let bind_ctx = match &ctx {
        Some(CtxParam { ty, .. }) => quote! {
            let __mizan_ctx = match #krate::code_first::downcast_ctx::<#ty>(__ctx, #ir_name) {
                ::std::result::Result::Ok(c) => c,
                ::std::result::Result::Err(o) => return o,
            };
        },
        None => quote!(let _ = __ctx;),
    };
    let ctx_type = match &ctx {
        Some(CtxParam { ty, .. }) => quote!(::std::option::Option::Some(#krate::code_first::CtxType {
            id: ::std::any::TypeId::of::<#ty>,
            name: ::std::any::type_name::<#ty>,
        })),
        None => quote!(::std::option::Option::None),
    };
    let awaited = if func.sig.asyncness.is_some() { quote!(.await) } else { quote!() };
    let finish = if is_result {
        quote!(#krate::code_first::result_outcome(#ir_name, __r))
    } else {
        quote!(#krate::code_first::value_outcome(#ir_name, &__r))
    };

    let opt_str = |v: &Option<String>| match v {
        Some(s) => quote!(::std::option::Option::Some(#s)),
        None => quote!(::std::option::Option::None),
    };
    let context = opt_str(&opts.context);
    let route = opt_str(&opts.route);
    let form = opt_str(&opts.form);
    let form_name = opt_str(&opts.form_name);
    let (auth, auth_check) = match &opts.auth {
        None => (quote!(::std::option::Option::None), quote!()),
        Some(Auth::Spelled(s)) => (quote!(::std::option::Option::Some(#s)), quote!()),
        Some(Auth::Predicate(path)) => {
            let last = path.segments.last().map(|s| unraw(&s.ident)).unwrap_or_default();
            let spelled = format!("predicate:{last}");
            // A misspelt predicate is a compile error at the attribute.
            (quote!(::std::option::Option::Some(#spelled)), quote!(let _ = #path;))
        }
    };
    let cache = match &opts.cache {
        None => quote!(::std::option::Option::None),
        Some(Cache::Never) => quote!(::std::option::Option::Some(#krate::code_first::Cache::Never)),
        Some(Cache::Ttl(t)) => quote!(::std::option::Option::Some(#krate::code_first::Cache::Ttl(#t))),
    };
    let (affects, merge, methods) = (&opts.affects, &opts.merge, &opts.methods);
    let (private, view, websocket, rev) = (opts.private, opts.view, opts.websocket, opts.rev);
    let fn_name_str = fn_ident.to_string();

    Ok(quote! {
        #func

        const _: () = {
            fn __mizan_signature(__types: &mut #krate::code_first::TypeSet) -> #krate::code_first::Signature {
                #auth_check
                #krate::code_first::Signature {
                    inputs: ::std::vec![#(#members),*],
                    output: #output,
                }
            }

            fn __mizan_call(
                __args: ::std::string::String,
                __ctx: #krate::code_first::AnyCtx,
            ) -> #krate::BoxFuture<'static, #krate::Outcome> {
                ::std::boxed::Box::pin(async move {
                    #[allow(unused_mut)]
                    let mut __a = match #krate::code_first::Args::parse(&__args) {
                        ::std::result::Result::Ok(a) => a,
                        ::std::result::Result::Err(o) => return o,
                    };
                    #(#takes)*
                    #check_all
                    #bind_ctx
                    let __r = #fn_ident(#(#call_args),*) #awaited;
                    #finish
                })
            }

            #krate::__private::inventory::submit! {
                #krate::code_first::ClientFn {
                    name: #ir_name,
                    rust_path: ::std::concat!(::std::module_path!(), "::", #fn_name_str),
                    file: ::std::file!(),
                    line: ::std::line!(),
                    context: #context,
                    affects: &[#(#affects),*],
                    merge: &[#(#merge),*],
                    auth: #auth,
                    private: #private,
                    view: #view,
                    websocket: #websocket,
                    rev: #rev,
                    cache: #cache,
                    route: #route,
                    methods: &[#(#methods),*],
                    form: #form,
                    form_name: #form_name,
                    signature: __mizan_signature,
                    ctx: #ctx_type,
                    call: __mizan_call,
                }
            }
        };
    })
}

pub fn expand_predicate(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let opts = PredicateOptions::parse(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    check_signature(&func.sig, "#[predicate]")?;
    let krate = crate_path(opts.krate);
    let fn_ident = func.sig.ident.clone();
    let name = opts.name.unwrap_or_else(|| unraw(&fn_ident));
    let mut params = func.sig.inputs.iter();
    let (bind_ctx, call_arg, ctx_type) = match params.next() {
        None => (quote!(let _ = __ctx;), quote!(), quote!(::std::option::Option::None)),
        Some(FnArg::Typed(pt)) => {
            let (ty, by_ref) = match &*pt.ty {
                Type::Reference(r) if r.mutability.is_none() => ((*r.elem).clone(), true),
                other => (other.clone(), false),
            };
            let bind = quote! {
                let ::std::result::Result::Ok(__mizan_ctx) = #krate::code_first::downcast_ctx::<#ty>(__ctx, #name) else {
                    return false;
                };
            };
            let arg = if by_ref { quote!(&__mizan_ctx) } else { quote!(__mizan_ctx) };
            let ctx_type = quote!(::std::option::Option::Some(#krate::code_first::CtxType {
                id: ::std::any::TypeId::of::<#ty>,
                name: ::std::any::type_name::<#ty>,
            }));
            (bind, arg, ctx_type)
        }
        Some(FnArg::Receiver(_)) => unreachable!("receivers were refused above"),
    };
    if let Some(extra) = params.next() {
        return Err(syn::Error::new(extra.span(), "a #[predicate] takes one parameter, the request context (`Ctx`)"));
    }
    let awaited = if func.sig.asyncness.is_some() { quote!(.await) } else { quote!() };
    let fn_name_str = fn_ident.to_string();
    Ok(quote! {
        #func

        const _: () = {
            fn __mizan_predicate(__ctx: #krate::code_first::AnyCtx) -> #krate::BoxFuture<'static, bool> {
                ::std::boxed::Box::pin(async move {
                    #bind_ctx
                    let __verdict: bool = #fn_ident(#call_arg) #awaited;
                    __verdict
                })
            }

            #krate::__private::inventory::submit! {
                #krate::code_first::PredicateFn {
                    name: #name,
                    rust_path: ::std::concat!(::std::module_path!(), "::", #fn_name_str),
                    ctx: #ctx_type,
                    call: __mizan_predicate,
                }
            }
        };
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_error(attr: TokenStream, item: TokenStream) -> String {
        match expand_client(attr, item) {
            Ok(out) => panic!("expected an error, got {out}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn expands_a_read_with_ctx_and_inputs() {
        let out = expand_client(
            quote!(context = "user", cache = 60),
            quote!(async fn user_profile(ctx: Ctx, user_id: i64, #[mizan(default = 1)] page: i64) -> Result<Profile, FnError> { todo!() }),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("name : \"user_profile\""), "{out}");
        assert!(out.contains("context : :: std :: option :: Option :: Some (\"user\")"), "{out}");
        assert!(out.contains("Cache :: Ttl (60u64)"), "{out}");
        assert!(out.contains("< i64 as :: mizan_host :: IrType > :: ir_type (__types)"), "{out}");
        assert!(out.contains("< Profile as :: mizan_host :: IrType >"), "the output is the Ok type: {out}");
        assert!(out.contains("take_or :: < i64 > (\"page\" , || 1)"), "{out}");
        assert!(out.contains("downcast_ctx :: < Ctx >"), "{out}");
        assert!(out.contains("result_outcome"), "{out}");
        assert!(!out.contains("# [mizan"), "parameter attributes are removed: {out}");
    }

    #[test]
    fn not_null_describes_the_option_s_inner_type_not_required() {
        let out = expand_client(quote!(), quote!(fn f(#[mizan(not_null)] tags: Option<Vec<String>>) {})).unwrap().to_string();
        assert!(out.contains("< Vec < String > as :: mizan_host :: IrType > :: ir_type (__types) , :: std :: option :: Option :: Some (false)"), "{out}");
        assert!(out.contains("take :: < Option < Vec < String > > > (\"tags\")"), "absent is None: {out}");
        let plain = expand_client(quote!(), quote!(fn f(tags: Option<Vec<String>>) {})).unwrap().to_string();
        assert!(plain.contains("< Option < Vec < String > > as :: mizan_host :: IrType > :: ir_type (__types) , :: std :: option :: Option :: None"), "{plain}");
    }

    #[test]
    fn plain_returns_and_sync_functions() {
        let out = expand_client(quote!(), quote!(fn ping() -> String { String::new() })).unwrap().to_string();
        assert!(out.contains("value_outcome"), "{out}");
        assert!(!out.contains(". await"), "{out}");
        let unit = expand_client(quote!(affects = "user"), quote!(async fn touch(user_id: i64) {})).unwrap().to_string();
        assert!(unit.contains("< () as :: mizan_host :: IrType >"), "{unit}");
        assert!(unit.contains("affects : & [\"user\"]"), "{unit}");
    }

    #[test]
    fn predicate_paths_become_references() {
        let out = expand_client(quote!(auth = checks::has_reports), quote!(async fn reports() -> u8 { 0 })).unwrap().to_string();
        assert!(out.contains("Some (\"predicate:has_reports\")"), "{out}");
        assert!(out.contains("let _ = checks :: has_reports ;"), "{out}");
    }

    #[test]
    fn methods_are_upper_cased_and_renames_apply() {
        let out = expand_client(quote!(name = "other", methods = ["post"], crate = "mizan"), quote!(fn f() {})).unwrap().to_string();
        assert!(out.contains("name : \"other\""), "{out}");
        assert!(out.contains("methods : & [\"POST\"]"), "{out}");
        assert!(out.contains("mizan :: code_first :: ClientFn"), "{out}");
        let raw = expand_client(quote!(), quote!(fn r#type(r#in: i64) {})).unwrap().to_string();
        assert!(raw.contains("name : \"type\""), "{raw}");
        assert!(raw.contains("Member :: new (\"in\""), "{raw}");
    }

    #[test]
    fn clear_errors() {
        let cases: Vec<(TokenStream, TokenStream, &str)> = vec![
            (quote!(contxt = "user"), quote!(fn f() {}), "unknown #[client] option; the options are context"),
            (quote!(shared), quote!(fn f() {}), "`shared` belongs to the context"),
            (quote!(auth = "admin"), quote!(fn f() {}), "auth is \"required\", \"staff\""),
            (quote!(auth = "predicate:"), quote!(fn f() {}), "auth is"),
            (quote!(cache = true), quote!(fn f() {}), "cache takes `false`"),
            (quote!(rev = "2"), quote!(fn f() {}), "rev takes a non-negative integer"),
            (quote!(rev = -1), quote!(fn f() {}), "rev takes a non-negative integer"),
            (quote!(context = "a b"), quote!(fn f() {}), "context must be an identifier"),
            (quote!(affects = [user]), quote!(fn f() {}), "expected a string literal"),
            (quote!(form = "send"), quote!(fn f() {}), "form is \"schema\""),
            (quote!(), quote!(fn f<T>(t: T) {}), "cannot be generic"),
            (quote!(), quote!(unsafe fn f() {}), "cannot be `unsafe`"),
            (quote!(), quote!(fn f(&self) {}), "free function, not a method"),
            (quote!(), quote!(fn f((a, b): (i64, i64)) {}), "needs a plain name"),
            (quote!(), quote!(fn f(name: &str) {}), "owned values"),
            (quote!(), quote!(fn f(a: Ctx, b: Ctx) {}), "at most one request context"),
            (quote!(), quote!(fn f(c: &mut Ctx) {}), "not `&mut`"),
            (quote!(), quote!(fn f(#[mizan(defualt)] a: i64) {}), "unknown parameter option"),
            (quote!(), quote!(fn f(#[mizan(not_null)] a: i64) {}), "not_null)] goes on an `Option<T>` input"),
        ];
        for (attr, item, expected) in cases {
            let message = client_error(attr.clone(), item.clone());
            assert!(message.contains(expected), "#[client({attr})] {item}: {message:?} lacks {expected:?}");
        }
    }

    #[test]
    fn predicates() {
        let out = expand_predicate(quote!(), quote!(async fn has_reports(ctx: Ctx) -> bool { true })).unwrap().to_string();
        assert!(out.contains("PredicateFn"), "{out}");
        assert!(out.contains("name : \"has_reports\""), "{out}");
        let by_ref = expand_predicate(quote!(name = "other"), quote!(fn p(ctx: &Ctx) -> bool { true })).unwrap().to_string();
        assert!(by_ref.contains("p (& __mizan_ctx)"), "{by_ref}");
        assert!(by_ref.contains("name : \"other\""), "{by_ref}");
        let err = expand_predicate(quote!(), quote!(fn p(ctx: Ctx, x: i64) -> bool { true })).unwrap_err().to_string();
        assert!(err.contains("takes one parameter"), "{err}");
        let err = expand_predicate(quote!(nmae = "x"), quote!(fn p() -> bool { true })).unwrap_err().to_string();
        assert!(err.contains("unknown #[predicate] option"), "{err}");
    }
}
