//! Query strings and path segments. The host passes them raw; the kernel decodes them, so every
//! backend reads `?a=1&a=2&b=x+y` alike. Strict: a bad `%` escape or bytes that are not UTF-8 are
//! an error (the engine answers 400), never a silent replacement character.

/// Percent-decode; with `plus_is_space`, `+` is a space (form encoding, query strings only).
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    if !text.contains(['%', '+']) {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16))?;
                let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16))?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `a=1&b=&c&a=2` → `[("a","1"),("b",""),("c",""),("a","2")]`, in order; empty pieces skipped.
pub fn parse_query(query: &str) -> Option<Vec<(String, String)>> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = Vec::new();
    for piece in query.split('&') {
        if piece.is_empty() {
            continue;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        out.push((percent_decode(k, true)?, percent_decode(v, true)?));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        assert_eq!(
            parse_query("?a=1&b=x+y%21&c&&a=%C3%A9").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), "".into()),
                ("a".into(), "é".into())
            ]
        );
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert!(parse_query("a=%zz").is_none());
        assert!(parse_query("a=%4").is_none());
        assert!(parse_query("a=%FF").is_none());
    }
}
