//! Build-time inputs of leaf:
//!
//! - The web app rust-embed embeds: `frontend/build` once `make frontend` has put an
//!   `index.html` there, `frontend/placeholder` before that. rust-embed needs the folder to
//!   exist at compile time, and a fresh clone must build without Node.
//!   `frontend/build/.gitkeep` is committed so that the watched folder always exists: cargo
//!   treats a missing watched path as changed and would rebuild leaf on every invocation.
//! - With the feature `bundled-nats-server` (what `make build` builds), the pinned
//!   nats-server that leaf carries inside it: `ci/nats-server.pin` names its version and
//!   SHA-256, the bytes come from `.tools/` (or `LEAF_BUNDLE_NATS_SERVER`), and a file with
//!   any other hash fails the build rather than ship a server nobody checked.

use std::path::{Path, PathBuf};

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    frontend(&workspace.join("frontend"));
    if std::env::var_os("CARGO_FEATURE_BUNDLED_NATS_SERVER").is_some()
        && let Err(e) = bundle_nats_server(&workspace)
    {
        // A build script's panic is the one way to fail the build with a message.
        panic!("feature bundled-nats-server: {e}");
    }
}

fn frontend(root: &Path) {
    let built = root.join("build");
    let dir = if built.join("index.html").is_file() {
        built.clone()
    } else {
        root.join("placeholder")
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    println!("cargo:rustc-env=LEAF_FRONTEND_DIR={}", dir.display());
    println!("cargo:rerun-if-changed={}", built.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("placeholder").display()
    );
}

/// Checks the server against the pin and copies the checked bytes into `OUT_DIR`, so what is
/// embedded is what was hashed even if `.tools/` changes during the build.
fn bundle_nats_server(workspace: &Path) -> Result<(), String> {
    let pin_path = workspace.join("ci").join("nats-server.pin");
    println!("cargo:rerun-if-changed={}", pin_path.display());
    println!("cargo:rerun-if-env-changed=LEAF_BUNDLE_NATS_SERVER");
    let pin = std::fs::read_to_string(&pin_path)
        .map_err(|e| format!("cannot read {}: {e}", pin_path.display()))?;
    let field = |name: &str| {
        pin.lines()
            .filter_map(|line| line.split_once(' '))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim().to_string())
            .ok_or_else(|| format!("{} has no `{name}` line", pin_path.display()))
    };
    let version = field("version")?;
    let expected = field("sha256")?.to_ascii_lowercase();

    let source = std::env::var_os("LEAF_BUNDLE_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".tools/venv/bin/nats-server"));
    println!("cargo:rerun-if-changed={}", source.display());
    let bytes = std::fs::read(&source).map_err(|e| {
        format!(
            "cannot read the nats-server to embed at {}: {e}; run `make deps` first (or set LEAF_BUNDLE_NATS_SERVER)",
            source.display()
        )
    })?;
    let actual = sha256_hex(&bytes);
    if actual != expected {
        return Err(format!(
            "{} has SHA-256 {actual}, but {} pins nats-server {version} at {expected}; run `make deps` to install the pinned one",
            source.display(),
            pin_path.display()
        ));
    }

    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo set no OUT_DIR")?)
        .join("nats-server");
    std::fs::write(&out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("cargo:rustc-env=LEAF_BUNDLED_NATS_SERVER={}", out.display());
    println!("cargo:rustc-env=LEAF_BUNDLED_NATS_VERSION={version}");
    println!("cargo:rustc-env=LEAF_BUNDLED_NATS_SHA256={expected}");
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
