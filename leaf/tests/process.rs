//! leaf as a spawned binary: signals, the nats-server child's lifetime, and startup failures.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEAF: &str = env!("CARGO_BIN_EXE_leaf");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(data_dir: &Path, port: u16, nats_server: &Path) -> Running {
    let log = data_dir.with_extension("log");
    let out = fs::File::create(&log).unwrap();
    let child = Command::new(LEAF)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--nats-server")
        .arg(nats_server)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Running { child, port, log }
}

/// The status of `GET /api/v1/health`, or None if leaf does not answer.
fn health(port: u16) -> Option<u16> {
    health_response(port).map(|(status, _)| status)
}

/// A minimal blocking HTTP/1.0 GET of the health endpoint: status and JSON body. Blocking on
/// purpose: these tests drive a separate process and need no runtime of their own.
fn health_response(port: u16) -> Option<(u16, serde_json::Value)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    stream
        .write_all(b"GET /api/v1/health HTTP/1.0\r\nHost: leaf\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(body).ok()?))
}

fn wait_until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Live (not zombie) processes named nats-server whose parent is `parent`.
fn nats_children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == parent && comm.ends_with("(nats-server") && state != "Z" {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.split_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

fn started(dir: &Path) -> (Running, u32) {
    let leaf = spawn(&dir.join("data"), free_port(), &support::nats_server());
    assert!(
        wait_until(Duration::from_secs(15), || health(leaf.port) == Some(200)),
        "leaf did not become healthy:\n{}",
        fs::read_to_string(&leaf.log).unwrap_or_default()
    );
    let nats = nats_children(leaf.child.id());
    assert_eq!(
        nats.len(),
        1,
        "expected one nats-server child, found {nats:?}"
    );
    (leaf, nats[0])
}

#[test]
fn sigterm_exits_zero_within_five_seconds_and_stops_nats_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut leaf, nats) = started(dir.path());
    let begun = Instant::now();
    signal(leaf.child.id(), libc::SIGTERM);
    let status = loop {
        if let Some(status) = leaf.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "leaf still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    assert!(!alive(nats), "nats-server {nats} outlived leaf");
    let log = fs::read_to_string(&leaf.log).unwrap();
    for step in [
        "\"HTTP\"",
        "\"hub\"",
        "\"nats-server\"",
        "\"libsql\"",
        "leaf stopped",
    ] {
        assert!(log.contains(step), "shutdown log lacks {step}:\n{log}");
    }
    // PIN hashes, viewer tokens, the signing key and the event log: nothing in the data dir,
    // the JetStream store included, is open to other users.
    let open = open_to_others(&dir.path().join("data"));
    assert!(open.is_empty(), "readable by other users: {open:?}");
}

/// Entries under `root` with any group or world permission bit.
fn open_to_others(root: &Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push((path.clone(), mode));
        }
        if meta.is_dir() {
            pending.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    open
}

#[test]
fn sigkill_of_leaf_leaves_no_orphan_nats_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut leaf, nats) = started(dir.path());
    leaf.child.kill().unwrap();
    leaf.child.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !alive(nats)),
        "nats-server {nats} survived SIGKILL of leaf"
    );
}

#[test]
fn a_killed_nats_server_is_restarted_and_health_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (leaf, nats) = started(dir.path());
    signal(nats, libc::SIGKILL);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let children = nats_children(leaf.child.id());
            children.len() == 1 && children[0] != nats && health(leaf.port) == Some(200)
        }),
        "no healthy restart:\n{}",
        fs::read_to_string(&leaf.log).unwrap_or_default()
    );
    let log = fs::read_to_string(&leaf.log).unwrap();
    assert!(log.contains("nats-server exited unexpectedly"), "{log}");
    let (_, body) = health_response(leaf.port).unwrap();
    assert_eq!(body["subsystems"]["nats"]["restarts"], 1, "{body}");
    assert_eq!(
        body["subsystems"]["nats"]["sync_interval"], "always",
        "{body}"
    );
}

/// Runs leaf to completion and returns its exit code and output.
fn run_to_failure(data_dir: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(LEAF)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    // Written by a child process: a file this process had open for writing could be inherited
    // by another test's fork at that moment, and exec would fail with ETXTBSY.
    let made = Command::new("/bin/sh")
        .arg("-c")
        .arg("printf '#!/bin/sh\\n%s\\n' \"$2\" > \"$1\" && chmod 755 \"$1\"")
        .arg("sh")
        .arg(&path)
        .arg(body)
        .status()
        .unwrap();
    assert!(made.success());
    path
}

#[test]
fn bad_flags_exit_two_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--no-such-flag"],
        vec!["--addr", "nonsense"],
        vec!["--log-format", "yaml"],
        vec!["--uplink-url", "nats-leaf://127.0.0.1:7422"],
        vec![
            "--uplink-url",
            "nats-leaf://127.0.0.1:7422",
            "--venue-id",
            "Main Hall",
        ],
    ] {
        let (code, out) = run_to_failure(&dir.path().join("d"), &args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains("error:"), "{args:?}: {out}");
    }
    assert!(
        !dir.path().join("d").exists(),
        "a bad flag created the data dir"
    );
}

#[test]
fn startup_failures_exit_non_zero_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let nats = support::nats_server();
    let nats = nats.to_str().unwrap();
    let too_old = script(dir.path(), "old-nats", "echo 'nats-server: v2.9.10'");
    let crashing = script(
        dir.path(),
        "crashing-nats",
        "case \"$1\" in --version) echo 'nats-server: v2.12.4';; *) echo 'FTL: disk on fire' >&2; exit 3;; esac",
    );
    let before_uplinks = script(dir.path(), "nats-2-12", "echo 'nats-server: v2.12.4'");
    let uplink = [
        "--uplink-url",
        "nats-leaf://127.0.0.1:7422",
        "--venue-id",
        "east",
    ];
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let free = format!("127.0.0.1:{}", free_port());

    let cases: Vec<(&str, PathBuf, Vec<&str>, &[&str])> = vec![
        (
            "port in use",
            dir.path().join("a"),
            vec!["--addr", &busy_addr, "--nats-server", nats],
            &["in use", "--addr"],
        ),
        (
            "unwritable data dir",
            PathBuf::from("/proc/leaf-test-nope"),
            vec!["--addr", &free, "--nats-server", nats],
            &["data dir", "writable"],
        ),
        (
            "missing nats-server",
            dir.path().join("b"),
            vec!["--addr", &free, "--nats-server", "/nonexistent/nats-server"],
            &["nats-server", "make deps"],
        ),
        (
            "nats-server too old",
            dir.path().join("c"),
            vec!["--addr", &free, "--nats-server", too_old.to_str().unwrap()],
            &["2.9.10", "2.11"],
        ),
        (
            "nats-server failing",
            dir.path().join("d"),
            vec!["--addr", &free, "--nats-server", crashing.to_str().unwrap()],
            &["exited during startup", "disk on fire"],
        ),
        (
            "an uplink on a server leaf does not run",
            dir.path().join("e"),
            [
                &["--addr", &free, "--nats-url", "nats://127.0.0.1:1"][..],
                &uplink,
            ]
            .concat(),
            &["--uplink-url", "--nats-url"],
        ),
        (
            "uplink credentials missing",
            dir.path().join("f"),
            [
                &["--addr", &free, "--nats-server", nats][..],
                &uplink,
                &["--uplink-credentials", "/nonexistent/uplink.creds"],
            ]
            .concat(),
            &["cannot read the credentials", "/nonexistent/uplink.creds"],
        ),
        (
            "uplink credentials of two lines",
            dir.path().join("g"),
            [
                &["--addr", &free, "--nats-server", nats][..],
                &uplink,
                &["--uplink-credentials", too_old.to_str().unwrap()],
            ]
            .concat(),
            &["must be a .creds file"],
        ),
        (
            "an uplink on a nats-server before 2.14",
            dir.path().join("h"),
            [
                &[
                    "--addr",
                    &free,
                    "--nats-server",
                    before_uplinks.to_str().unwrap(),
                ][..],
                &uplink,
            ]
            .concat(),
            &["2.12.4", "too old for --uplink-url", "2.14"],
        ),
        (
            "a central reader whose cluster does not answer",
            dir.path().join("i"),
            vec![
                "--addr",
                &free,
                "--central",
                "--nats-url",
                "nats://127.0.0.1:1",
            ],
            &["cannot connect to the central cluster", "127.0.0.1:1"],
        ),
        (
            "a central reader's credentials missing",
            dir.path().join("j"),
            vec![
                "--addr",
                &free,
                "--central",
                "--nats-url",
                "nats://127.0.0.1:1",
                "--nats-credentials",
                "/nonexistent/central.creds",
            ],
            &["cannot read the credentials", "/nonexistent/central.creds"],
        ),
    ];
    for (what, data_dir, args, expect) in cases {
        let (code, out) = run_to_failure(&data_dir, &args);
        assert_ne!(code, 0, "{what}: {out}");
        let last = out
            .lines()
            .rev()
            .find(|l| l.starts_with("leaf: "))
            .unwrap_or_else(|| panic!("{what}: no `leaf:` line in {out}"));
        let all = out.to_lowercase();
        for word in expect {
            assert!(
                all.contains(&word.to_lowercase()),
                "{what}: {word:?} missing from {out}"
            );
        }
        assert!(!last.is_empty());
    }
    drop(busy);
}

#[test]
fn a_corrupt_or_newer_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let nats = support::nats_server();
    let free = format!("127.0.0.1:{}", free_port());

    let corrupt = dir.path().join("corrupt");
    fs::create_dir_all(&corrupt).unwrap();
    let garbage = b"not a database, just the blind structure for tonight".repeat(200);
    fs::write(corrupt.join("leaf.db"), &garbage).unwrap();
    let (code, out) = run_to_failure(
        &corrupt,
        &["--addr", &free, "--nats-server", nats.to_str().unwrap()],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("leaf.db"), "{out}");
    assert_eq!(fs::read(corrupt.join("leaf.db")).unwrap(), garbage);
    assert!(
        !corrupt.join("nats").exists(),
        "nats-server was started for a corrupt database"
    );

    let newer = dir.path().join("newer");
    fs::create_dir_all(&newer).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = leaf::store::Store::open(&newer.join("leaf.db"))
            .await
            .unwrap();
        store
            .call(|conn| async move {
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (9999, 'later')",
                    (),
                )
                .await?;
                Ok(())
            })
            .await
            .unwrap();
        store.close().await;
    });
    let before = fs::read(newer.join("leaf.db")).unwrap();
    let (code, out) = run_to_failure(
        &newer,
        &["--addr", &free, "--nats-server", nats.to_str().unwrap()],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("newer leaf"), "{out}");
    assert_eq!(fs::read(newer.join("leaf.db")).unwrap(), before);
}

#[test]
fn a_second_leaf_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (leaf, _nats) = started(dir.path());
    let (code, out) = run_to_failure(
        &dir.path().join("data"),
        &[
            "--addr",
            &format!("127.0.0.1:{}", free_port()),
            "--nats-server",
            support::nats_server().to_str().unwrap(),
        ],
    );
    assert_ne!(code, 0);
    assert!(out.contains("already running"), "{out}");
    assert!(out.contains(&leaf.child.id().to_string()), "{out}");
    assert_eq!(
        health(leaf.port),
        Some(200),
        "the running leaf was disturbed"
    );
}

#[test]
fn a_nats_server_binary_under_another_name_still_starts() {
    // nats-server names its ports file after argv[0]; leaf must not depend on the file name.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("nats-server-v2.12.4-pinned");
    std::os::unix::fs::symlink(support::nats_server(), &renamed).unwrap();
    let leaf = spawn(&dir.path().join("data"), free_port(), &renamed);
    assert!(
        wait_until(Duration::from_secs(15), || health(leaf.port) == Some(200)),
        "{}",
        fs::read_to_string(&leaf.log).unwrap_or_default()
    );
}

fn td(data_dir: &Path, args: &[&str], stdin: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(LEAF)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("td")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn td_accounts_are_managed_offline_with_the_pin_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(td(&data, &["add", "alice"], "482193\n").0, 0);
    let (code, out) = td(&data, &["add", "bob"], "12\n");
    assert_ne!(code, 0);
    assert!(out.contains("at least 6"), "{out}");
    let (code, out) = td(&data, &["add", "alice"], "482193\n");
    assert_ne!(code, 0);
    assert!(out.contains("already exists"), "{out}");
    let (code, out) = td(&data, &["list"], "");
    assert_eq!(code, 0);
    assert!(out.contains("alice") && !out.contains("bob"), "{out}");
    assert!(!out.contains("482193") && !out.contains("argon2"), "{out}");
    assert_eq!(td(&data, &["remove", "alice"], "").0, 0);
    assert_ne!(td(&data, &["remove", "alice"], "").0, 0);
}
