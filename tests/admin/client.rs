//! curl as the admin API's client, and the checks of its answers against
//! the OpenAPI description.

use super::*;

/// The chat relays' secret the scheduler signs tokens with.
pub(crate) const CHAT_SECRET: &str = "admin-test-chat-secret-0123456789abcdef";
pub(crate) const TOKEN: &str = "test-token-0123456789";

pub(crate) struct Kill(pub(crate) Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (status, body) of a request with curl.
pub(crate) fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    // The body goes through a file: an argument is limited to 128 KiB.
    let file = tempfile::NamedTempFile::new().unwrap();
    if let Some((ctype, data)) = body {
        std::fs::write(file.path(), data).unwrap();
        cmd.args(["-H", &format!("Content-Type: {ctype}"), "--data-binary"])
            .arg(format!("@{}", file.path().display()));
    }
    let out = run(&mut cmd);
    let text = text(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Checks `value` against an OpenAPI schema (type, required, properties, items, enum, $ref).
pub(crate) fn check(spec: &Value, schema: &Value, value: &Value, at: &str) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return check(spec, &spec["components"]["schemas"][name], value, at);
    }
    if value.is_null() && schema["nullable"] == true {
        return;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let obj = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: not an object: {value}"));
            for r in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    obj.contains_key(r.as_str().unwrap()),
                    "{at}: missing required {r}: {value}"
                );
            }
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in obj {
                    if let Some(p) = props.get(k) {
                        check(spec, p, v, &format!("{at}.{k}"));
                    }
                }
            }
        }
        Some("array") => {
            for (i, v) in value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: not an array: {value}"))
                .iter()
                .enumerate()
            {
                check(spec, &schema["items"], v, &format!("{at}[{i}]"));
            }
        }
        Some("string") => {
            assert!(value.is_string(), "{at}: not a string: {value}");
            if let Some(e) = schema["enum"].as_array() {
                assert!(e.contains(value), "{at}: {value} not in {e:?}");
            }
        }
        Some("integer") => assert!(
            value.is_i64() || value.is_u64(),
            "{at}: not an integer: {value}"
        ),
        Some("number") => assert!(value.is_number(), "{at}: not a number: {value}"),
        Some("boolean") => assert!(value.is_boolean(), "{at}: not a boolean: {value}"),
        _ => {}
    }
}

/// Checks a response against the spec: the status is declared, a JSON body matches its schema.
pub(crate) fn conforms(spec: &Value, method: &str, path: &str, status: u16, body: &str) {
    let op = &spec["paths"][path][method];
    let mut resp = op["responses"][status.to_string()].clone();
    assert!(
        !resp.is_null(),
        "{method} {path} answered {status}, which the spec does not declare: {body}"
    );
    if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
        resp = spec["components"]["responses"][r.rsplit('/').next().unwrap()].clone();
    }
    if let Some(schema) = resp["content"]["application/json"].get("schema") {
        let value: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"));
        check(spec, schema, &value, &format!("{method} {path} {status}"));
    }
}
