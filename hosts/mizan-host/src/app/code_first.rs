//! Code-first functions in an app: [`Mizan::from_code`] and [`MizanBuilder::code_functions`]
//! register every `#[client]` function and `#[predicate]` linked into the program, after
//! checking them against the app's IR and against [`Ctx`] (the context every host gives).

use std::any::TypeId;
use std::sync::Arc;

use super::{Ctx, Handler, Mizan, MizanBuilder, PredicateFn, catch_unwind};
use crate::code_first::{self, CtxType};
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::server::Outcome;

impl Mizan {
    /// An app over the IR of the `#[client]` functions linked into this program (written by
    /// the kernel, [`code_first::build_registry`]), each one registered, with every
    /// `#[predicate]`. Go on with the builder (identity, cache, secrets…), then `build()`.
    pub fn from_code() -> Result<MizanBuilder> {
        let kernel = Kernel::new()?;
        let kdl = code_first::build_registry(&kernel)?.to_kdl()?;
        Mizan::builder(kdl).kernel(kernel).code_functions()
    }
}

/// `Some(problem)` when a registration takes a context this integration does not give.
fn wrong_ctx(what: &str, name: &str, rust_path: &str, ctx: Option<CtxType>) -> Option<String> {
    let ctx = ctx?;
    ((ctx.id)() != TypeId::of::<Ctx>()).then(|| {
        format!("{what} `{name}` ({rust_path}) takes a `{}`; Mizan apps give `mizan_host::app::Ctx`", (ctx.name)())
    })
}

impl MizanBuilder {
    /// Register every `#[client]` function and `#[predicate]` linked into this program.
    ///
    /// First the builder's IR is checked against the code ([`code_first::check_ir`]): a
    /// function in one but not the other, or declared differently, fails here with its name
    /// (so a stale checked-in IR cannot serve). A registration whose context parameter is not
    /// [`Ctx`] fails too. Functions and predicates registered by name afterwards
    /// ([`MizanBuilder::function`], [`MizanBuilder::predicate`]) replace these.
    pub fn code_functions(mut self) -> Result<Self> {
        let kernel = match &self.kernel {
            Some(k) => k.clone(),
            None => Kernel::new()?,
        };
        code_first::check_ir(&kernel, &self.kdl)?;
        self.kernel = Some(kernel);
        let functions = code_first::functions();
        let predicates = code_first::predicates();
        let problems: Vec<String> = functions
            .iter()
            .filter_map(|f| wrong_ctx("function", f.name, f.rust_path, f.ctx))
            .chain(predicates.iter().filter_map(|p| wrong_ctx("predicate", p.name, p.rust_path, p.ctx)))
            .collect();
        if !problems.is_empty() {
            return Err(Error::Registration(problems.join("; ")));
        }
        for f in functions {
            let (name, call) = (f.name, f.call);
            let handler: Handler = Arc::new(move |args: String, ctx: Ctx| {
                let running = call(args, Box::new(ctx));
                Box::pin(async move {
                    catch_unwind(running).await.unwrap_or_else(|panic| Outcome::Exception(format!("`{name}` panicked: {panic}")))
                })
            });
            self.functions.insert(name.to_string(), handler);
        }
        for p in predicates {
            let call = p.call;
            let predicate: PredicateFn = Arc::new(move |ctx: Ctx| {
                let judging = call(Box::new(ctx));
                Box::pin(async move { catch_unwind(judging).await.unwrap_or(false) })
            });
            self.predicates.insert(p.name.to_string(), predicate);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[crate::client]
    async fn takes_the_app_ctx(ctx: Ctx) -> Option<String> {
        ctx.user().map(str::to_string)
    }

    #[test]
    fn a_context_of_another_type_is_refused_by_name() {
        let find = |name: &str| code_first::functions().into_iter().find(|f| f.name == name).unwrap();
        let odd = find("odd_context");
        assert_eq!(
            wrong_ctx("function", odd.name, odd.rust_path, odd.ctx).as_deref(),
            Some(
                "function `odd_context` (mizan_host::code_first::tests::odd_context) takes a `alloc::string::String`; \
                 Mizan apps give `mizan_host::app::Ctx`"
            )
        );
        let fine = find("takes_the_app_ctx");
        assert!(fine.ctx.is_some());
        assert_eq!(wrong_ctx("function", fine.name, fine.rust_path, fine.ctx), None);
        assert_eq!(wrong_ctx("function", "f", "f", None), None);
    }
}
