//! The cases are built into the binary (include_dir! in src/case/load.rs); a changed, added or removed case
//! file must rebuild it.

fn main() {
    println!("cargo:rerun-if-changed=cases");
}
