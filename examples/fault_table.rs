//! Prints the README's table of reference-server faults: `cargo run --example fault_table`.

use refresh_conformance::reference::Fault;

fn main() {
    println!("| fault | what the server does | clauses it must fail |");
    println!("|---|---|---|");
    for fault in Fault::ALL {
        let breaks = if fault.is_allowed_variation() {
            "none: allowed by the spec".to_owned()
        } else {
            fault
                .breaks()
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| `{}` | {} | {} |",
            fault.name(),
            fault.description(),
            breaks
        );
    }
}
