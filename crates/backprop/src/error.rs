//! The one error type of the crate: every failure names what is wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong outside of programming errors.
///
/// Each variant renders as one line naming the problem and its place
/// (file, offset, row, flag), so the CLI can print it as is ([`Error::Diverged`]
/// adds indented details under its line).
///
/// ```
/// use backprop::Error;
/// let e = Error::InvalidArgument { name: "--lr".into(), message: "must be positive, got -1".into() };
/// assert_eq!(e.to_string(), "invalid value for --lr: must be positive, got -1");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(&source.to_string()))]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what its format requires.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(message))]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong, and where in the file.
        message: String,
    },
    /// A user-supplied value (flag, option, config) is out of range or malformed.
    #[error("invalid value for {}: {}", one_line(name), one_line(message))]
    InvalidArgument {
        /// The flag or parameter name.
        name: String,
        /// Why the value is rejected.
        message: String,
    },
    /// Shapes that must agree do not.
    #[error("shape mismatch in {op}: {}", one_line(message))]
    Shape {
        /// The operation that detected it.
        op: String,
        /// The shapes involved.
        message: String,
    },
    /// Training diverged: the loss became NaN or infinite. The one exception to
    /// one line: the first line says what happened, indented lines under it
    /// name the op, its inputs and a hint (`train::Origin`); the text is the
    /// framework's own, not a file's.
    #[error("{0}")]
    Diverged(String),
    /// A checkpoint does not fit the model or is missing information.
    #[error("checkpoint {}: {}", one_line(&path.display().to_string()), one_line(message))]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A format error in `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format { path: path.into(), message: message.into() }
    }

    /// A rejected user-supplied value.
    pub fn invalid(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument { name: name.into(), message: message.into() }
    }
}

/// `text` with its control characters escaped (a line break becomes `\n`),
/// so an error stays one line whatever a file put in a name or a cell.
///
/// ```
/// let e = backprop::Error::format("t.csv", "column 'a\nb': bad");
/// assert_eq!(e.to_string(), "t.csv: column 'a\\nb': bad");
/// ```
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let escaped = text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() });
    std::borrow::Cow::Owned(escaped.collect())
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
