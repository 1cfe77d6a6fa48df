//! `mizan.ts`: the framework-agnostic client. One `type` per IR type; per context `XParams`,
//! `XBundle` and `fetchX(params, client?)`; per call `XArgs`, `XResult` and
//! `callX(args, options?)`; all over `MizanClient` from `@mizan/kernel-wasm/client`.

use super::{RESERVED, all_optional, call_doc, claim_stage1, context_doc, doc, header, object_type, param_members, quote, ts_type};
use crate::api::Api;
use crate::naming::Names;
use crate::writer::Code;
use mizan_kernel::Result;

pub fn generate(api: &Api) -> Result<String> {
    let mut names = Names::new("stage1", RESERVED);
    claim_stage1(&mut names, api);
    names.finish()?;

    let mut code = Code::new();
    header(&mut code, api);
    code.line("import type { Json } from '@mizan/kernel-wasm';");
    code.line("import type { MizanClient, Optimistic } from '@mizan/kernel-wasm/client';");

    for e in &api.enums {
        code.blank();
        // A value and a type of one name: the values for a UI (`OrderStatus.map(…)`), the union
        // of them for the type checker.
        doc(&mut code, "", &[format!("The values of the enum `{}`, in their declared order.", e.name)]);
        let values: Vec<String> = e.values.iter().map(|v| quote(v)).collect();
        code.line(format!("export const {} = [{}] as const;", e.name, values.join(", ")));
        code.line(format!("export type {n} = (typeof {n})[number];", n = e.name));
    }

    for t in &api.types {
        code.blank();
        let members: Vec<(String, String, bool)> = t.fields.iter().map(|f| (f.name.clone(), ts_type(&f.ty, ""), f.required)).collect();
        object_type(&mut code, &t.name, &members);
    }

    for c in &api.contexts {
        code.blank();
        doc(&mut code, "", &[format!("The params of context `{}`.", c.name)]);
        object_type(&mut code, &format!("{}Params", c.pascal), &param_members(&c.params, ""));
        code.blank();
        doc(&mut code, "", &[format!("The bundle of context `{}`: one slot per member function.", c.name)]);
        let slots: Vec<(String, String, bool)> = c.members.iter().map(|f| (f.name.clone(), ts_type(&f.output, ""), true)).collect();
        object_type(&mut code, &format!("{}Bundle", c.pascal), &slots);
    }

    for f in &api.calls {
        code.blank();
        doc(&mut code, "", &[format!("The arguments of `{}`.", f.function.name)]);
        object_type(&mut code, &format!("{}Args", f.pascal), &param_members(&f.args, ""));
        code.blank();
        code.line(format!("export type {}Result = {};", f.pascal, ts_type(&f.function.output, "")));
    }

    code.blank();
    code.line("/** What a `callXxx` takes besides its arguments. */");
    code.line("export type CallOptions = {");
    code.line("  /** Default: the client given to `setDefaultClient` (the generated providers set it). */");
    code.line("  client?: MizanClient;");
    code.line("  /** Merge entries applied at once and rolled back exactly if the call fails. */");
    code.line("  optimistic?: Optimistic;");
    code.line("};");
    code.blank();
    code.line("let defaultClient: MizanClient | null = null;");
    code.blank();
    code.line("/** The client `fetchXxx` and `callXxx` use when none is passed. On a server rendering");
    code.line(" * several requests at once, pass each request's client explicitly instead. */");
    code.line("export function setDefaultClient(client: MizanClient | null): void {");
    code.line("  defaultClient = client;");
    code.line("}");
    code.blank();
    code.line("export function getDefaultClient(): MizanClient {");
    code.line("  if (defaultClient === null) {");
    code.line("    throw new Error('mizan: no client; call setDefaultClient(createClient(...)), mount MizanContext, or pass a client');");
    code.line("  }");
    code.line("  return defaultClient;");
    code.line("}");

    for c in &api.contexts {
        code.blank();
        let mut lines = context_doc(c);
        if c.shared {
            lines.push("Shared: the same data for every caller.".into());
        }
        doc(&mut code, "", &lines);
        let default = if all_optional(&c.params) { " = {}" } else { "" };
        code.line(format!(
            "export function fetch{p}(params: {p}Params{default}, client: MizanClient = getDefaultClient()): Promise<{p}Bundle> {{",
            p = c.pascal
        ));
        code.line(format!("  return client.fetch<{}Bundle>({}, params);", c.pascal, quote(c.name)));
        code.line("}");
    }

    for f in &api.calls {
        code.blank();
        doc(&mut code, "", &call_doc(f));
        let default = if all_optional(&f.args) { " = {}" } else { "" };
        code.line(format!(
            "export function call{p}(args: {p}Args{default}, options: CallOptions = {{}}): Promise<{p}Result> {{",
            p = f.pascal
        ));
        code.line(format!(
            "  return (options.client ?? getDefaultClient()).mutate<{}Result>({}, args, {{ optimistic: options.optimistic }});",
            f.pascal,
            quote(&f.function.name)
        ));
        code.line("}");
    }
    Ok(code.finish())
}
