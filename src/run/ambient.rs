//! Checks made on every response a case step receives, whatever the case is about: the form of errors, the
//! content type of JSON, the type of `soft_logout`. They feed their clauses' verdicts, so a server cannot pass
//! a form clause merely because the dedicated case happened not to meet the deviation.

use serde_json::Value;

use crate::clause::Catalogue;
use crate::http::Response;
use crate::verdict::{CheckRecord, Checked, FormCheck};

const CONTENT_TYPE: &str = "json.response-content-type";
const ERROR_FORMAT: &str = "error.standard-format";
const SOFT_LOGOUT: &str = "softlogout.signal";
const UTF8: &str = "json.utf8";

pub fn check(catalogue: &Catalogue, step: &str, response: &Response, out: &mut Vec<CheckRecord>) {
    let mut record = |clause: &str, held: bool, form: FormCheck| {
        if let Some(c) = catalogue.get(clause) {
            out.push(CheckRecord {
                clause: clause.to_owned(),
                level: c.level,
                held,
                step: step.to_owned(),
                checked: Checked::Form(form),
                pos: None,
            });
        }
    };
    let content_type = response.header("content-type").unwrap_or("");
    if let Some(json) = &response.json {
        record(
            UTF8,
            std::str::from_utf8(&response.body).is_ok(),
            FormCheck::Utf8 {
                status: response.status,
            },
        );
        let held = content_type
            .to_ascii_lowercase()
            .starts_with("application/json");
        record(
            CONTENT_TYPE,
            held,
            FormCheck::ContentType {
                status: response.status,
                content_type: content_type.to_owned(),
            },
        );
        // Every JSON error is a standard error response, whether or not it carries an errcode; only a
        // user-interactive-authentication challenge (a 401 with `flows`) has a shape of its own.
        let uia_challenge = response.status == 401 && json.get("flows").is_some();
        if response.status >= 400 && !uia_challenge {
            let errcode_ok = json.get("errcode").is_some_and(Value::is_string);
            let error_ok = json.get("error").is_some_and(Value::is_string);
            record(
                ERROR_FORMAT,
                errcode_ok && error_ok,
                FormCheck::ErrorFields {
                    response: response.summary(),
                    errcode: errcode_ok,
                    error: error_ok,
                },
            );
        }
        if response.status == 401 && json.get("errcode") == Some(&Value::from("M_UNKNOWN_TOKEN")) {
            let soft = json.get("soft_logout");
            record(
                SOFT_LOGOUT,
                soft.is_none_or(Value::is_boolean),
                FormCheck::SoftLogout {
                    value: soft.cloned(),
                },
            );
        }
    } else if response.status >= 400 && !response.body.is_empty() {
        // An error at the Matrix API level must be a JSON standard error response.
        record(
            ERROR_FORMAT,
            false,
            FormCheck::ErrorNotJson {
                status: response.status,
                content_type: content_type.to_owned(),
            },
        );
    }
}
