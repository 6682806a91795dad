//! The OpenAPI document of `/api/v1`, served at `/api/v1/openapi.json`.
//!
//! The handlers' `#[utoipa::path]` annotations give each operation's paths, parameters,
//! bodies and the responses of its own; the validated types give their rules
//! ([`crate::schema`]). [`finish`] then adds what holds for every operation, from the code
//! that enforces it:
//! - security and the 401 and 403 answers, from [`access::is_public`];
//! - the 500 and 503 every operation can answer (a fault, the request timeout, a subsystem
//!   down) and the `x-request-id` header of the request-id middleware;
//! - the links from a created resource to the operations on it, which also drive
//!   schemathesis's stateful tests.

use axum::http::StatusCode;
use utoipa::openapi::header::Header;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr, Required, Response};

use super::access;
use super::error::responses::{
    BadRequest, Conflict, Forbidden, InsufficientStorage, Internal, NotFound, PayloadTooLarge,
    TooManyRequests, Unauthorized, Unavailable,
};
use super::middleware::{MAX_REQUEST_ID, REQUEST_ID_PATTERN};

/// The document's frame: its description and the shared error responses.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "leaf",
        description = "The venue node of Felt: tournaments, their event logs and live feeds. \
            The live feed is a WebSocket at `/ws`, described in docs/protocol.md."
    ),
    components(responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        TooManyRequests,
        InsufficientStorage,
        Internal,
        Unavailable
    ))
)]
pub struct ApiDoc;

/// Links from the answer of one operation to the operations it makes possible:
/// (from, status, to, parameters of `to` and where their values come from).
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const LINKS: &[LinkSpec] = &[
    (
        "createTournament",
        "201",
        "getTournament",
        &[("id", "$response.body#/id")],
    ),
    (
        "createTournament",
        "201",
        "listEvents",
        &[("id", "$response.body#/id")],
    ),
    (
        "createTournament",
        "201",
        "appendEvent",
        &[("id", "$response.body#/id")],
    ),
    (
        "createTournament",
        "201",
        "createViewerLink",
        &[("id", "$response.body#/id")],
    ),
    (
        "appendEvent",
        "201",
        "listEvents",
        &[("id", "$request.path.id"), ("since", "$response.body#/seq")],
    ),
    (
        "createViewerLink",
        "201",
        "getViewerLinkQr",
        &[("id", "$request.path.id"), ("link", "$response.body#/id")],
    ),
    (
        "createViewerLink",
        "201",
        "revokeViewerLink",
        &[("id", "$request.path.id"), ("link", "$response.body#/id")],
    ),
];

/// Adds to `doc` what every operation shares (see the module's documentation).
pub fn finish(doc: &mut OpenApi) {
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A TD's token from POST /api/v1/auth/login, or a viewer link's token \
                         (read-only, one tournament).",
                    ))
                    .build(),
            ),
        );
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = access::is_public(path);
        for operation in operations(item) {
            if !public {
                operation.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
                refer(operation, StatusCode::UNAUTHORIZED, "Unauthorized");
                refer(operation, StatusCode::FORBIDDEN, "Forbidden");
            }
            refer(operation, StatusCode::INTERNAL_SERVER_ERROR, "Internal");
            refer(operation, StatusCode::SERVICE_UNAVAILABLE, "Unavailable");
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(request_id_parameter()));
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    add_request_id_header(response);
                }
            }
        }
    }
    if let Some(components) = doc.components.as_mut() {
        for response in components.responses.values_mut() {
            if let RefOr::T(response) = response {
                add_request_id_header(response);
            }
        }
    }
    for (from, status, to, parameters) in LINKS {
        let Some(response) =
            operation_by_id(doc, from).and_then(|op| op.responses.responses.get_mut(*status))
        else {
            continue;
        };
        if let RefOr::T(response) = response {
            let link = parameters
                .iter()
                .fold(
                    LinkBuilder::new().operation_id(*to),
                    |link, (name, value)| link.parameter(*name, *value),
                )
                .build();
            response.links.insert((*to).to_owned(), RefOr::T(link));
        }
    }
}

/// `header`, marked as always sent. utoipa's `Header` has no `required` field; its
/// extensions are written flat into the header object, which is where OpenAPI puts it.
pub fn required(mut header: Header, description: &str) -> Header {
    header.description = Some(description.to_owned());
    header
        .extensions
        .get_or_insert_with(Default::default)
        .insert("required".to_owned(), serde_json::Value::Bool(true));
    header
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn operation_by_id<'a>(doc: &'a mut OpenApi, id: &str) -> Option<&'a mut Operation> {
    doc.paths
        .paths
        .values_mut()
        .flat_map(operations)
        .find(|op| op.operation_id.as_deref() == Some(id))
}

/// Adds the shared response `name` for `status`, unless the operation answers that status
/// its own way (health's 503 is its report, not an error).
fn refer(operation: &mut Operation, status: StatusCode, name: &str) {
    operation
        .responses
        .responses
        .entry(status.as_u16().to_string())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

fn request_id_parameter() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("x-request-id")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(format!(
            "Names the request in leaf's log and audit records, and comes back in the answer. \
             One that is not 1 to {MAX_REQUEST_ID} of letters, digits and `._:/+=@-` is \
             replaced by a generated one, never refused."
        )))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn add_request_id_header(response: &mut Response) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(REQUEST_ID_PATTERN))
        .build();
    response.headers.insert(
        "x-request-id".to_owned(),
        RefOr::T(required(
            Header::new(schema),
            "The request's id: the client's own when usable, otherwise a generated UUID.",
        )),
    );
}

#[cfg(test)]
mod tests;
