//! Picks the folder rust-embed embeds as the web app: `frontend/build` once `make frontend`
//! has produced it, `frontend/placeholder` before that. rust-embed needs the folder to exist
//! at compile time, and a fresh clone must build without Node.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("frontend");
    let built = root.join("build");
    let dir = if built.join("index.html").is_file() {
        built
    } else {
        root.join("placeholder")
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    println!("cargo:rustc-env=LEAF_FRONTEND_DIR={}", dir.display());
    // Re-run (and re-embed) when the build appears, changes or disappears.
    println!("cargo:rerun-if-changed={}", root.join("build").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("placeholder").display()
    );
}
