//! The `backprop` command line: parses, dispatches, prints one-line errors.

fn main() {
    std::process::exit(backprop::cli::main());
}
