//! The encodings of a secret that a server or a serializer may produce, shared by the redactor's unit tests
//! and the hostile server of the end-to-end tests.

/// `%2F` as `%2f`: the hex digits in lower case, the rest as it is.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::new();
    let mut hex_left = 0;
    for c in encoded.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

const TILDE_KEPT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'~').remove(b'-');

/// Every encoding of one secret a server or a serializer may produce; none may survive redaction.
pub fn encodings(secret: &str) -> Vec<String> {
    let percent = |set: &'static percent_encoding::AsciiSet| {
        percent_encoding::utf8_percent_encode(secret, set).to_string()
    };
    let upper = percent(percent_encoding::NON_ALPHANUMERIC);
    let json = serde_json::to_string(secret).unwrap();
    vec![
        secret.to_owned(),
        json[1..json.len() - 1].to_owned(),
        json[1..json.len() - 1].replace('/', "\\/"),
        secret
            .encode_utf16()
            .map(|u| format!("\\u{u:04x}"))
            .collect(),
        secret
            .encode_utf16()
            .map(|u| format!("\\u{u:04X}"))
            .collect(),
        upper.clone(),
        lower_hex(&upper),
        percent(TILDE_KEPT),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;"),
    ]
}
