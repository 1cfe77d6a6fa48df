//! The Rust functions export the wire app's IR byte for byte: `tests/wire/app.kdl`, which the
//! Python wire apps (examples/fastapi_app, examples/django_app) serve, in the kernel's canonical
//! form. The app served from the code checks against it too.

use mizan_axum_app::{CacheKind, State, ir, mizan};
use mizan_host::Kernel;

const APP_KDL: &str = include_str!("../../../tests/wire/app.kdl");

#[test]
fn the_functions_export_app_kdl_byte_for_byte() {
    let kernel = Kernel::new().unwrap();
    let ir = ir(&kernel).expect("the functions make a registry");
    if ir != APP_KDL {
        let first = ir.lines().zip(APP_KDL.lines()).position(|(a, b)| a != b);
        panic!("the Rust IR differs from tests/wire/app.kdl (first differing line: {first:?}):\n{ir}");
    }
    // app.kdl is canonical: the kernel writes it back unchanged.
    assert_eq!(mizan_host::Registry::from_kdl(&kernel, APP_KDL).unwrap().to_kdl().unwrap(), APP_KDL);
}

#[test]
fn the_committed_ir_checks_against_the_code() {
    let kernel = Kernel::new().unwrap();
    mizan_host::check_ir(&kernel, APP_KDL).expect("app.kdl and the #[client] functions agree");
    // And the check can fail: a function the code does not have.
    let extra = format!("{APP_KDL}\nfunction ghost output=integer\n");
    let Err(err) = mizan_host::check_ir(&kernel, &extra) else { panic!("an IR with an extra function passed the check") };
    let err = err.to_string();
    assert!(err.contains("function `ghost` is in the IR but not in the code"), "{err}");
}

#[tokio::test]
async fn the_app_builds_from_the_code_with_every_function() {
    let kernel = Kernel::new().unwrap();
    let app = mizan(&kernel, &State::default(), &CacheKind::None).await.expect("every public function has an implementation");
    assert_eq!(app.registry().to_kdl().unwrap(), APP_KDL);
}
