//! Time series as regression: each value predicted from the `window` before it.

use super::RegressionData;
use crate::{Error, Result, Tensor};

/// The windows of `series`: sample `i` has inputs `(x_i, ..., x_{i+w-1})` and
/// target `x_{i+w}`, so there are `len - window` samples, in time order.
///
/// # Errors
/// [`Error::InvalidArgument`] (for `window`) when the window is 0 or the
/// series has no value after its first window.
///
/// ```
/// use backprop::data::window_series;
/// let d = window_series(&[1.0, 2.0, 3.0, 4.0, 5.0], 3)?;
/// assert_eq!(d.inputs.data(), &[1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
/// assert_eq!(d.targets.data(), &[4.0, 5.0]);
/// assert!(window_series(&[1.0, 2.0], 3).is_err());
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn window_series(series: &[f32], window: usize) -> Result<RegressionData> {
    if window == 0 {
        return Err(Error::invalid("window", "must be at least 1"));
    }
    if series.len() <= window {
        return Err(Error::invalid(
            "window",
            format!("the series is too short: {} values give no sample after a window of {window}", series.len()),
        ));
    }
    let n = series.len() - window;
    let inputs = series.windows(window).take(n).flatten().copied().collect();
    let targets = series[window..].to_vec();
    RegressionData::new(Tensor::from_vec(inputs, &[n, window]), Tensor::from_vec(targets, &[n, 1]))
}

/// Every full window of `series` including the last one, as inputs
/// `[len - window + 1, window]`: row `i` predicts `x_{i+window}`, and the last
/// row forecasts the step after the end. `None` when the series is shorter
/// than the window.
///
/// ```
/// use backprop::data::series_windows;
/// let x = series_windows(&[1.0, 2.0, 3.0], 2).unwrap();
/// assert_eq!((x.shape(), x.data()), (&[2, 2][..], &[1.0, 2.0, 2.0, 3.0][..]));
/// assert!(series_windows(&[1.0], 2).is_none());
/// ```
pub fn series_windows(series: &[f32], window: usize) -> Option<Tensor> {
    if window == 0 || series.len() < window {
        return None;
    }
    let rows = series.len() - window + 1;
    Some(Tensor::from_vec(series.windows(window).flatten().copied().collect(), &[rows, window]))
}
