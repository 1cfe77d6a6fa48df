//! The KDL IR: parsing, the canonical form, errors with positions, the graph check, and
//! robustness against arbitrary input (KERNEL.md §3, docs/IR.md).

use mizan_kernel::ir::*;
use mizan_kernel::{Error, ErrorCode};
use proptest::prelude::*;
use serde_json::json;

const SHOP: &str = include_str!("../../tests/fixtures/ir/shop.kdl");
const SHOP_UNSORTED: &str = include_str!("../../tests/fixtures/ir/shop.unsorted.kdl");
const SHOP_CANONICAL: &str = include_str!("../../tests/fixtures/ir/shop.canonical.kdl");
const PARITY: &str = include_str!("../../tests/fixtures/ir/parity.kdl");

fn parse(text: &str) -> Registry {
    match Registry::from_kdl(text) {
        Ok(r) => r,
        Err(e) => panic!("expected the IR to parse, got {e}\n{text}"),
    }
}

/// The error of IR text that must not parse.
fn error(text: &str) -> Error {
    match Registry::from_kdl(text) {
        Ok(_) => panic!("expected an error for\n{text}"),
        Err(e) => e,
    }
}

/// Assert an `invalid-ir` error at `line`:`column` whose message contains `needle`.
#[track_caller]
fn ir_error(text: &str, line: u64, column: u64, needle: &str) {
    let e = error(text);
    assert_eq!(e.code, ErrorCode::InvalidIr, "{e}");
    assert_eq!(e.details, Some(json!({"line": line, "column": column})), "{e}");
    assert!(e.message.contains(needle), "message `{}` lacks `{needle}`", e.message);
    assert!(e.message.starts_with(&format!("line {line}, column {column}: ")), "{}", e.message);
}

/// Assert an `invalid-registry` error (the graph check) one of whose problems contains `needle`.
#[track_caller]
fn graph_error(text: &str, needle: &str) {
    let e = error(text);
    assert_eq!(e.code, ErrorCode::InvalidRegistry, "{e}");
    let problems = e.details.as_ref().and_then(|d| d["problems"].as_array().cloned()).unwrap_or_default();
    assert!(
        problems.iter().any(|p| p.as_str().is_some_and(|p| p.contains(needle))),
        "no problem mentions `{needle}`: {problems:?}"
    );
}

/// `mizan-ir version=1` and the given body.
fn ir(body: &str) -> String {
    format!("mizan-ir version=1\n{body}")
}

/// `mizan-ir version=2` (enums) and the given body.
fn ir2(body: &str) -> String {
    format!("mizan-ir version=2\n{body}")
}

// ---------------------------------------------------------------------------------------------
// The example registry and the canonical form

#[test]
fn shop_parses_into_the_expected_registry() {
    let r = parse(SHOP);
    let names: Vec<&str> = r.functions_sorted().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "catalog_categories",
            "contact_submit",
            "current_user",
            "items_list",
            "live_prices",
            "rename_user",
            "set_item_name",
            "stripe_webhook",
            "update_profile",
            "user_orders",
            "user_profile"
        ]
    );
    let contexts: Vec<&str> = r.contexts_sorted().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(contexts, ["catalog", "global", "items", "prices", "subscription", "user"]);
    assert!(r.context("catalog").is_some_and(|c| c.shared));
    assert!(r.context("user").is_some_and(|c| !c.shared && c.members == ["user_orders", "user_profile"]));
    assert!(r.context("subscription").is_some_and(|c| c.members.is_empty()));
    assert_eq!(r.context("prices").map(|c| c.members.clone()), Some(vec!["live_prices".to_string()]));

    let items = &r.functions["items_list"];
    assert_eq!(items.output, TypeRef::List(Box::new(TypeRef::Named("ItemOutput".into()))));
    assert_eq!(items.cache, Some(CacheSetting::Ttl(60)));
    assert_eq!(
        items.inputs,
        [
            Input { name: "category".into(), ty: TypeRef::String, required: false },
            Input { name: "page".into(), ty: TypeRef::Optional(Box::new(TypeRef::Integer)), required: false },
        ]
    );

    let set = &r.functions["set_item_name"];
    assert_eq!(set.affects, ["items", "catalog"]);
    assert_eq!(set.merge, ["items"]);
    assert_eq!(set.auth, Auth::Staff);
    assert_eq!(set.rev, 2);
    assert_eq!(r.functions["rename_user"].affects, ["user_profile"]);

    let hook = &r.functions["stripe_webhook"];
    assert!(hook.private && hook.view && !hook.websocket);
    assert_eq!(hook.route.as_deref(), Some("/webhooks/stripe/"));
    assert_eq!(hook.methods, ["POST"]);
    assert_eq!(hook.cache, Some(CacheSetting::Never));
    assert_eq!(hook.output, TypeRef::Any);

    let form = &r.functions["contact_submit"];
    assert_eq!(form.auth, Auth::Predicate("is_internal".into()));
    assert_eq!(form.form.as_deref(), Some("submit"));
    assert_eq!(form.form_name.as_deref(), Some("contact"));
    assert!(form.input("attachment").is_some_and(|i| !i.required));

    assert!(r.functions["live_prices"].websocket);
    assert_eq!(r.types["OrderShape"].key.as_deref(), Some("id"));
    assert_eq!(r.types["ItemOutput"].key, None);
    let email = r.types["UserShape"].fields.iter().find(|f| f.name == "email");
    assert!(email.is_some_and(|f| !f.required && f.ty == TypeRef::Optional(Box::new(TypeRef::String))));
}

#[test]
fn shop_round_trips() {
    let r = parse(SHOP);
    let text = r.to_kdl();
    assert_eq!(text, r.to_kdl(), "emitting twice is byte-identical");
    let again = parse(&text);
    assert_eq!(again, r, "parse(emit(r)) == r");
    assert_eq!(again.to_kdl(), text, "emit(parse(emit(r))) == emit(r)");
}

#[test]
fn canonical_form_of_an_unsorted_input_is_the_checked_in_file() {
    assert_eq!(parse(SHOP_UNSORTED).to_kdl(), SHOP_CANONICAL);
    assert_eq!(parse(SHOP).to_kdl(), SHOP_CANONICAL);
    assert_eq!(parse(SHOP_UNSORTED), parse(SHOP));
    // The canonical form is a fixed point.
    assert_eq!(parse(SHOP_CANONICAL).to_kdl(), SHOP_CANONICAL);
}

#[test]
fn canonical_layout() {
    assert!(SHOP_CANONICAL.starts_with("mizan-ir version=1\n\ncontext catalog shared=#true {\n    member catalog_categories\n}\n\n"));
    assert!(SHOP_CANONICAL.ends_with("}\n") && !SHOP_CANONICAL.ends_with("\n\n"));
    assert!(!SHOP_CANONICAL.contains("\n\n\n"));
    assert!(SHOP_CANONICAL.contains(
        "\nfunction stripe_webhook output=any private=#true view=#true cache=#false route=\"/webhooks/stripe/\" {\n    affects subscription\n    methods POST\n}\n"
    ));
    assert!(SHOP_CANONICAL.contains("\ncontext subscription\n\n"));
}

#[test]
fn empty_registry_emits_just_the_header() {
    let r = parse("mizan-ir version=1");
    assert_eq!(r, Registry::default());
    assert_eq!(r.to_kdl(), "mizan-ir version=1\n");
}

#[test]
fn every_function_property_and_child_in_order() {
    let text = ir(r#"
type T { field id type=integer; }
context c
function m output=T auth="predicate:can_edit" private=#true view=#true websocket=#true rev=7 cache=0 route="/m/" {
    form role=validate name=signup
    methods POST PUT
    merge c
    affects c
    input z type="optional<integer>" required=#true
    input a type=any required=#false
    input "na me" type="null"
}
"#);
    let r = parse(&text);
    let expected = "mizan-ir version=1

context c

function m output=T auth=\"predicate:can_edit\" private=#true view=#true websocket=#true rev=7 cache=0 route=\"/m/\" {
    input a type=any required=#false
    input \"na me\" type=\"null\"
    input z type=\"optional<integer>\" required=#true
    affects c
    merge c
    methods POST PUT
    form role=validate name=signup
}

type T {
    field id type=integer
}
";
    assert_eq!(r.to_kdl(), expected);
    assert_eq!(parse(expected), r);
    let z = r.functions["m"].input("z").cloned();
    assert_eq!(z.map(|i| i.required), Some(true));
}

#[test]
fn repeated_list_nodes_concatenate_in_declaration_order() {
    let r = parse(&ir("context a\ncontext b\ncontext c\nfunction m output=any {\n    affects c a\n    affects b\n    merge b\n    merge a\n    methods POST\n    methods DELETE\n}\n"));
    let m = &r.functions["m"];
    assert_eq!(m.affects, ["c", "a", "b"]);
    assert_eq!(m.merge, ["b", "a"]);
    assert_eq!(m.methods, ["POST", "DELETE"]);
    assert!(r.to_kdl().contains("    affects c a b\n    merge b a\n    methods POST DELETE\n"));
}

#[test]
fn context_members_are_checked_against_the_functions() {
    // Listing the members is optional; when listed they must agree (any order).
    let text = ir("context u {\n    member b a\n}\nfunction a context=u output=any\nfunction b context=u output=any\n");
    assert_eq!(parse(&text).context("u").map(|c| c.members.clone()), Some(vec!["a".into(), "b".into()]));
    graph_error(&ir("context u {\n    member a\n}\nfunction a context=u output=any\nfunction b context=u output=any\n"), "lists members");
    graph_error(&ir("context u {\n    member a\n}\n"), "lists members");
}

#[test]
fn names_that_need_quotes_are_quoted_and_round_trip() {
    let mut f = Function::new("true", TypeRef::Null);
    f.route = Some("a\"b\\c\nd\te\u{0}f\u{7f}g\u{85}h\u{2028}i\u{200e}j\u{feff}k é 😀 {}".into());
    for name in ["true", "false", "null", "inf", "nan", "-inf", "1abc", "a b", "", "é", "a-b", "a=b", "#x", "日本", "a/b", "(x)", "\"", "\\"] {
        f.inputs.push(Input { name: name.into(), ty: TypeRef::Any, required: true });
    }
    let r = match Registry::build(vec![f], vec![], vec![]) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let text = r.to_kdl();
    assert!(text.contains("function \"true\" output=\"null\" route="), "{text}");
    assert!(text.contains("    input é type=any\n    input 日本 type=any\n"), "{text}");
    assert!(text.contains("    input \"\" type=any\n"), "{text}");
    assert!(text.contains("    input \"inf\" type=any\n"), "{text}");
    assert!(text.contains("    input \"a b\" type=any\n"), "{text}");
    assert!(text.contains(r#"route="a\"b\\c\nd\te\u{0}f\u{7f}g\u{85}h\u{2028}i\u{200e}j\u{feff}k é 😀 {}""#), "{text}");
    assert_eq!(parse(&text), r);
    assert_eq!(parse(&text).to_kdl(), text);
}

#[test]
fn accepts_kdl_v2_spellings() {
    // Quoted and raw strings, comments, slashdash, semicolons and hex integers are all KDL.
    let text = "/* header */ mizan-ir version=0x1 // trailing\n\"function\" #\"f\"# output=any rev=0b10 /-cache=5 ; function g output=any\n";
    let r = parse(text);
    assert_eq!(r.functions["f"].rev, 2);
    assert_eq!(r.functions["f"].cache, None);
    assert!(r.functions.contains_key("g"));
}

// ---------------------------------------------------------------------------------------------
// Errors: what is wrong, and where

#[test]
fn kdl_syntax_errors_carry_positions() {
    ir_error("mizan-ir version=1\nfunction f output=any route=\"a\\qb\"\n", 2, 31, "invalid escape `\\q`");
    ir_error("mizan-ir version=1\nfunction f output=any route=\"\\u{d800}\"\n", 2, 30, "invalid `\\u{…}` escape");
    ir_error("mizan-ir version=1\nfunction f output=any }\n", 2, 23, "unexpected `}`");
    ir_error("mizan-ir version=1\nfunction f output=any\u{7}\n", 2, 22, "U+0007 may not appear literally");
    ir_error("mizan-ir version=1\nfunction f output=\"\"\"x\n\"\"\"\n", 2, 19, "opening \"\"\" must end its line");
    ir_error("mizan-ir version=1\nfunction f output=any /* never closed\n", 2, 23, "this `/*` comment is never closed");
    ir_error("mizan-ir version=1\nfunction f output=any\"x\"\n", 2, 22, "separated by whitespace");
    ir_error("mizan-ir version=1\nfunction f output=any x=\n", 2, 25, "expected a property value, found a newline");
    ir_error("mizan-ir version=1\nfunction f output=\"unterminated\n", 2, 19, "KDL syntax error");
    ir_error("mizan-ir version=1\nfunction f output=any {\n    input a type=any\n", 2, 23, "this `{` is never closed");
    ir_error("mizan-ir version=1\nfunction f output=any rev=1x\n", 2, 27, "KDL syntax error");
    // KDL v1 spellings are not KDL v2.
    ir_error("mizan-ir version=1\nfunction f output=any private=true\n", 2, 31, "KDL syntax error");
}

#[test]
fn header_errors() {
    ir_error("", 1, 1, "empty");
    ir_error("// only a comment\n", 1, 1, "empty");
    ir_error("function f output=any\n", 1, 1, "first node must be `mizan-ir version=1`");
    ir_error("\n\n  context c\nmizan-ir version=1\n", 3, 3, "first node must be `mizan-ir version=1`");
    ir_error("mizan-ir version=3\n", 1, 10, "unsupported IR version 3: this kernel reads versions 1 to 2");
    ir_error("mizan-ir version=0\n", 1, 10, "unsupported IR version 0");
    ir_error("mizan-ir version=-1\n", 1, 10, "unsupported IR version -1");
    ir_error("mizan-ir version=\"1\"\n", 1, 10, "version must be an integer");
    ir_error("mizan-ir\n", 1, 1, "needs version=1");
    ir_error("mizan-ir version=1 version=1\n", 1, 20, "duplicate property `version`");
    ir_error("mizan-ir version=1 flavour=x\n", 1, 20, "unknown property `flavour`");
    ir_error("mizan-ir 1\n", 1, 10, "takes no arguments");
    ir_error("mizan-ir version=1 {\n    context c\n}\n", 1, 1, "takes no children block");
    ir_error("mizan-ir version=1\nmizan-ir version=1\n", 2, 1, "only once");
}

#[test]
fn unknown_nodes_and_properties() {
    ir_error(&ir("function f output=any\nquery q\n"), 3, 1, "unknown node `query`");
    ir_error(&ir("function f output=any {\n    inputs a type=any\n}\n"), 3, 5, "unknown node `inputs` in function `f`");
    ir_error(&ir("context c {\n    members f\n}\n"), 3, 5, "unknown node `members` in context `c`");
    ir_error(&ir("type T {\n    fields id type=integer\n}\n"), 3, 5, "unknown node `fields` in type `T`");
    ir_error(&ir("function f output=any caching=5\n"), 2, 23, "unknown property `caching` on `function`");
    ir_error(&ir("context c shared=#true members=2\n"), 2, 24, "unknown property `members` on `context`");
    ir_error(&ir("type T key=id name=x\n"), 2, 15, "unknown property `name` on `type`");
    ir_error(&ir("function f output=any {\n    input a type=any optional=#true\n}\n"), 3, 22, "unknown property `optional` on `input`");
    ir_error(&ir("function f output=any {\n    affects x=1\n}\n"), 3, 13, "it takes no properties");
    ir_error(&ir("function f output=any rev=1 rev=2\n"), 2, 29, "duplicate property `rev` on `function`");
}

#[test]
fn wrong_value_types() {
    ir_error(&ir("function f output=any rev=\"x\"\n"), 2, 23, "rev must be a non-negative integer, not the string \"x\"");
    ir_error(&ir("function f output=any rev=-1\n"), 2, 23, "rev must be a non-negative integer below 2^64, not -1");
    ir_error(&ir("function f output=any rev=1.5\n"), 2, 23, "rev must be a non-negative integer, not the float 1.5");
    ir_error(&ir("function f output=any rev=18446744073709551616\n"), 2, 23, "below 2^64");
    ir_error(&ir("function f output=any cache=#true\n"), 2, 23, "cache must be #false or a TTL in seconds");
    ir_error(&ir("function f output=any cache=-5\n"), 2, 23, "cache must be a non-negative integer");
    ir_error(&ir("function f output=any cache=\"60\"\n"), 2, 23, "cache must be #false or a TTL");
    ir_error(&ir("function f output=any cache=#null\n"), 2, 23, "not #null");
    ir_error(&ir("function f output=any private=\"yes\"\n"), 2, 23, "private must be #true or #false");
    ir_error(&ir("function f output=any websocket=1\n"), 2, 23, "websocket must be #true or #false, not the integer 1");
    ir_error(&ir("context c shared=#null\n"), 2, 11, "shared must be #true or #false");
    ir_error(&ir("function f output=any {\n    input a type=any required=\"no\"\n}\n"), 3, 22, "required must be #true or #false");
    ir_error(&ir("function f output=any route=#false\n"), 2, 23, "route must be a string");
    ir_error(&ir("function f output=any context=1\n"), 2, 23, "context must be a string");
    ir_error(&ir("function f output=any context=\"a b\"\n"), 2, 23, "context=`a b` is not an identifier");
    ir_error(&ir("function f output=#null\n"), 2, 12, "output must be a string");
    ir_error(&ir("function 12 output=any\n"), 2, 10, "the function name must be a string, not the integer 12");
    ir_error(&ir("function f output=any {\n    affects a #true\n}\n"), 3, 15, "affects must be a string");
    ir_error(&ir("type T key=#true\n"), 2, 8, "key must be a string");
}

#[test]
fn bad_auth_methods_and_forms() {
    ir_error(&ir("function f output=any auth=admin\n"), 2, 23, "auth=\"admin\": expected required, staff, superuser or \"predicate:NAME\"");
    ir_error(&ir("function f output=any auth=\"predicate:\"\n"), 2, 23, "auth=");
    ir_error(&ir("function f output=any auth=#true\n"), 2, 23, "auth must be a string");
    ir_error(&ir("function f output=any {\n    methods POST get\n}\n"), 3, 18, "`get` is not an HTTP method");
    ir_error(&ir("function f output=any {\n    form name=x\n}\n"), 3, 5, "`form` needs role=");
    ir_error(&ir("function f output=any {\n    form role=render\n}\n"), 3, 10, "unknown form role `render`");
    ir_error(&ir("function f output=any {\n    form role=schema\n    form role=submit\n}\n"), 4, 5, "more than one `form`");
    ir_error(&ir("function f output=any {\n    form submit\n}\n"), 3, 10, "`form` takes no arguments");
}

#[test]
fn missing_parts() {
    ir_error(&ir("function f\n"), 2, 1, "function `f` needs output=TYPE");
    ir_error(&ir("function output=any\n"), 2, 1, "`function` needs a name");
    ir_error(&ir("context\n"), 2, 1, "`context` needs a name");
    ir_error(&ir("type key=id\n"), 2, 1, "`type` needs a name");
    ir_error(&ir("function f output=any {\n    input a\n}\n"), 3, 5, "input `a` needs type=TYPE");
    ir_error(&ir("type T {\n    field type=integer\n}\n"), 3, 5, "`field` needs a name");
    ir_error(&ir("function f output=any {\n    affects\n}\n"), 3, 5, "`affects` needs at least one name");
    ir_error(&ir("function f output=any {\n    merge\n}\n"), 3, 5, "`merge` needs at least one name");
    ir_error(&ir("context c {\n    member\n}\n"), 3, 5, "`member` needs at least one name");
}

#[test]
fn extra_arguments_children_and_annotations() {
    ir_error(&ir("function f g output=any\n"), 2, 12, "unexpected argument after the function name `f`");
    ir_error(&ir("function f output=any {\n    input a b type=any\n}\n"), 3, 13, "unexpected argument after the input name `a`");
    ir_error(&ir("function f output=any {\n    input a type=any {\n        x\n    }\n}\n"), 3, 5, "`input` takes no children block");
    ir_error(&ir("function f output=any {\n    affects c {}\n}\ncontext c\n"), 3, 5, "`affects` takes no children block");
    ir_error(&ir("(query)function f output=any\n"), 2, 1, "type annotations are not part of the IR");
    ir_error(&ir("function f output=any rev=(u8)2\n"), 2, 23, "type annotations are not part of the IR");
}

#[test]
fn unparseable_types() {
    ir_error(&ir("function f output=\"list<\"\n"), 2, 12, "output=\"list<\": `list<` is not a type");
    ir_error(&ir("function f output=\"map<>\"\n"), 2, 12, "is not a type");
    ir_error(&ir("function f output=any {\n    input a type=\"list<integer\"\n}\n"), 3, 13, "type=\"list<integer\"");
    ir_error(&ir("type T {\n    field a type=\"x y\"\n}\n"), 3, 13, "`x y` is not a type");
    let deep = format!("{}integer{}", "list<".repeat(40), ">".repeat(40));
    ir_error(&ir(&format!("function f output=\"{deep}\"\n")), 2, 12, "nests deeper");
}

#[test]
fn deep_nesting_and_hostile_repetitions_fail_cleanly() {
    let deep = format!("{}{}", "a {\n".repeat(10_000), "}\n".repeat(10_000));
    ir_error(&ir(&deep), 18, 3, "children blocks nest more than 16 levels deep");
    // Hostile repetitions (unclosed blocks, stray braces, unclosed strings and comments): each
    // fails cleanly instead of exhausting the stack.
    for unit in [
        "a{ 1x\" /* \" } */ ",
        "a{ \"\\q\" \"}\" ",
        "a{ \"\\u{d800}{\" \"}\" ",
        "a{ \"\\{\" \"}\" ",
        "a { \"}\"\n",
        "/-{",
        "{",
        "x \"\"\"\n{\n",
        "a{ #\"\"\" }\n",
        "a{ // }\n",
        "a{ /* } */\n",
        // These overflow the stack of the `kdl` crate's parser (one level per recovered error).
        "a #\"\"\"\n",
        "}",
        "a }\n",
    ] {
        let e = error(&ir(&unit.repeat(5_000)));
        assert_eq!(e.code, ErrorCode::InvalidIr, "{e}");
    }
    // Braces in strings and comments are not blocks, however many.
    let many = "{".repeat(1_000);
    let text = ir(&format!(
        "// {many}\nfunction f output=any route=\"{many}\\u{{7b}}\\u{{7d}}}}\" {{\n    /* {many} */\n    methods GET\n}}\nfunction g output=any route=#\"{many}\"#\n"
    ));
    let r = parse(&text);
    assert_eq!(r.functions["f"].route.as_deref(), Some(format!("{many}{{}}}}").as_str()));
    assert_eq!(r.functions["g"].route.as_deref(), Some(many.as_str()));
    assert_eq!(parse(&r.to_kdl()), r);
    // …and where they are, positions are still right.
    ir_error(&ir(&format!("function f output=any route=\"{many}\" bogus=1\n")), 2, 1032, "unknown property `bogus`");
    ir_error(&ir(&format!("function f output=any route=\"{many}\\q\"\n")), 2, 1030, "invalid escape `\\q`");
}

#[test]
fn long_documents_with_every_kdl_construct() {
    // Many nodes with children, and the constructs that span lines: a slashdash followed by
    // newlines, a line continuation (CRLF too), multi-line and raw strings, block comments, a
    // whitespace escape over a newline; braces inside all of them.
    let mut body = String::from("context c\n");
    for i in 0..60 {
        body.push_str(&format!(
            "function f{i} \\\r\n    output=any \\ // continued\n    route=\"\"\"\n    /{{a}}/\n    {{}}{{\n    \"\"\" {{\n    input x type=any\n    /-\n\n    input dropped type=any\n}}\n/*\n{{ a\n*/ function g{i} output=any route=#\"\"\"\n{{\n\"\"\"# route2=1\n"
        ));
        body.push_str(&format!("/-\n\nfunction h{i} output=any {{\n}}\nfunction k{i} output=any route=\"x\\\n   y{{\"; function m{i} output=any {{ affects c; }}\n"));
    }
    // `route2` is unknown: the error points at it.
    let e = error(&ir(&body));
    assert_eq!(e.code, ErrorCode::InvalidIr);
    assert_eq!(e.details, Some(json!({"line": 18, "column": 6})), "{e}");
    let body = body.replace(" route2=1", "");
    let r = parse(&ir(&body));
    assert_eq!(r.functions.len(), 60 * 4);
    assert_eq!(r.functions["f59"].route.as_deref(), Some("/{a}/\n{}{"));
    assert_eq!(r.functions["f59"].inputs.len(), 1);
    assert_eq!(r.functions["g59"].route.as_deref(), Some("{"));
    assert_eq!(r.functions["k59"].route.as_deref(), Some("xy{"));
    assert_eq!(r.functions["m59"].affects, ["c"]);
    assert!(!r.functions.contains_key("h0"));
    // An error far into the document is reported where it is.
    let broken = ir(&format!("{body}function late output=any caching=1\n"));
    let lines = broken.lines().count() as u64;
    ir_error(&broken, lines, 26, "unknown property `caching`");
}

#[test]
fn positions_count_lines_by_kdl_newlines_and_columns_by_characters() {
    ir_error("mizan-ir version=1\r\n// é\r\nfunction é output=any bogus=1\r\n", 3, 23, "unknown property `bogus`");
    ir_error("mizan-ir version=1\r// x\rfunction f output=any bogus=1\r", 3, 23, "unknown property `bogus`");
    ir_error("mizan-ir version=1\n\u{2028}function \"日本語\" output=any bogus=1", 3, 27, "unknown property `bogus`");
    ir_error("mizan-ir version=1\nfunction f output=any\tbogus=1", 2, 23, "unknown property `bogus`");
}

#[test]
fn errors_serialize_with_details() {
    let e = error(&ir("function f output=any rev=\"x\"\n"));
    let j = e.to_json();
    assert_eq!(j["code"], "invalid-ir");
    assert_eq!(j["details"], json!({"line": 2, "column": 23}));
}

// ---------------------------------------------------------------------------------------------
// The graph rules (KERNEL.md §3) come from `Registry::build`, unchanged

#[test]
fn graph_rules_are_enforced() {
    graph_error(&ir("function m output=any {\n    affects nowhere\n}\n"), "affects `nowhere`, which is no known context or function");
    graph_error(&ir("function m output=any {\n    merge nowhere\n}\n"), "merges into `nowhere`, which is no known context");
    graph_error(
        &ir("function r context=c output=any\nfunction m output=any {\n    merge r\n}\n"),
        "merges into `r`, which is no known context",
    );
    graph_error(
        &ir("function a context=live output=any websocket=#true\nfunction b context=live output=any\n"),
        "context `live` mixes websocket and non-websocket members",
    );
    graph_error(
        &ir("context c\nfunction m context=c output=any {\n    affects c\n}\n"),
        "function `m` is both a context member and declares affects",
    );
    graph_error(&ir("function f output=any\nfunction f output=string\n"), "duplicate function `f`");
    graph_error(&ir("context c\ncontext c shared=#true\n"), "duplicate context `c`");
    graph_error(&ir("type T\ntype T\n"), "duplicate type `T`");
    graph_error(&ir("context f\nfunction f output=any\n"), "`f` names both a context and a function");
    graph_error(&ir("function f output=any {\n    input a type=any\n    input a type=string\n}\n"), "has the input `a` twice");
    graph_error(&ir("type T {\n    field a type=any\n    field a type=string\n}\n"), "has the field `a` twice");
    graph_error(
        &ir("function me context=global output=any {\n    input user_id type=integer\n}\n"),
        "is in the `global` context but requires the param `user_id`",
    );
    graph_error(&ir("function f output=Missing\n"), "unknown type `Missing`");
    graph_error(&ir("type T key=id {\n    field name type=string\n}\n"), "names the key field `id`");
    graph_error(&ir("function g output=any\nfunction m output=any {\n    affects g\n}\n"), "which is not a context member");
    graph_error(&ir("function \"a b\" output=any\n"), "function name `a b` is not an identifier");
}

#[test]
fn global_members_may_take_optional_params() {
    let text = ir(
        "function me context=global output=any {\n    input a type=\"optional<string>\"\n    input b type=string required=#false\n}\n",
    );
    assert!(parse(&text).function("me").is_some());
}

// ---------------------------------------------------------------------------------------------
// Enums (IR version 2)

const ENUMS: &str = r#"mizan-ir version=2

enum Status {
    value shipped pending
    value "in review" "1"
}

type Order {
    field status type=Status
    field history type="list<Status>"
}

function set_status output=Order {
    input status type=Status
    input previous type="optional<Status>"
    input counts type="map<Status>" required=#false
}

enum Empty_ish {
    value ""
}
"#;

#[test]
fn enums_parse_with_values_in_declaration_order() {
    let r = parse(ENUMS);
    let status = &r.enums["Status"];
    assert_eq!(status.values, ["shipped", "pending", "in review", "1"]);
    assert_eq!(r.enums["Empty_ish"].values, [""]);
    let f = &r.functions["set_status"];
    assert_eq!(f.input("status").map(|i| &i.ty), Some(&TypeRef::Named("Status".into())));
    assert_eq!(f.input("previous").map(|i| (i.required, &i.ty)), Some((false, &TypeRef::Optional(Box::new(TypeRef::Named("Status".into()))))));
    assert_eq!(r.types["Order"].fields[1].ty, TypeRef::Named("Status".into()));
    assert_eq!(r.ir_version(), 2);
}

#[test]
fn enums_emit_canonically_after_the_types() {
    let r = parse(ENUMS);
    let expected = r#"mizan-ir version=2

function set_status output=Order {
    input counts type="map<Status>" required=#false
    input previous type="optional<Status>"
    input status type=Status
}

type Order {
    field history type="list<Status>"
    field status type=Status
}

enum Empty_ish {
    value ""
}

enum Status {
    value shipped
    value pending
    value "in review"
    value "1"
}
"#;
    assert_eq!(r.to_kdl(), expected);
    assert_eq!(parse(expected), r, "parse(emit(r)) == r");
    assert_eq!(parse(expected).to_kdl(), expected, "the canonical form is a fixed point");
}

#[test]
fn the_lowest_version_that_expresses_the_registry_is_written() {
    // A version-2 document without enums is written as version 1, byte-identical to before.
    let v2 = ir2("function f output=any\n");
    assert_eq!(parse(&v2).to_kdl(), "mizan-ir version=1\n\nfunction f output=any\n");
    assert_eq!(parse(&v2), parse(&ir("function f output=any\n")));
    assert_eq!(parse(SHOP).to_kdl(), SHOP_CANONICAL);
    assert!(parse(ENUMS).to_kdl().starts_with("mizan-ir version=2\n"));
}

#[test]
fn an_enum_in_a_version_1_document_is_refused_with_its_position() {
    ir_error(&ir("function f output=any\nenum E {\n    value a\n}\n"), 3, 1, "`enum` needs `mizan-ir version=2` (this document is version 1)");
    ir_error(&ir("query q\n"), 2, 1, "expected `context`, `function` or `type`");
    ir_error(&ir2("query q\n"), 2, 1, "expected `context`, `function`, `type` or `enum`");
}

#[test]
fn enum_grammar_errors_carry_positions() {
    ir_error(&ir2("enum\n"), 2, 1, "`enum` needs a name");
    ir_error(&ir2("enum E F {\n    value a\n}\n"), 2, 8, "unexpected argument after the enum name `E`");
    ir_error(&ir2("enum E strict=#true {\n    value a\n}\n"), 2, 8, "unknown property `strict` on `enum`: it takes no properties");
    ir_error(&ir2("enum E {\n    values a\n}\n"), 3, 5, "unknown node `values` in enum `E`: expected `value`");
    ir_error(&ir2("enum E {\n    value\n}\n"), 3, 5, "`value` needs at least one name");
    ir_error(&ir2("enum E {\n    value a 2\n}\n"), 3, 13, "value must be a string, not the integer 2");
    ir_error(&ir2("enum E {\n    value a label=x\n}\n"), 3, 13, "unknown property `label` on `value`");
    ir_error(&ir2("enum E {\n    value a {\n    }\n}\n"), 3, 5, "`value` takes no children block");
    ir_error(&ir2("enum 7 {\n    value a\n}\n"), 2, 6, "the enum name must be a string");
}

#[test]
fn enum_graph_rules() {
    graph_error(&ir2("enum E\n"), "enum `E` has no values; it needs at least one");
    graph_error(&ir2("enum E {\n    value a b a\n}\n"), "enum `E` has the value \"a\" twice");
    graph_error(&ir2("enum E {\n    value a\n}\nenum E {\n    value b\n}\n"), "duplicate enum `E`");
    graph_error(&ir2("enum T {\n    value a\n}\ntype T\n"), "`T` names both a type and an enum");
    graph_error(&ir2("enum \"a b\" {\n    value a\n}\n"), "enum name `a b` is not an identifier");
    graph_error(&ir2("enum E {\n    value a\n}\nfunction f output=\"list<F>\"\n"), "function `f` uses the unknown type `F`");
    graph_error(&ir2("enum E {\n    value a\n}\ntype T {\n    field x type=\"optional<F>\"\n}\n"), "field `x` uses the unknown type `F`");
}

#[test]
fn enums_in_the_json_form() {
    let r = parse(ENUMS);
    let j = r.to_json();
    assert_eq!(j["version"], 2);
    assert_eq!(j["enums"], json!({"Empty_ish": {"values": [""]}, "Status": {"values": ["shipped", "pending", "in review", "1"]}}));
    assert_eq!(Registry::from_json_value(&j).ok(), Some(r.clone()), "from_json(to_json(r)) == r");
    // The shorthand: a list of values.
    let short = Registry::from_json(r#"{"enums": {"Status": ["shipped", "pending", "in review", "1"], "Empty_ish": [""]},
        "types": {"Order": {"status": "Status", "history": "list<Status>"}},
        "functions": {"set_status": {"output": "Order", "inputs": {"status": "Status", "previous": "optional<Status>",
                                                               "counts": {"type": "map<Status>", "required": false}}}}}"#);
    assert_eq!(short.ok(), Some(r));
    // Without enums the JSON form is what it always was: version 1, no `enums` key.
    let plain = parse(SHOP).to_json();
    assert_eq!(plain["version"], 1);
    assert!(plain.get("enums").is_none());
    let e = Registry::from_json(r#"{"enums": {"E": []}}"#).err().map(|e| e.code);
    assert_eq!(e, Some(ErrorCode::InvalidRegistry));
}

// ---------------------------------------------------------------------------------------------
// Robustness: no input panics; whatever parses, emits idempotently

/// Any Unicode text, control characters included (`any::<String>()` leaves those out).
fn any_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter),
        prop::collection::vec(prop::sample::select(vec!['"', '\\', '{', '}', '#', '/', '*', '\n', '\r', ' ', '=', 'a', '\u{85}', '\u{2028}', '\u{feff}', '\u{0}', '\u{200e}']), 0..40)
            .prop_map(String::from_iter),
    ]
}

/// A registry that passes the graph check, from a small random description.
fn registry_strategy() -> impl Strategy<Value = Registry> {
    let name = prop_oneof![
        "[a-z_][a-z0-9_]{0,8}",
        Just("true".to_string()),
        Just("null".to_string()),
        Just("é_ü".to_string()),
        Just("_".to_string()),
    ];
    let text = any_text();
    let ty = prop_oneof![
        Just(TypeRef::String),
        Just(TypeRef::Integer),
        Just(TypeRef::Number),
        Just(TypeRef::Boolean),
        Just(TypeRef::Null),
        Just(TypeRef::Any),
        Just(TypeRef::Upload),
        Just(TypeRef::Named("Shape".into())),
        Just(TypeRef::Named("Level".into())),
    ]
    .prop_recursive(3, 8, 1, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| TypeRef::List(Box::new(t))),
            inner.clone().prop_map(|t| TypeRef::Optional(Box::new(t))),
            inner.prop_map(|t| TypeRef::Map(Box::new(t))),
        ]
    });
    let input = (text.clone(), ty.clone(), any::<bool>());
    let function = (
        name.clone(),
        prop::collection::vec(input, 0..4),
        ty.clone(),
        prop::option::of(0usize..3),
        (0u8..6, any::<bool>(), any::<bool>(), any::<bool>(), any::<u64>()),
        (prop::option::of(prop_oneof![Just(CacheSetting::Never), any::<u64>().prop_map(CacheSetting::Ttl)]), prop::option::of(text.clone())),
        (prop::collection::vec("[A-Z]{1,7}", 0..3), prop::option::of((0usize..3, prop::option::of(text.clone())))),
        prop::collection::vec(0usize..3, 0..3),
    );
    (
        prop::collection::vec(function, 0..6),
        prop::collection::vec((text.clone(), ty, any::<bool>()), 0..4),
        prop::option::of(text.clone()),
        any::<bool>(),
        prop::collection::vec(text, 0..4),
    )
        .prop_map(|(fns, fields, key, shared, level_values)| {
            let contexts = ["ctx_a", "ctx_b", "true"];
            let roles = ["schema", "validate", "submit"];
            let mut functions: Vec<Function> = Vec::new();
            for (i, (name, inputs, output, context, flags, (cache, route), (methods, form), targets)) in
                fns.into_iter().enumerate()
            {
                let mut f = Function::new(format!("{name}_{i}"), output);
                for (n, ty, required) in inputs {
                    if f.input(&n).is_none() {
                        f.inputs.push(Input { name: n, ty, required });
                    }
                }
                let (auth, private, view, ws, rev) = flags;
                f.auth = match auth {
                    1 => Auth::Required,
                    2 => Auth::Staff,
                    3 => Auth::Superuser,
                    4 => Auth::Predicate("is \"odd\"".into()),
                    _ => Auth::None,
                };
                f.context = context.map(|c| contexts[c].to_string());
                if f.context.as_deref() == Some("ctx_b") {
                    f.websocket = true;
                } else if f.context.is_none() {
                    f.websocket = ws;
                    f.affects = targets.iter().map(|t| contexts[*t].to_string()).collect();
                    f.merge = targets.iter().rev().map(|t| contexts[*t].to_string()).collect();
                }
                f.private = private;
                f.view = view;
                f.rev = rev;
                f.cache = cache;
                f.route = route;
                f.methods = methods;
                if let Some((role, form_name)) = form {
                    f.form = Some(roles[role].to_string());
                    f.form_name = form_name;
                }
                functions.push(f);
            }
            let mut field_list: Vec<Field> = Vec::new();
            for (n, ty, required) in fields {
                if !field_list.iter().any(|f| f.name == n) {
                    field_list.push(Field { name: n, ty, required });
                }
            }
            let key = key.filter(|k| field_list.iter().any(|f| &f.name == k));
            let decls = vec![
                ContextDecl { name: "ctx_a".into(), shared, members: None },
                ContextDecl { name: "ctx_b".into(), shared: false, members: None },
                ContextDecl { name: "true".into(), shared: !shared, members: None },
            ];
            let shape = ObjectType { name: "Shape".into(), fields: field_list, key };
            // `Level` is an enum (version 2) when there are values, else an object type (version 1).
            let mut values: Vec<String> = Vec::new();
            for v in level_values {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            let (types, enums) = if values.is_empty() {
                (vec![shape, ObjectType { name: "Level".into(), fields: vec![], key: None }], vec![])
            } else {
                (vec![shape], vec![EnumType { name: "Level".into(), values }])
            };
            Registry::build_with_enums(functions, decls, types, enums).unwrap_or_else(|e| panic!("generator built a bad registry: {e}"))
        })
}

/// Random edits of a valid IR text.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(usize, u8),
    Truncate(usize),
    DuplicateLine(usize),
    DeleteLine(usize),
    Insert(usize, String),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DeleteLine),
        (any::<usize>(), prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("\"".to_string()),
            Just("#".to_string()),
            Just("/-".to_string()),
            Just("/*".to_string()),
            Just(";".to_string()),
            Just("\n".to_string()),
            Just("=".to_string()),
            Just(" rev=-1".to_string()),
            Just(" cache=#true".to_string()),
            "\\PC{0,6}",
        ])
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        match m {
            Mutation::FlipByte(i, b) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] ^= b;
            }
            Mutation::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
            Mutation::DuplicateLine(i) | Mutation::DeleteLine(i) => {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let i = i % lines.len();
                if matches!(m, Mutation::DuplicateLine(_)) {
                    lines.insert(i, lines[i]);
                } else {
                    lines.remove(i);
                }
                bytes = lines.join("\n").into_bytes();
            }
            Mutation::Insert(i, s) => {
                let i = i % (bytes.len() + 1);
                bytes.splice(i..i, s.bytes());
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whatever parses emits canonically: parse(emit(r)) == r and emit is a fixed point.
fn assert_emit_idempotent(r: &Registry) {
    let text = r.to_kdl();
    assert_eq!(text, r.to_kdl());
    match Registry::from_kdl(&text) {
        Ok(again) => {
            assert_eq!(&again, r, "parse(emit(r)) != r for\n{text}");
            assert_eq!(again.to_kdl(), text);
        }
        Err(e) => panic!("the canonical form does not parse: {e}\n{text}"),
    }
}

/// A mutated document either parses and emits idempotently, or is refused with a located
/// `invalid-ir` or an `invalid-registry` error.
fn check_mutated(text: &str) -> Result<(), TestCaseError> {
    match Registry::from_kdl(text) {
        Ok(r) => assert_emit_idempotent(&r),
        Err(e) => {
            prop_assert!(matches!(e.code, ErrorCode::InvalidIr | ErrorCode::InvalidRegistry), "{e}");
            if e.code == ErrorCode::InvalidIr {
                let d = e.details.clone().unwrap_or_default();
                prop_assert!(d["line"].as_u64().is_some_and(|l| l >= 1), "{e}");
                prop_assert!(d["column"].as_u64().is_some_and(|c| c >= 1), "{e}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(text in any_text()) {
        let _ = Registry::from_kdl(&text);
        let _ = Registry::from_kdl(&format!("mizan-ir version=1\n{text}"));
    }

    #[test]
    fn kdl_looking_strings_never_panic(text in "[a-z{}=#\"/*;\\-\n 0-9()<>]{0,80}") {
        let _ = Registry::from_kdl(&format!("mizan-ir version=1\nfunction f output=any {text}"));
    }

    #[test]
    fn mutated_shop_never_panics_and_emits_idempotently(mutations in prop::collection::vec(mutation_strategy(), 1..4)) {
        check_mutated(&mutate(SHOP, &mutations))?;
    }

    #[test]
    fn mutated_enum_document_never_panics_and_emits_idempotently(mutations in prop::collection::vec(mutation_strategy(), 1..4)) {
        check_mutated(&mutate(ENUMS, &mutations))?;
    }

    #[test]
    fn every_registry_that_parses_emits_idempotently(r in registry_strategy()) {
        assert_emit_idempotent(&r);
        // The JSON form carries the same registry.
        prop_assert_eq!(Registry::from_json_value(&r.to_json()).ok(), Some(r.clone()));
    }
}

#[test]
fn the_example_in_docs_ir_md_is_shop_kdl() {
    let doc = include_str!("../../docs/IR.md");
    let example = doc.split("```kdl\n").nth(1).and_then(|rest| rest.split("```\n").next());
    assert_eq!(example, Some(SHOP), "docs/IR.md's example must stay tests/fixtures/ir/shop.kdl");
}

#[test]
fn every_example_in_docs_ir_md_is_valid() {
    let doc = include_str!("../../docs/IR.md");
    let blocks = |lang: &str| -> Vec<&str> {
        doc.split(&format!("```{lang}\n")).skip(1).filter_map(|rest| rest.split("```\n").next()).collect()
    };
    let kdl = blocks("kdl");
    assert!(kdl.len() >= 2, "the shop and the enum examples");
    for text in kdl {
        assert_emit_idempotent(&parse(text));
    }
    let json = blocks("json");
    assert!(!json.is_empty());
    for text in json {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let r = Registry::from_json_value(&value).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(r.to_json(), value, "the JSON form example is what to_json writes");
    }
}

/// tests/fixtures/ir/parity.kdl — what every backend's code-first registration must export —
/// passes the graph check, is canonical, and keeps every feature its README promises.
#[test]
fn parity_fixture_is_canonical_and_covers_what_its_readme_lists() {
    let r = parse(PARITY);
    assert_eq!(r.to_kdl(), PARITY, "parity.kdl is in canonical form");
    assert_eq!(r.ir_version(), 2);
    assert_eq!(r.enums["OrderStatus"].values, ["pending", "paid", "shipped", "delivered", "cancelled"]);

    // Contexts: global (a member with no required input), user (members sharing user_id, one
    // with an optional param), catalog (shared), orders.
    let members = |c: &str| r.context(c).map(|c| c.members.clone()).unwrap_or_default();
    assert_eq!(members("global"), ["site_settings"]);
    assert!(r.members("global").all(|f| f.inputs.iter().all(|i| !i.required)));
    assert_eq!(members("user"), ["user_addresses", "user_orders", "user_profile"]);
    assert!(r.members("user").all(|f| f.input("user_id").is_some_and(|i| i.required && i.ty == TypeRef::Integer)));
    let status = r.functions["user_orders"].input("status").cloned();
    assert_eq!(status.map(|i| (i.required, i.ty)), Some((false, TypeRef::Optional(Box::new(TypeRef::Named("OrderStatus".into()))))));
    assert!(r.contexts["catalog"].shared && !r.contexts["user"].shared);
    assert_eq!(members("orders"), ["order_detail", "order_list"]);

    // Types: nested records, list, map, optional, the enum in a field, an upload input.
    let field = |t: &str, f: &str| r.types[t].fields.iter().find(|x| x.name == f).map(|x| x.ty.spelling());
    assert_eq!(field("UserProfile", "address").as_deref(), Some("Address"));
    assert_eq!(field("Order", "lines").as_deref(), Some("list<OrderLine>"));
    assert_eq!(field("Order", "totals").as_deref(), Some("map<number>"));
    assert_eq!(field("Order", "shipping").as_deref(), Some("optional<Address>"));
    assert_eq!(field("Order", "status").as_deref(), Some("OrderStatus"));
    assert_eq!(r.functions["upload_avatar"].input("image").map(|i| &i.ty), Some(&TypeRef::Upload));

    // Mutations: affects a context and a context-member function, merge; every auth kind; a
    // private function; rev and cache settings.
    let place = &r.functions["place_order"];
    assert_eq!(place.affects, ["orders", "user_orders"]);
    assert_eq!(place.merge, ["orders"]);
    assert_eq!(r.functions["update_profile"].merge, ["user"]);
    let auths: Vec<&Auth> = r.functions.values().map(|f| &f.auth).collect();
    for auth in [Auth::None, Auth::Required, Auth::Staff, Auth::Superuser, Auth::Predicate("can_refund".into())] {
        assert!(auths.contains(&&auth), "{auth:?}");
    }
    assert!(r.functions["payment_webhook"].private);
    assert_eq!(r.functions["user_addresses"].rev, 2);
    assert_eq!(r.functions["order_detail"].cache, Some(CacheSetting::Never));
    assert_eq!(r.functions["catalog_products"].cache, Some(CacheSetting::Ttl(3600)));

    // The invalidation a mutation resolves to, through the same registry.
    let args = json!({"user_id": 5, "lines": [], "note": null}).as_object().cloned().unwrap_or_default();
    let entries = r.resolve_invalidation("place_order", &args, None).map(|e| mizan_kernel::invalidation::entries_to_json(&e));
    assert_eq!(
        entries.ok(),
        Some(json!(["orders", {"context": "user", "params": {"user_id": 5}, "function": "user_orders"}]))
    );
}
