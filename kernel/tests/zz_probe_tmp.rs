#[test]
fn probe() {
    let unit = std::env::var("U").unwrap();
    let n: usize = std::env::var("N").unwrap_or("5000".into()).parse().unwrap();
    let text = unit.replace("\\n", "\n").repeat(n);
    let r = kdl::KdlDocument::parse_v2(&text);
    eprintln!("ok: {}", r.is_ok());
}
