//! Value parsers for flags: each rejects bad input with a message naming the problem.

/// A strictly positive, finite number (learning rates, ...).
pub(crate) fn positive_f32(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a positive number, got {s}"))
    }
}

/// A finite number >= 0 (weight decay, momentum, ...).
pub(crate) fn non_negative_f32(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a number >= 0, got {s}"))
    }
}

/// A fraction in [0, 1).
pub(crate) fn fraction(s: &str) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be at least 0 and below 1, got {s}"))
    }
}

/// An integer >= 1.
pub(crate) fn positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1, got 0".into()),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("'{s}' is not a positive whole number")),
    }
}

/// Hidden layer sizes given as one flag value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayerSizes(pub Vec<usize>);

/// Layer sizes such as `256,128` (empty string: no hidden layer).
pub(crate) fn layer_sizes(s: &str) -> Result<LayerSizes, String> {
    if s.trim().is_empty() {
        return Ok(LayerSizes(Vec::new()));
    }
    s.split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(0) => Err("a layer size must be at least 1, got 0".to_string()),
            Ok(v) => Ok(v),
            Err(_) => Err(format!(
                "'{}' is not a layer size (expected whole numbers separated by commas, e.g. 256,128)",
                part.trim()
            )),
        })
        .collect::<Result<Vec<usize>, String>>()
        .map(LayerSizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_reject_bad_values_with_reasons() {
        assert!(positive_f32("-1").unwrap_err().contains("positive"));
        assert!(positive_f32("abc").unwrap_err().contains("not a number"));
        assert!(positive_f32("NaN").is_err());
        assert_eq!(positive_f32("0.5"), Ok(0.5));
        assert!(layer_sizes("abc").unwrap_err().contains("'abc' is not a layer size"));
        assert!(layer_sizes("256,0").is_err());
        assert_eq!(layer_sizes("256, 128"), Ok(LayerSizes(vec![256, 128])));
        assert_eq!(layer_sizes(""), Ok(LayerSizes(vec![])));
        assert!(positive_usize("0").is_err());
        assert!(fraction("1").is_err());
        assert_eq!(non_negative_f32("0"), Ok(0.0));
    }
}
