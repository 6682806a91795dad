use std::collections::BTreeSet;

use serde_json::Value;

use crate::http::access;

fn document() -> Value {
    serde_json::to_value(crate::http::openapi()).expect("the document serialises")
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            found.push((path.clone(), method.clone(), operation));
        }
    }
    found
}

/// The whole document, so that any change to the contract shows up in review.
#[test]
fn the_document_is_what_it_was() {
    insta::assert_json_snapshot!("openapi", document());
}

#[test]
fn every_reference_resolves() {
    fn walk(doc: &Value, node: &Value, broken: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target.trim_start_matches('#');
                    if doc.pointer(pointer).is_none() {
                        broken.push(target.clone());
                    }
                }
                map.values().for_each(|v| walk(doc, v, broken));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v, broken)),
            _ => {}
        }
    }
    let doc = document();
    let mut broken = Vec::new();
    walk(&doc, &doc, &mut broken);
    assert!(broken.is_empty(), "unresolved references: {broken:?}");
}

#[test]
fn security_and_auth_answers_follow_the_access_policy() {
    let doc = document();
    for (path, method, operation) in operations(&doc) {
        let secured = operation.get("security").is_some();
        assert_eq!(secured, !access::is_public(&path), "{method} {path}");
        for status in ["401", "403"] {
            if secured {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
        }
        for status in ["500", "503"] {
            assert!(
                operation["responses"].get(status).is_some(),
                "{method} {path} lacks {status}"
            );
        }
    }
    for public in access::PUBLIC {
        assert!(
            doc["paths"].get(*public).is_some(),
            "{public} is not an operation"
        );
    }
}

#[test]
fn operation_ids_are_unique_and_links_name_real_ones() {
    let doc = document();
    let ids: Vec<&str> = operations(&doc)
        .iter()
        .map(|(path, method, op)| {
            op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
        })
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    for (path, method, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            let Some(links) = response.get("links").and_then(Value::as_object) else {
                continue;
            };
            for (name, link) in links {
                let target = link["operationId"].as_str().expect("an operationId");
                let (_, _, target_op) = operations(&doc)
                    .into_iter()
                    .find(|(_, _, o)| o["operationId"] == target)
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no operation {target}"));
                let params: BTreeSet<&str> = target_op["parameters"]
                    .as_array()
                    .expect("parameters")
                    .iter()
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                for param in link["parameters"]
                    .as_object()
                    .expect("link parameters")
                    .keys()
                {
                    assert!(
                        params.contains(param.as_str()),
                        "link {name} of {method} {path} sets {param}, which {target} lacks"
                    );
                }
            }
        }
    }
}

/// Each status's error response lists exactly the codes `ApiError` answers it with.
#[test]
fn error_responses_name_their_codes() {
    let doc = document();
    let responses = &doc["components"]["responses"];
    let codes = |name: &str| -> Vec<String> {
        responses[name]["content"]["application/json"]["schema"]["properties"]["error"]
            ["properties"]["code"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no code enum"))
            .iter()
            .map(|c| c.as_str().expect("a code").to_owned())
            .collect()
    };
    assert_eq!(codes("BadRequest"), ["bad_request"]);
    assert_eq!(codes("Unavailable"), ["unavailable", "busy"]);
    assert_eq!(codes("TooManyRequests"), ["too_many_requests"]);
    assert!(responses["Unauthorized"]["headers"]["WWW-Authenticate"]["required"] == true);
    assert!(responses["TooManyRequests"]["headers"]["Retry-After"]["required"] == true);
}

/// OpenAPI 3.1 requires a description on every response; strict tools refuse a document
/// without one.
#[test]
fn every_response_has_a_description() {
    let doc = document();
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            let response = match response.get("$ref").and_then(Value::as_str) {
                Some(target) => doc
                    .pointer(target.trim_start_matches('#'))
                    .expect("a resolvable response"),
                None => response,
            };
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status} has no description"
            );
        }
    }
}
