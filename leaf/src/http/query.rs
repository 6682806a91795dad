//! Query parameters the OpenAPI document does not name are refused with 400, on every
//! operation, using the document itself: an operation that declares none takes none. What
//! the declared ones may hold is their handlers' business (`extract::ApiQuery`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::ParameterIn;

use super::error::ApiError;

/// The query parameters of each operation: (method, route) → names.
#[derive(Debug, Default)]
pub struct Declared(HashMap<(Method, String), BTreeSet<String>>);

impl Declared {
    pub fn from_document(doc: &OpenApi) -> Self {
        let mut declared = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let names = operation
                    .parameters
                    .iter()
                    .flatten()
                    .filter_map(|p| match p {
                        utoipa::openapi::RefOr::T(p) if p.parameter_in == ParameterIn::Query => {
                            Some(p.name.clone())
                        }
                        _ => None,
                    })
                    .collect();
                declared.insert((method, path.clone()), names);
            }
        }
        Self(declared)
    }

    fn names(&self, method: &Method, route: &str) -> Option<&BTreeSet<String>> {
        // HEAD is answered by the GET route.
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        self.0.get(&(method, route.to_owned()))
    }
}

/// A route layer: 400 for a query parameter the operation does not declare.
pub async fn refuse_undeclared(
    State(declared): State<Arc<Declared>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let names = route.and_then(|route| declared.names(request.method(), &route).cloned());
    if let Some(names) = names
        && let Some(undeclared) = undeclared(&request, &names)
    {
        let takes = if names.is_empty() {
            "it takes none".to_owned()
        } else {
            format!(
                "it takes {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        return ApiError::BadRequest(format!(
            "unknown query parameter {undeclared:?} for this operation; {takes}"
        ))
        .into_response();
    }
    next.run(request).await
}

fn undeclared(request: &Request, names: &BTreeSet<String>) -> Option<String> {
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(request.uri()) else {
        // Not even pairs: the handler's own parsing says what is wrong, or, for an
        // operation without parameters, this does.
        return names.is_empty().then(|| {
            request
                .uri()
                .query()
                .unwrap_or("")
                .chars()
                .take(64)
                .collect()
        });
    };
    pairs
        .into_iter()
        .map(|(name, _)| name)
        .find(|name| !names.contains(name))
        .map(|name| name.chars().take(64).collect())
}
