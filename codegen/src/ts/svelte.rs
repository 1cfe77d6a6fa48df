//! `svelte.ts`: `setMizanContext(client, options?)` (call it while the root component
//! initialises: provides the client, hydrates a server render's state, mounts `global`), a
//! readable store `useX(params, client?)` per context and `useXMutation(options?, client?)` per
//! call, thin over `@mizan/kernel-wasm/svelte`. Without `client` they take the one set by an
//! ancestor (so call them during component init); with it, anywhere.

use super::{RESERVED, all_optional, call_doc, claim_hooks, context_doc, doc, framework_preamble, quote, typed_mutation};
use crate::api::Api;
use crate::naming::Names;
use crate::writer::Code;
use mizan_kernel::Result;

pub fn generate(api: &Api) -> Result<String> {
    let mut names = Names::new("svelte", RESERVED);
    for fixed in ["setMizanContext", "TypedMutationStore"] {
        names.claim(fixed, "a name of the Svelte module");
    }
    claim_hooks(&mut names, api);
    names.finish()?;

    let mut code = Code::new();
    framework_preamble(&mut code, api, &["import * as svelte from 'svelte';", "import * as mizanSvelte from '@mizan/kernel-wasm/svelte';"]);
    typed_mutation(&mut code, "TypedMutationStore", "mizanSvelte.MutationStore");

    code.blank();
    let mut root_doc = vec![
        "Call while the root component initialises: provides `client` to every generated store,".to_string(),
        "makes it the default client of `fetchXxx`/`callXxx`, and hydrates `options.state` (a".to_string(),
        "server render's `client.dehydrate()`).".to_string(),
    ];
    if api.global().is_some() {
        root_doc.push("It keeps the `global` context observed until the component is destroyed.".into());
    }
    doc(&mut code, "", &root_doc);
    code.line("export function setMizanContext(client: MizanClient, options: { state?: DehydratedState } = {}): MizanClient {");
    code.line("  if (options.state !== undefined) client.hydrate(options.state);");
    code.line("  api.setDefaultClient(client);");
    code.line("  mizanSvelte.setMizanClient(client);");
    if api.global().is_some() {
        code.line("  svelte.onDestroy(useGlobal({}, client).subscribe(() => {}));");
    }
    code.line("  return client;");
    code.line("}");

    for c in &api.contexts {
        code.blank();
        doc(&mut code, "", &context_doc(c));
        let default = if all_optional(&c.params) { " = {}" } else { "" };
        code.line(format!(
            "export function use{p}(params: api.{p}Params{default}, client?: MizanClient): mizanSvelte.ContextStore<api.{p}Bundle> {{",
            p = c.pascal
        ));
        code.line("  return client === undefined");
        code.line(format!("    ? mizanSvelte.useMizanContext<api.{}Bundle>({}, params)", c.pascal, quote(c.name)));
        code.line(format!("    : mizanSvelte.contextStore<api.{}Bundle>(client, {}, params);", c.pascal, quote(c.name)));
        code.line("}");
    }

    for f in &api.calls {
        code.blank();
        doc(&mut code, "", &call_doc(f));
        code.line(format!("export function use{p}Mutation(", p = f.pascal));
        code.line(format!("  options?: MutationOptions<api.{}Result>,", f.pascal));
        code.line("  client?: MizanClient,");
        code.line(format!("): TypedMutationStore<api.{p}Args, api.{p}Result> {{", p = f.pascal));
        code.line("  return client === undefined");
        code.line(format!("    ? mizanSvelte.useMutation<api.{}Result>({}, options)", f.pascal, quote(&f.function.name)));
        code.line(format!("    : mizanSvelte.mutationStore<api.{}Result>(client, {}, options);", f.pascal, quote(&f.function.name)));
        code.line("}");
    }
    Ok(code.finish())
}
