//! `react.ts`: `<MizanContext client state?>` (the root: provides the client, hydrates a
//! server render's state, mounts `global`), `useX(params, options?)` per context and
//! `useXMutation(options?)` per call, thin over `@mizan/kernel-wasm/react`. No JSX, so the file
//! compiles whatever the app's `jsx` setting is.

use super::{RESERVED, all_optional, call_doc, claim_hooks, context_doc, doc, framework_preamble, quote, typed_mutation};
use crate::api::Api;
use crate::naming::Names;
use crate::writer::Code;
use mizan_kernel::Result;

pub fn generate(api: &Api) -> Result<String> {
    let mut names = Names::new("react", RESERVED);
    for fixed in ["MizanContext", "MizanContextProps", "TypedMutationResult", "MountGlobal"] {
        names.claim(fixed, "a name of the React module");
    }
    claim_hooks(&mut names, api);
    names.finish()?;

    let mut code = Code::new();
    framework_preamble(
        &mut code,
        api,
        &["import * as React from 'react';", "import * as mizanReact from '@mizan/kernel-wasm/react';"],
    );
    typed_mutation(&mut code, "TypedMutationResult", "mizanReact.MutationResult");

    code.blank();
    code.line("export type MizanContextProps = {");
    code.line("  client: MizanClient;");
    code.line("  /** A server render's `client.dehydrate()`, hydrated before the first render. */");
    code.line("  state?: DehydratedState;");
    code.line("  children?: React.ReactNode;");
    code.line("};");
    code.blank();
    let mut root_doc = vec![
        "The root of the app: provides `client` to every generated hook, makes it the default".to_string(),
        "client of `fetchXxx`/`callXxx`, and hydrates `state` (or `window.__MIZAN_SSR_DATA__`,".to_string(),
        "which `createClient` reads itself).".to_string(),
    ];
    if api.global().is_some() {
        root_doc.push("It keeps the `global` context mounted: fetched once, kept fresh, read with `useGlobal()`.".into());
    }
    doc(&mut code, "", &root_doc);
    code.line("export function MizanContext({ client, state, children }: MizanContextProps): React.ReactNode {");
    code.line("  // In render, not in an effect: the children's first snapshot must see the hydrated data.");
    code.line("  React.useMemo(() => {");
    code.line("    if (state !== undefined) client.hydrate(state);");
    code.line("    api.setDefaultClient(client);");
    code.line("  }, [client, state]);");
    if api.global().is_some() {
        code.line("  return React.createElement(mizanReact.MizanProvider, { client }, React.createElement(MountGlobal, null, children));");
        code.line("}");
        code.blank();
        code.line("/** Observes `global` for as long as the app is mounted. */");
        code.line("function MountGlobal({ children }: { children?: React.ReactNode }): React.ReactNode {");
        code.line("  useGlobal();");
        code.line("  return children;");
        code.line("}");
    } else {
        code.line("  return React.createElement(mizanReact.MizanProvider, { client }, children);");
        code.line("}");
    }

    for c in &api.contexts {
        code.blank();
        doc(&mut code, "", &context_doc(c));
        let default = if all_optional(&c.params) { " = {}" } else { "" };
        code.line(format!(
            "export function use{p}(params: api.{p}Params{default}, options?: {{ enabled?: boolean }}): mizanReact.ContextResult<api.{p}Bundle> {{",
            p = c.pascal
        ));
        code.line(format!("  return mizanReact.useMizanContext<api.{}Bundle>({}, params, options);", c.pascal, quote(c.name)));
        code.line("}");
    }

    for f in &api.calls {
        code.blank();
        doc(&mut code, "", &call_doc(f));
        code.line(format!(
            "export function use{p}Mutation(options?: MutationOptions<api.{p}Result>): TypedMutationResult<api.{p}Args, api.{p}Result> {{",
            p = f.pascal
        ));
        code.line(format!("  return mizanReact.useMutation<api.{}Result>({}, options);", f.pascal, quote(&f.function.name)));
        code.line("}");
    }
    Ok(code.finish())
}
