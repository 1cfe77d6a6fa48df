//! `vue.ts`: the `MizanContext` component (the root: provides the client, hydrates a server
//! render's state, mounts `global`), a `useX(params, options?)` composable per context (params
//! may be a ref or a getter) and `useXMutation(options?)` per call, thin over
//! `@mizan/kernel-wasm/vue`.

use super::{RESERVED, all_optional, call_doc, claim_hooks, context_doc, doc, framework_preamble, quote, typed_mutation};
use crate::api::Api;
use crate::naming::Names;
use crate::writer::Code;
use mizan_kernel::Result;

pub fn generate(api: &Api) -> Result<String> {
    let mut names = Names::new("vue", RESERVED);
    for fixed in ["MizanContext", "TypedMutationRefs"] {
        names.claim(fixed, "a name of the Vue module");
    }
    claim_hooks(&mut names, api);
    names.finish()?;

    let mut code = Code::new();
    framework_preamble(&mut code, api, &["import * as vue from 'vue';", "import * as mizanVue from '@mizan/kernel-wasm/vue';"]);
    typed_mutation(&mut code, "TypedMutationRefs", "mizanVue.MutationRefs");

    code.blank();
    let mut root_doc = vec![
        "The root of the app (`<MizanContext :client=\"client\">`): provides `client` to every".to_string(),
        "generated composable, makes it the default client of `fetchXxx`/`callXxx`, and hydrates".to_string(),
        "`state` (a server render's `client.dehydrate()`).".to_string(),
    ];
    if api.global().is_some() {
        root_doc.push("It keeps the `global` context mounted: fetched once, kept fresh, read with `useGlobal()`.".into());
    }
    doc(&mut code, "", &root_doc);
    code.line("export const MizanContext = vue.defineComponent({");
    code.line("  name: 'MizanContext',");
    code.line("  props: {");
    code.line("    client: { type: Object as vue.PropType<MizanClient>, required: true },");
    code.line("    state: { type: Object as vue.PropType<DehydratedState>, required: false },");
    code.line("  },");
    code.line("  setup(props, { slots }) {");
    code.line("    if (props.state !== undefined) props.client.hydrate(props.state);");
    code.line("    api.setDefaultClient(props.client);");
    code.line("    mizanVue.provideMizan(props.client);");
    if api.global().is_some() {
        code.line("    useGlobal({}, { client: props.client });");
    }
    code.line("    return () => slots.default?.();");
    code.line("  },");
    code.line("});");

    for c in &api.contexts {
        code.blank();
        doc(&mut code, "", &context_doc(c));
        let default = if all_optional(&c.params) { " = {}" } else { "" };
        code.line(format!("export function use{p}(", p = c.pascal));
        code.line(format!("  params: vue.MaybeRefOrGetter<api.{}Params>{default},", c.pascal));
        code.line("  options?: { enabled?: vue.MaybeRefOrGetter<boolean>; client?: MizanClient },");
        code.line(format!("): mizanVue.ContextRefs<api.{}Bundle> {{", c.pascal));
        code.line(format!("  return mizanVue.useMizanContext<api.{}Bundle>({}, params, options);", c.pascal, quote(c.name)));
        code.line("}");
    }

    for f in &api.calls {
        code.blank();
        doc(&mut code, "", &call_doc(f));
        code.line(format!("export function use{p}Mutation(", p = f.pascal));
        code.line(format!("  options?: MutationOptions<api.{}Result> & {{ client?: MizanClient }},", f.pascal));
        code.line(format!("): TypedMutationRefs<api.{p}Args, api.{p}Result> {{", p = f.pascal));
        code.line(format!("  return mizanVue.useMutation<api.{}Result>({}, options);", f.pascal, quote(&f.function.name)));
        code.line("}");
    }
    Ok(code.finish())
}
