//! CSV tables: a header row, then rows of fields, read by hand.
//!
//! The dialect is the common one (RFC 4180): fields separated by commas, a
//! field may be wrapped in double quotes (then it may hold commas, newlines
//! and `""` for a quote), lines end in `\n` or `\r\n`, a UTF-8 byte-order mark
//! is skipped, and empty lines at the end of the file are ignored. Every error
//! names the file, the line (1-based, the header is line 1) and the column.
//!
//! Repeated column names are renamed as pandas' `read_csv` does: the second
//! `cli` becomes `cli.1`, the fifth `cli.4` (skipping names already taken),
//! and [`CsvTable::renamed`] lists what was renamed so a caller can say so.
//! Columns are named by header name or by number counted from 0, as pandas'
//! `iloc` does ([`CsvTable::column`]).

use crate::{Error, Result};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// A CSV file held as text fields: the header's column names and the rows.
///
/// ```
/// use backprop::data::CsvTable;
/// let t = CsvTable::parse("x,label\n1.5,\"a, b\"\n-2,c\n", "mem.csv")?;
/// assert_eq!(t.headers, vec!["x", "label"]);
/// assert_eq!(t.numeric_column(0)?, vec![1.5, -2.0]);
/// assert_eq!(t.rows[0][1], "a, b");
/// assert!(t.numeric_column(1).unwrap_err().to_string().contains("line 2, column 'label'"));
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CsvTable {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// Column names, from the header row.
    pub headers: Vec<String>,
    /// The data rows; each has one field per column.
    pub rows: Vec<Vec<String>>,
    /// The 1-based line on which each row starts.
    pub lines: Vec<usize>,
    /// Repeated header names that were renamed: `(column, name in the file, new name)`.
    pub renamed: Vec<(usize, String, String)>,
}

/// Reads and parses a CSV file; see [`CsvTable::parse`].
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Format`] for text that
/// is not UTF-8 or not a valid table.
pub fn read_csv(path: &Path) -> Result<CsvTable> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::format(path, format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })?;
    CsvTable::parse(&text, path)
}

impl CsvTable {
    /// Parses CSV text; `path` is only used in messages.
    ///
    /// # Errors
    /// [`Error::Format`] naming the file and line for an empty file, a header
    /// without data rows, a row with another number of fields than the
    /// header, or a malformed quoted field.
    ///
    /// ```
    /// use backprop::data::CsvTable;
    /// let t = CsvTable::parse("cli,ili,cli,cli.1,cli\n1,2,3,4,5\n", "survey.csv")?;
    /// assert_eq!(t.headers, ["cli", "ili", "cli.1", "cli.1.1", "cli.2"]);
    /// assert_eq!(t.renamed[0], (2, "cli".to_string(), "cli.1".to_string()));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn parse(text: &str, path: impl Into<PathBuf>) -> Result<CsvTable> {
        let path = path.into();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut records = parse_records(text).map_err(|m| Error::format(&path, m))?;
        while records.last().is_some_and(|(_, fields)| fields.len() == 1 && fields[0].is_empty()) {
            records.pop();
        }
        if records.is_empty() {
            return Err(Error::format(&path, "the file is empty (expected a header row of column names)"));
        }
        let (_, header) = records.remove(0);
        let (headers, renamed) = dedup_names(header.iter().map(|h| h.trim().to_string()).collect());
        if records.is_empty() {
            return Err(Error::format(&path, "the file has a header row but no data rows"));
        }
        let mut rows = Vec::with_capacity(records.len());
        let mut lines = Vec::with_capacity(records.len());
        for (line, fields) in records {
            if fields.len() != headers.len() {
                return Err(Error::format(
                    &path,
                    format!(
                        "line {line}: ragged row: {} field{} but the header has {} columns",
                        fields.len(),
                        if fields.len() == 1 { "" } else { "s" },
                        headers.len()
                    ),
                ));
            }
            rows.push(fields);
            lines.push(line);
        }
        Ok(CsvTable { path, headers, rows, lines, renamed })
    }

    /// What [`CsvTable::renamed`] holds, in one line for a note (`None` when
    /// nothing was renamed): `FILE: 2 repeated column names renamed as pandas
    /// does (columns numbered from 0): cli -> cli.1 (column 3), ...`, the
    /// first six renamings listed.
    pub fn renamed_note(&self) -> Option<String> {
        const SHOWN: usize = 6;
        let n = self.renamed.len();
        if n == 0 {
            return None;
        }
        let list: Vec<String> =
            self.renamed.iter().take(SHOWN).map(|(col, old, new)| format!("{old} -> {new} (column {col})")).collect();
        let more = if n > SHOWN { format!(" and {} more", n - SHOWN) } else { String::new() };
        Some(format!(
            "{}: {n} repeated column name{} renamed as pandas does (columns numbered from 0): {}{more}",
            self.path.display(),
            if n == 1 { "" } else { "s" },
            list.join(", ")
        ))
    }

    /// The index of the column `spec` names: a header name (after renaming
    /// repeated names), or else a column number counted from 0 (`0` is the
    /// first column, as in pandas' `iloc`).
    ///
    /// # Errors
    /// [`Error::Format`] naming the file, the column asked for, what it was
    /// wanted for (`what`, e.g. `"the --target column"`) and the columns there are.
    ///
    /// ```
    /// use backprop::data::CsvTable;
    /// let t = CsvTable::parse("a,b,a\n1,2,3\n", "t.csv")?;
    /// assert_eq!(t.column("a.1", "a feature")?, 2);
    /// assert_eq!(t.column("1", "a feature")?, 1);
    /// assert!(t.column("3", "a feature").unwrap_err().to_string().contains("3 columns, numbered 0 to 2"));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn column(&self, spec: &str, what: &str) -> Result<usize> {
        let spec = spec.trim();
        if let Some(i) = self.headers.iter().position(|h| h == spec) {
            return Ok(i);
        }
        match spec.parse::<usize>() {
            Ok(i) if i < self.headers.len() => Ok(i),
            Ok(i) => Err(Error::format(
                &self.path,
                format!(
                    "no column number {i} ({what}): the file has {} columns, numbered 0 to {}",
                    self.headers.len(),
                    self.headers.len() - 1
                ),
            )),
            Err(_) => self.column_index(spec, what),
        }
    }

    /// The index of the column called `name` (by name only; see [`CsvTable::column`]).
    ///
    /// # Errors
    /// [`Error::Format`] naming the file, the missing column, what it was
    /// wanted for (`what`, e.g. `"the --target column"`) and the columns there are.
    pub fn column_index(&self, name: &str, what: &str) -> Result<usize> {
        self.headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::format(
                &self.path,
                format!("no column named '{name}' ({what}); the columns are: {}", self.headers.join(", ")),
            )
        })
    }

    /// The values of column `col` as numbers.
    ///
    /// # Errors
    /// [`Error::Format`] naming the file, line and column of the first empty
    /// (missing) cell or cell that is not a finite number.
    pub fn numeric_column(&self, col: usize) -> Result<Vec<f32>> {
        self.rows
            .iter()
            .zip(&self.lines)
            .map(|(row, &line)| {
                parse_number(&row[col]).map_err(|why| {
                    Error::format(&self.path, format!("line {line}, column '{}': {why}", self.headers[col]))
                })
            })
            .collect()
    }

    /// Whether column `col` looks numeric: every non-empty cell is a number
    /// and at least one cell is. (Empty cells are reported when the column is read.)
    pub fn is_numeric(&self, col: usize) -> bool {
        let mut cells = self.rows.iter().map(|r| r[col].trim()).filter(|c| !c.is_empty()).peekable();
        cells.peek().is_some() && cells.all(|c| parse_number(c).is_ok())
    }

    /// The columns `cols` as a row-major `[rows, cols.len()]` matrix.
    ///
    /// # Errors
    /// As [`CsvTable::numeric_column`].
    pub fn numeric_matrix(&self, cols: &[usize]) -> Result<Vec<f32>> {
        let columns = cols.iter().map(|&c| self.numeric_column(c)).collect::<Result<Vec<_>>>()?;
        Ok((0..self.rows.len()).flat_map(|r| columns.iter().map(move |c| c[r])).collect())
    }
}

/// A cell as a finite number, or why it is not one.
///
/// ```
/// use backprop::data::parse_number;
/// assert_eq!(parse_number(" 2.5e1 "), Ok(25.0));
/// assert!(parse_number("").unwrap_err().contains("missing value"));
/// assert!(parse_number("abc").unwrap_err().contains("not a number"));
/// assert!(parse_number("inf").is_err());
/// ```
pub fn parse_number(cell: &str) -> std::result::Result<f32, String> {
    let s = cell.trim();
    if s.is_empty() {
        return Err("missing value (empty cell)".into());
    }
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("'{s}' is not a finite number")),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
}

/// A field as written in a CSV file: quoted when it holds a comma, a quote
/// or a line break.
///
/// ```
/// use backprop::data::quote_field;
/// assert_eq!(quote_field("plain"), "plain");
/// assert_eq!(quote_field("a,\"b\""), "\"a,\"\"b\"\"\"");
/// ```
pub fn quote_field(field: &str) -> Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

/// Renames repeated names as pandas does (`a`, `a` -> `a`, `a.1`; a name
/// already taken is skipped: `a`, `a`, `a.1` -> `a`, `a.1`, `a.1.1`);
/// returns the names and the renamings `(column, old, new)`.
fn dedup_names(names: Vec<String>) -> (Vec<String>, Vec<(usize, String, String)>) {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut renamed = Vec::new();
    let mut out = Vec::with_capacity(names.len());
    for (i, original) in names.into_iter().enumerate() {
        let mut name = original.clone();
        let mut count = counts.get(&name).copied().unwrap_or(0);
        while count > 0 {
            counts.insert(name.clone(), count + 1);
            name = format!("{name}.{count}");
            count = counts.get(&name).copied().unwrap_or(0);
        }
        counts.insert(name.clone(), count + 1);
        if name != original {
            renamed.push((i, original, name.clone()));
        }
        out.push(name);
    }
    (out, renamed)
}

/// Splits text into records of fields, each with the line it starts on.
fn parse_records(text: &str) -> std::result::Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        loop {
            let mut field = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let opened = line;
                loop {
                    match chars.next() {
                        None => return Err(format!("line {opened}: a quoted field is never closed")),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            field.push(c);
                        }
                    }
                }
                let line_end = chars.peek() == Some(&'\r') && field_ends_at_cr(&chars);
                if !(line_end || matches!(chars.peek(), None | Some(',' | '\n'))) {
                    return Err(format!("line {line}: unexpected text after the closing quote of a field"));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if matches!(c, ',' | '\n') || (c == '\r' && field_ends_at_cr(&chars)) {
                        break;
                    }
                    if c == '"' {
                        return Err(format!("line {line}: a quote inside an unquoted field (quote the whole field)"));
                    }
                    field.push(c);
                    chars.next();
                }
            }
            fields.push(field);
            match chars.next() {
                Some(',') => continue,
                Some('\r') => {
                    chars.next(); // the '\n' of "\r\n"
                }
                _ => {}
            }
            line += 1;
            break;
        }
        records.push((start, fields));
    }
    Ok(records)
}

/// Whether a `\r` ends the line (is followed by `\n` or the end of the text).
fn field_ends_at_cr(chars: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut ahead = chars.clone();
    ahead.next();
    matches!(ahead.next(), None | Some('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        CsvTable::parse(text, "t.csv").unwrap_err().to_string()
    }

    #[test]
    fn quoting_line_endings_and_bom() {
        let t = CsvTable::parse("\u{feff}a,b\r\n\"x\"\"y\",\"1\n2\"\r\n3,4\n\n", "t.csv").unwrap();
        assert_eq!(t.headers, vec!["a", "b"]);
        assert_eq!(t.rows, vec![vec!["x\"y".to_string(), "1\n2".into()], vec!["3".into(), "4".into()]]);
        assert_eq!(t.lines, vec![2, 4]);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(err(""), "t.csv: the file is empty (expected a header row of column names)");
        assert!(err("a,b\n").contains("no data rows"));
        assert!(err("a,b\n1,2\n3\n").contains("line 3: ragged row: 1 field but the header has 2 columns"));
        assert!(err("a,b\n1,\"2\n").contains("line 2: a quoted field is never closed"));
        assert!(err("a,b\n1,\"2\"x\n").contains("line 2: unexpected text"));
        assert!(err("a\n1\n\"2\n").contains("line 3: a quoted field is never closed"));
        let t = CsvTable::parse("a,b\n1,2\n3,\n", "t.csv").unwrap();
        assert!(t.numeric_column(1).unwrap_err().to_string().contains("line 3, column 'b': missing value"));
        assert!(t.column_index("z", "the --target column").unwrap_err().to_string().contains("'z'"));
    }

    #[test]
    fn repeated_names_are_renamed_as_pandas_does() {
        let names = |v: &[&str]| dedup_names(v.iter().map(|s| s.to_string()).collect());
        let survey: Vec<&str> = ["cli", "ili", "tested_positive"].repeat(5);
        let (headers, renamed) = names(&survey);
        assert_eq!(&headers[..4], ["cli", "ili", "tested_positive", "cli.1"]);
        assert_eq!(headers[14], "tested_positive.4");
        assert_eq!(renamed.len(), 12);
        assert_eq!(renamed[0], (3, "cli".into(), "cli.1".into()));
        // pandas' dedup_names: ['a', 'a', 'a.1'] -> ['a', 'a.1', 'a.1.1'], ['a.1', 'a', 'a'] -> ['a.1', 'a', 'a.1.1'].
        assert_eq!(names(&["a", "a", "a.1"]).0, ["a", "a.1", "a.1.1"]);
        assert_eq!(names(&["a.1", "a", "a"]).0, ["a.1", "a", "a.1.1"]);
        assert!(names(&["x", "y"]).1.is_empty());
    }

    #[test]
    fn columns_by_name_or_number() {
        let t = CsvTable::parse("3,b\n1,2\n", "t.csv").unwrap();
        assert_eq!(t.column("3", "x").unwrap(), 0, "a header name wins over a number");
        assert_eq!(t.column(" 1 ", "x").unwrap(), 1);
        assert!(t.column("7", "the --target column").unwrap_err().to_string().contains("no column number 7"));
        let e = t.column("zz", "the --target column").unwrap_err().to_string();
        assert!(e.contains("no column named 'zz' (the --target column); the columns are: 3, b"), "{e}");
    }

    #[test]
    fn numeric_detection_and_matrix() {
        let t = CsvTable::parse("id,x,y\na,1,2\nb,3,4\n", "t.csv").unwrap();
        assert!(!t.is_numeric(0));
        assert!(t.is_numeric(1));
        assert_eq!(t.numeric_matrix(&[2, 1]).unwrap(), vec![2.0, 1.0, 4.0, 3.0]);
    }
}
