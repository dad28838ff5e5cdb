//! The `backprop` command line: parses, dispatches, prints one-line errors.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
