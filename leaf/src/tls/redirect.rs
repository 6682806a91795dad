//! The plain-HTTP port beside HTTPS (`--http-redirect`): every request is sent to the same
//! host and path over HTTPS, so a TD who types the box's address lands on the secure console.
//!
//! The redirect is a 307, not a permanent 301/308: browsers keep permanent redirects for
//! good, and a venue that later serves plain HTTP again must not find its laptops stuck
//! going to a port nobody answers.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The router of the redirect port; `https_port` is the port HTTPS listens on.
pub fn router(https_port: u16) -> Router {
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| async move {
        redirect(&headers, &uri, https_port)
    })
}

fn redirect(headers: &HeaderMap, uri: &Uri, https_port: u16) -> Response {
    let Some((host, _)) = crate::http::request_host(headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "leaf serves HTTPS; this request names no host to send it to\n",
        )
            .into_response();
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{path}");
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
        "leaf serves HTTPS\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: Option<&str>, uri: &str, port: u16) -> (StatusCode, Option<String>) {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, host.parse().unwrap());
        }
        let response = redirect(&headers, &uri.parse().unwrap(), port);
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (response.status(), location)
    }

    #[test]
    fn requests_go_to_the_same_host_and_path_over_https() {
        assert_eq!(
            location(Some("leaf.local"), "/display/x?token=a", 443),
            (
                StatusCode::TEMPORARY_REDIRECT,
                Some("https://leaf.local/display/x?token=a".into())
            )
        );
        assert_eq!(
            location(Some("192.168.1.20:80"), "/", 8443).1.as_deref(),
            Some("https://192.168.1.20:8443/")
        );
        assert_eq!(
            location(Some("[fe80::1]:8080"), "/ws?since=3", 443)
                .1
                .as_deref(),
            Some("https://[fe80::1]/ws?since=3")
        );
    }

    #[test]
    fn a_host_that_could_point_elsewhere_is_refused() {
        for bad in ["evil.example/x", "a@b", "[::1]x", "a b", ""] {
            let mut headers = HeaderMap::new();
            if let Ok(value) = bad.parse() {
                headers.insert(header::HOST, value);
            }
            let response = redirect(&headers, &"/".parse().unwrap(), 443);
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        }
        assert_eq!(location(None, "/", 443).0, StatusCode::BAD_REQUEST);
    }
}
