//! What a client can call, derived once from the registry for every generator: the contexts it
//! fetches (with their params and bundle slots), the calls it makes (with their args), the types,
//! and what is left out and why. Everything is in UTF-16 name order, like the canonical IR, so
//! the output is the same whatever order the IR was written in.

use crate::naming::pascal;
use mizan_kernel::canon::sort_by_utf16;
use mizan_kernel::ir::{Auth, EnumType, Function, ObjectType, Registry, TypeRef};
use mizan_kernel::{Error, ErrorCode, Result};

/// An argument of a call or a param of a context fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Param<'r> {
    pub name: &'r str,
    pub ty: TypeRef,
    pub required: bool,
}

/// A context the client fetches as one bundle (`GET {base}/ctx/{name}/`).
#[derive(Debug)]
pub struct ContextApi<'r> {
    pub name: &'r str,
    /// `user_profile` → `UserProfile`: the stem of `fetchUserProfile`, `UserProfileBundle`…
    pub pascal: String,
    /// The union of the members' inputs. Required when a member requires it: the server
    /// validates every member, and one missing required input fails the whole bundle (422).
    pub params: Vec<Param<'r>>,
    /// The member functions: one bundle slot each, named after the function.
    pub members: Vec<&'r Function>,
    pub shared: bool,
}

/// A function the client calls (`POST {base}/call/`): every function outside a context.
#[derive(Debug)]
pub struct CallApi<'r> {
    pub function: &'r Function,
    pub pascal: String,
    pub args: Vec<Param<'r>>,
}

/// Something in the IR the generated client does not offer, with the reason (listed at the
/// top of every generated file, so a missing function is never a mystery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

#[derive(Debug)]
pub struct Api<'r> {
    pub types: Vec<&'r ObjectType>,
    /// String enums, values in their declared order.
    pub enums: Vec<&'r EnumType>,
    pub contexts: Vec<ContextApi<'r>>,
    pub calls: Vec<CallApi<'r>>,
    pub skipped: Vec<Skipped>,
}

/// The context mounted once at the root of an app (its members take no required params).
pub const GLOBAL: &str = "global";

/// Why a function has no generated client, if it has none.
fn unsupported(f: &Function) -> Option<&'static str> {
    if f.private {
        Some("private: not client-callable")
    } else if f.view {
        Some("view path: it answers a rendered page, not data")
    } else if f.websocket {
        Some("websocket transport: the generated clients speak HTTP")
    } else {
        None
    }
}

impl<'r> Api<'r> {
    pub fn new(registry: &'r Registry) -> Result<Api<'r>> {
        let mut skipped = Vec::new();
        let mut contexts = Vec::new();
        for ctx in registry.contexts_sorted() {
            let members: Vec<&Function> = registry.members(&ctx.name).collect();
            if members.is_empty() {
                continue; // only ever invalidated: nothing to fetch
            }
            if let Some((f, why)) = members.iter().find_map(|f| unsupported(f).map(|why| (f, why))) {
                skipped.push(Skipped { what: format!("context `{}`", ctx.name), reason: format!("member `{}` is {why}", f.name) });
                continue;
            }
            contexts.push(ContextApi {
                name: &ctx.name,
                pascal: pascal(&ctx.name),
                params: context_params(&ctx.name, &members)?,
                members,
                shared: ctx.shared,
            });
        }
        let mut calls = Vec::new();
        for f in registry.functions_sorted() {
            if f.context.is_some() {
                continue;
            }
            if let Some(why) = unsupported(f) {
                skipped.push(Skipped { what: format!("function `{}`", f.name), reason: why.to_string() });
                continue;
            }
            let mut args: Vec<Param> = f.inputs.iter().map(|i| Param { name: &i.name, ty: i.ty.clone(), required: i.required }).collect();
            sort_by_utf16(&mut args, |p| p.name);
            calls.push(CallApi { function: f, pascal: pascal(&f.name), args });
        }
        Ok(Api { types: registry.types_sorted(), enums: registry.enums_sorted(), contexts, calls, skipped })
    }

    pub fn global(&self) -> Option<&ContextApi<'r>> {
        self.contexts.iter().find(|c| c.name == GLOBAL)
    }

    /// The `Not generated:` lines every file starts with.
    pub fn skipped_lines(&self) -> Vec<String> {
        self.skipped.iter().map(|s| format!("{} ({})", s.what, s.reason)).collect()
    }
}

/// `optional<T>` → `T`, anything else as is.
fn strip_optional(t: &TypeRef) -> &TypeRef {
    match t {
        TypeRef::Optional(inner) => inner,
        other => other,
    }
}

/// The params of a context: every member's inputs, merged by name. A param is required when a
/// member requires it and nullable when every member that has it takes `optional<T>`. Members
/// that declare one name with different types are refused: no signature could satisfy both.
fn context_params<'r>(context: &str, members: &[&'r Function]) -> Result<Vec<Param<'r>>> {
    let mut params: Vec<Param<'r>> = Vec::new();
    let mut first_owner: Vec<&str> = Vec::new();
    for f in members {
        for input in &f.inputs {
            match params.iter().position(|p| p.name == input.name) {
                None => {
                    params.push(Param { name: &input.name, ty: input.ty.clone(), required: input.required });
                    first_owner.push(&f.name);
                }
                Some(i) => {
                    let p = &mut params[i];
                    if strip_optional(&p.ty) != strip_optional(&input.ty) {
                        return Err(Error::new(
                            ErrorCode::InvalidRegistry,
                            format!(
                                "context `{context}`: the param `{}` is {} in `{}` but {} in `{}`; give it one type",
                                input.name,
                                p.ty.spelling(),
                                first_owner[i],
                                input.ty.spelling(),
                                f.name
                            ),
                        ));
                    }
                    // What every member accepts: null only if all of them take `optional<T>`.
                    if !matches!(input.ty, TypeRef::Optional(_)) {
                        p.ty = input.ty.clone();
                    }
                    p.required |= input.required;
                }
            }
        }
    }
    sort_by_utf16(&mut params, |p| p.name);
    Ok(params)
}

/// A short description of who may call a function, for doc comments.
pub fn auth_note(f: &Function) -> Option<String> {
    match &f.auth {
        Auth::None => None,
        Auth::Required => Some("signed-in users".into()),
        Auth::Staff => Some("staff".into()),
        Auth::Superuser => Some("superusers".into()),
        Auth::Predicate(p) => Some(format!("the `{p}` check")),
    }
}

/// `affects user, items; merges into items`, for doc comments.
pub fn effects_note(f: &Function) -> Option<String> {
    let mut parts = Vec::new();
    if !f.affects.is_empty() {
        parts.push(format!("invalidates {}", f.affects.join(", ")));
    }
    if !f.merge.is_empty() {
        parts.push(format!("merges its result into {}", f.merge.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(kdl: &str) -> Result<Registry> {
        Registry::from_kdl(kdl)
    }

    #[test]
    fn params_are_required_when_a_member_requires_them() {
        let r = api("mizan-ir version=1\nfunction a context=c output=string {\n input x type=integer\n input y type=string required=#false\n}\nfunction b context=c output=string {\n input x type=\"optional<integer>\"\n input z type=boolean\n}\n").unwrap();
        let a = Api::new(&r).unwrap();
        let c = &a.contexts[0];
        let got: Vec<(&str, String, bool)> = c.params.iter().map(|p| (p.name, p.ty.spelling(), p.required)).collect();
        assert_eq!(
            got,
            vec![("x", "integer".into(), true), ("y", "string".into(), false), ("z", "boolean".into(), true)]
        );
    }

    #[test]
    fn conflicting_param_types_are_refused() {
        let r = api("mizan-ir version=1\nfunction a context=c output=string {\n input x type=integer\n}\nfunction b context=c output=string {\n input x type=string\n}\n").unwrap();
        let e = Api::new(&r).unwrap_err();
        assert!(e.message.contains("`x` is integer in `a` but string in `b`"), "{}", e.message);
    }

    #[test]
    fn unsupported_functions_are_listed_not_dropped_silently() {
        let r = api("mizan-ir version=1\nfunction p context=prices output=number websocket=#true\nfunction w output=any private=#true\nfunction ok output=string\n").unwrap();
        let a = Api::new(&r).unwrap();
        assert_eq!(a.calls.len(), 1);
        assert!(a.contexts.is_empty());
        assert_eq!(
            a.skipped_lines(),
            vec![
                "context `prices` (member `p` is websocket transport: the generated clients speak HTTP)".to_string(),
                "function `w` (private: not client-callable)".to_string()
            ]
        );
    }
}
