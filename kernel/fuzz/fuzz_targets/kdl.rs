//! The KDL IR reader (docs/IR.md) on arbitrary text: never a panic (nor a stack overflow: the
//! reader is not recursive on input nesting); a registry that parses emits canonical KDL that
//! parses to the same registry, and its JSON form reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mizan_kernel::Registry;

fuzz_target!(|text: &str| {
    if let Ok(registry) = Registry::from_kdl(text) {
        let kdl = registry.to_kdl();
        let again = Registry::from_kdl(&kdl).unwrap_or_else(|e| panic!("canonical KDL must parse: {e}\n{kdl}"));
        assert_eq!(again, registry, "KDL round trip changed the registry");
        assert_eq!(again.to_kdl(), kdl, "canonical KDL is not a fixed point");
        let json = registry.to_json();
        let from_json = Registry::from_json_value(&json).unwrap_or_else(|e| panic!("the JSON form must read back: {e}\n{json}"));
        assert_eq!(from_json, registry, "JSON round trip changed the registry");
    }
});
