//! Picks the folder rust-embed embeds as the web app: `frontend/build` once `make frontend`
//! has put an `index.html` there, `frontend/placeholder` before that. rust-embed needs the
//! folder to exist at compile time, and a fresh clone must build without Node.
//!
//! `frontend/build/.gitkeep` is committed so that the watched folder always exists: cargo
//! treats a missing watched path as changed and would rebuild leaf on every invocation.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("frontend");
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
