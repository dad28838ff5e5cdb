//! `backprop report`: plots of a run's history (loss, accuracy or error per epoch).

use crate::train::plot_history;
use crate::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// A run folder (holding history.jsonl) or a history file.
    #[arg(value_name = "RUN_DIR_OR_HISTORY")]
    path: PathBuf,
    /// Folder for the plots (default: the folder of the history).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Writes the plots, prints the verdict on one line and the files written on the next.
pub(crate) fn run(a: ReportArgs) -> Result<()> {
    let plots = plot_history(&a.path, a.out.as_deref())?;
    println!("{}", plots.diagnosis);
    let files: Vec<String> = plots.files.iter().map(|f| f.display().to_string()).collect();
    println!("wrote {}", files.join(", "));
    Ok(())
}
