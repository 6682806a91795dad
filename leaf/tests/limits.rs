//! Connection limits against a real socket: a slow request is cut off, and one address cannot
//! take every connection.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leaf::app::ConnectionLimits;
use support::TestLeaf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Serves `leaf`'s router on a fresh loopback port within `limits`.
async fn serve_within(leaf: &TestLeaf, limits: ConnectionLimits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = leaf::http::router(leaf.app_state.clone());
    tokio::spawn(leaf::app::serve_within(
        listener,
        router,
        limits,
        None,
        std::future::pending(),
    ));
    addr
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Everything the server sends until it closes the connection (or 5 s pass).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_request_whose_headers_never_finish_is_cut_off() {
    let leaf = TestLeaf::start().await;
    let limits = ConnectionLimits {
        header_read: Duration::from_millis(500),
        ..ConnectionLimits::default()
    };
    let addr = serve_within(&leaf, limits).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: leaf\r\nx-slow: 1")
        .await
        .unwrap();
    let begun = Instant::now();
    let answer = read_until_closed(&mut slow).await;
    let waited = begun.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "closed after {waited:?}: {answer:?}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    leaf.stop().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let leaf = TestLeaf::start().await;
    let limits = ConnectionLimits {
        total: 3,
        per_address: 2,
        header_read: Duration::from_secs(10),
    };
    let addr = serve_within(&leaf, limits).await;
    let _first = connect_from([127, 0, 0, 21], addr).await;
    let _second = connect_from([127, 0, 0, 21], addr).await;
    let mut third = connect_from([127, 0, 0, 21], addr).await;
    let refused = read_until_closed(&mut third).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused:?}"
    );

    // Another address still gets in, and is served.
    let mut other = connect_from([127, 0, 0, 22], addr).await;
    other
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: leaf\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let served = read_until_closed(&mut other).await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served:?}");
    // Its place was freed when it closed: a new connection gets it (and hears no 503)...
    let mut third_in_all = connect_from([127, 0, 0, 23], addr).await;
    let mut heard = [0u8; 64];
    let quiet =
        tokio::time::timeout(Duration::from_millis(300), third_in_all.read(&mut heard)).await;
    assert!(quiet.is_err(), "the freed place was not given: {:?}", quiet);
    // ... and with three open, a fourth, from yet another address, is refused.
    let mut fourth = connect_from([127, 0, 0, 24], addr).await;
    let refused = read_until_closed(&mut fourth).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    leaf.stop().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let leaf = TestLeaf::start().await;
    let limits = ConnectionLimits {
        header_read: Duration::from_millis(500),
        ..ConnectionLimits::default()
    };
    let addr = serve_within(&leaf, limits).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let begun = Instant::now();
    let answer = read_until_closed(&mut silent).await;
    let waited = begun.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "closed after {waited:?}: {answer:?}"
    );
    leaf.stop().await;
}
