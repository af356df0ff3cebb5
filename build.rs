//! Rebuilds the crate when the embedded panel changes. rust-embed's derive re-runs when a file
//! it embedded changes (`include_bytes!`), but not when a new build adds or removes files.
fn main() {
    println!("cargo::rerun-if-changed=frontend/dist");
}
