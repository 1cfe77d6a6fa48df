//! Rust types → IR types: the [`IrType`] trait, its impls for the standard types, and the
//! [`TypeSet`] that collects the named types a registry declares.
//!
//! | Rust | IR |
//! |---|---|
//! | `i8`…`i128`, `u8`…`u128`, `isize`, `usize` | `integer` |
//! | `f32`, `f64` | `number` |
//! | `serde_json::Number` | `number`, its JSON digits kept exactly (`18446744073709551616` stays so, where an `f64` would round it) |
//! | `String`, `str`, `char` | `string` |
//! | `bool` | `boolean` |
//! | `()` | `null` |
//! | `Option<T>` | `optional<T>` |
//! | `Vec<T>`, `VecDeque<T>`, `[T]`, `[T; N]`, `HashSet<T>`, `BTreeSet<T>` | `list<T>` |
//! | `HashMap<K, V>`, `BTreeMap<K, V>` (string or integer keys), `serde_json::Map` | `map<V>` |
//! | `serde_json::Value` | `any` |
//! | [`Upload`] | `upload` |
//! | `Box<T>`, `Arc<T>`, `Rc<T>`, `&T`, `Cow<T>` | `T` |
//! | `#[derive(Mizan)]` struct / unit-variant enum | its name (a `type` node / a string enum) |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::any::TypeId;
use std::collections::BTreeMap;

/// A Rust type's IR type. Implemented for the standard types (see the module docs) and by
/// `#[derive(Mizan)]`; implement it by hand for a type with its own serde impls.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no Mizan IR type",
    label = "this type is not described in the IR",
    note = "derive it: #[derive(Serialize, Deserialize, Mizan)] on a struct with named fields or an enum of unit variants",
    note = "or say the IR type on the parameter or field: #[mizan(type = \"string\")]",
    note = "a request-context parameter is one whose type is named `Ctx`, or one marked #[mizan(ctx)]"
)]
pub trait IrType {
    /// The IR spelling (`integer`, `list<Item>`…), declaring any named type in `types`.
    fn ir_type(types: &mut TypeSet) -> String;
}

/// A parameter or a field: its name on the wire, its IR type, and `required` when it differs
/// from the IR's default (an `optional<…>` type is not required, any other is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ty: String,
    pub required: Option<bool>,
}

impl Member {
    pub fn new(name: impl Into<String>, ty: String, required: Option<bool>) -> Member {
        Member { name: name.into(), ty, required }
    }

    /// The registry JSON form: `"T"` or `{"type": "T", "required": bool}`.
    pub(crate) fn to_json(&self) -> Value {
        match self.required {
            None => Value::String(self.ty.clone()),
            Some(required) => json!({"type": self.ty, "required": required}),
        }
    }
}

pub(crate) fn members_json(members: &[Member]) -> Map<String, Value> {
    members.iter().map(|m| (m.name.clone(), m.to_json())).collect()
}

struct Declared {
    id: TypeId,
    rust: &'static str,
    shape: Shape,
}

enum Shape {
    /// Its fields are being described (a recursive type refers to its name meanwhile).
    Pending,
    /// A `type` node: the JSON form's `{"fields": …, "key"?: …}`.
    Object(Value),
    /// An `enum` node: its values, in declaration order.
    Enum(Vec<String>),
}

/// The named types met while describing functions, by IR name. Two different Rust types with
/// one IR name are a problem (reported when the registry is built), not a silent merge.
#[derive(Default)]
pub struct TypeSet {
    declared: BTreeMap<String, Declared>,
    problems: Vec<String>,
}

impl TypeSet {
    pub fn new() -> TypeSet {
        TypeSet::default()
    }

    /// True when `T` takes `name` now (describe it); false when it already has it, or when
    /// another type does (a problem is recorded).
    fn claim<T: 'static>(&mut self, name: &str) -> bool {
        let id = TypeId::of::<T>();
        let rust = std::any::type_name::<T>();
        match self.declared.get(name) {
            Some(d) if d.id == id => false,
            Some(d) => {
                let problem = format!("two Rust types are named `{name}` in the IR: {} and {rust} (rename one with #[mizan(name = \"…\")])", d.rust);
                if !self.problems.contains(&problem) {
                    self.problems.push(problem);
                }
                false
            }
            None => {
                self.declared.insert(name.to_string(), Declared { id, rust, shape: Shape::Pending });
                true
            }
        }
    }

    /// A named object type (`type NAME key=KEY { field … }`); `fields` describes the fields
    /// (and may refer back to `T`). Returns `name`.
    pub fn object<T: 'static>(&mut self, name: &str, key: Option<&str>, fields: impl FnOnce(&mut TypeSet) -> Vec<Member>) -> String {
        if self.claim::<T>(name) {
            let fields = members_json(&fields(self));
            let spec = match key {
                Some(k) => json!({"fields": fields, "key": k}),
                None => json!({"fields": fields}),
            };
            if let Some(d) = self.declared.get_mut(name) {
                d.shape = Shape::Object(spec);
            }
        }
        name.to_string()
    }

    /// A string enum (`enum NAME { value … }`) of these values, in this order. Returns `name`.
    pub fn string_enum<T: 'static>(&mut self, name: &str, values: &[&str]) -> String {
        if self.claim::<T>(name)
            && let Some(d) = self.declared.get_mut(name)
        {
            d.shape = Shape::Enum(values.iter().map(|v| v.to_string()).collect());
        }
        name.to_string()
    }

    /// The registry JSON form's `types` object.
    pub fn types_json(&self) -> Map<String, Value> {
        let objects = self.declared.iter().filter_map(|(name, d)| match &d.shape {
            Shape::Object(spec) => Some((name.clone(), spec.clone())),
            _ => None,
        });
        objects.collect()
    }

    /// The registry JSON form's `enums` object (`{"Status": ["a", "b"]}`).
    pub fn enums_json(&self) -> Map<String, Value> {
        let enums = self.declared.iter().filter_map(|(name, d)| match &d.shape {
            Shape::Enum(values) => Some((name.clone(), json!(values))),
            _ => None,
        });
        enums.collect()
    }

    /// Name clashes found so far.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// An `upload` input: what the client sent for it (the engine passes it on unchecked: a
/// transport's file reference, a data URL…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Upload(pub Value);

macro_rules! ir_scalar {
    ($spelling:literal: $($t:ty),*) => {
        $(impl IrType for $t {
            fn ir_type(_: &mut TypeSet) -> String {
                $spelling.to_string()
            }
        })*
    };
}

ir_scalar!("integer": i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
// `Number`: with serde_json's `arbitrary_precision` (this workspace turns it on) it holds the
// number's digits as sent, so a function can pass on a number a double cannot hold.
ir_scalar!("number": f32, f64, serde_json::Number);
ir_scalar!("string": String, str, char);
ir_scalar!("boolean": bool);
ir_scalar!("null": ());
ir_scalar!("any": Value);
ir_scalar!("upload": Upload);

impl IrType for Map<String, Value> {
    fn ir_type(_: &mut TypeSet) -> String {
        "map<any>".to_string()
    }
}

impl<T: IrType> IrType for Option<T> {
    fn ir_type(types: &mut TypeSet) -> String {
        format!("optional<{}>", T::ir_type(types))
    }
}

macro_rules! ir_wrapper {
    ($($t:ty),*) => {
        $(impl<T: IrType + ?Sized> IrType for $t {
            fn ir_type(types: &mut TypeSet) -> String {
                T::ir_type(types)
            }
        })*
    };
}

ir_wrapper!(Box<T>, std::sync::Arc<T>, std::rc::Rc<T>, &T);

impl<T: IrType + ToOwned + ?Sized> IrType for std::borrow::Cow<'_, T> {
    fn ir_type(types: &mut TypeSet) -> String {
        T::ir_type(types)
    }
}

macro_rules! ir_list {
    ($($t:ty),*) => {
        $(impl<T: IrType> IrType for $t {
            fn ir_type(types: &mut TypeSet) -> String {
                format!("list<{}>", T::ir_type(types))
            }
        })*
    };
}

ir_list!(Vec<T>, [T], std::collections::VecDeque<T>, std::collections::BTreeSet<T>);

impl<T: IrType, S> IrType for std::collections::HashSet<T, S> {
    fn ir_type(types: &mut TypeSet) -> String {
        format!("list<{}>", T::ir_type(types))
    }
}

impl<T: IrType, const N: usize> IrType for [T; N] {
    fn ir_type(types: &mut TypeSet) -> String {
        format!("list<{}>", T::ir_type(types))
    }
}

/// Map keys JSON writes as object keys: strings, and integers (serde_json writes them as
/// strings).
pub trait MapKey {}

macro_rules! map_key {
    ($($t:ty),*) => { $(impl MapKey for $t {})* };
}

map_key!(String, &str, char, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl<K: MapKey, V: IrType> IrType for BTreeMap<K, V> {
    fn ir_type(types: &mut TypeSet) -> String {
        format!("map<{}>", V::ir_type(types))
    }
}

impl<K: MapKey, V: IrType, S> IrType for std::collections::HashMap<K, V, S> {
    fn ir_type(types: &mut TypeSet) -> String {
        format!("map<{}>", V::ir_type(types))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn spell<T: IrType + ?Sized>() -> String {
        T::ir_type(&mut TypeSet::new())
    }

    #[test]
    fn standard_types() {
        assert_eq!(spell::<i64>(), "integer");
        assert_eq!(spell::<u8>(), "integer");
        assert_eq!(spell::<f64>(), "number");
        assert_eq!(spell::<serde_json::Number>(), "number");
        assert_eq!(spell::<String>(), "string");
        assert_eq!(spell::<&str>(), "string");
        assert_eq!(spell::<bool>(), "boolean");
        assert_eq!(spell::<()>(), "null");
        assert_eq!(spell::<Value>(), "any");
        assert_eq!(spell::<Upload>(), "upload");
        assert_eq!(spell::<Option<Upload>>(), "optional<upload>");
        assert_eq!(spell::<Vec<Option<i32>>>(), "list<optional<integer>>");
        assert_eq!(spell::<[u8; 4]>(), "list<integer>");
        assert_eq!(spell::<HashSet<String>>(), "list<string>");
        assert_eq!(spell::<HashMap<String, Vec<f64>>>(), "map<list<number>>");
        assert_eq!(spell::<BTreeMap<i64, bool>>(), "map<boolean>");
        assert_eq!(spell::<Map<String, Value>>(), "map<any>");
        assert_eq!(spell::<Box<std::sync::Arc<str>>>(), "string");
        assert_eq!(spell::<std::borrow::Cow<'static, str>>(), "string");
    }

    struct A;
    struct B;

    #[test]
    fn named_types_are_declared_once_and_clashes_reported() {
        let mut types = TypeSet::new();
        let mut calls = 0;
        for _ in 0..2 {
            types.object::<A>("Thing", Some("id"), |_| {
                calls += 1;
                vec![Member::new("id", "integer".into(), None), Member::new("note", "string".into(), Some(false))]
            });
        }
        assert_eq!(calls, 1);
        types.object::<B>("Thing", None, |_| Vec::new());
        types.string_enum::<u8>("Status", &["b", "a"]);
        assert_eq!(Value::Object(types.enums_json()), json!({"Status": ["b", "a"]}));
        assert_eq!(Value::Object(types.types_json()), json!({"Thing": {"fields": {"id": "integer", "note": {"type": "string", "required": false}}, "key": "id"}}));
        assert_eq!(types.problems().len(), 1);
        assert!(types.problems()[0].contains("two Rust types are named `Thing`"), "{:?}", types.problems());
    }
}
