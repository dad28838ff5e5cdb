//! A subset of a data set's classes: "digits 0-4 only", with the labels
//! renumbered from 0 so a classifier of that many outputs trains on them.

use super::Dataset;
use crate::{Error, Result};

/// Parses a class list such as `0-4`, `1,3,5` or `0-2,7`: sorted, no
/// repeats, each below `num_classes`.
///
/// # Errors
/// [`Error::InvalidArgument`] (field `classes`) naming the part that does not parse or is out of range.
///
/// ```
/// use backprop::data::parse_classes;
/// assert_eq!(parse_classes("0-4", 10)?, vec![0, 1, 2, 3, 4]);
/// assert_eq!(parse_classes("7,0-1", 10)?, vec![0, 1, 7]);
/// assert!(parse_classes("5-12", 10).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn parse_classes(text: &str, num_classes: usize) -> Result<Vec<usize>> {
    let bad = |m: String| Error::invalid("classes", m);
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number =
            |s: &str| s.trim().parse::<usize>().map_err(|_| bad(format!("'{s}' in '{text}' is not a class number")));
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if lo > hi {
            return Err(bad(format!("'{part}' in '{text}' runs backwards")));
        }
        if hi >= num_classes {
            return Err(bad(format!("class {hi} in '{text}' is not below the data's {num_classes} classes")));
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Dataset {
    /// The examples whose label is in `classes` (sorted, as
    /// [`parse_classes`] gives), relabelled by their position in `classes`:
    /// with `[5, 6, 7, 8, 9]`, digit 5 becomes class 0. `keep_labels` keeps
    /// the original labels and class count instead (an out-of-distribution
    /// set only needs the images).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when no example is left.
    ///
    /// ```
    /// use backprop::{data::Dataset, Tensor};
    /// let data = Dataset::new(Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[4, 1]), vec![0, 3, 1, 3], 4)?;
    /// let high = data.keep_classes(&[1, 3], false)?;
    /// assert_eq!((high.labels.clone(), high.num_classes), (vec![1, 0, 1], 2));
    /// assert_eq!(high.inputs.data(), &[1.0, 2.0, 3.0]);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn keep_classes(&self, classes: &[usize], keep_labels: bool) -> Result<Dataset> {
        let ids: Vec<usize> = (0..self.len()).filter(|&i| classes.contains(&self.labels[i])).collect();
        if ids.is_empty() {
            let message = format!("no example has a label among {classes:?}");
            return Err(Error::invalid("classes", message));
        }
        let mut out = self.subset(&ids);
        if !keep_labels {
            for l in &mut out.labels {
                *l = classes.iter().position(|c| c == l).expect("kept labels are in classes");
            }
            out.num_classes = classes.len();
        }
        Ok(out)
    }
}
