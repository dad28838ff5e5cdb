//! Text for language models: a character-level tokenizer and random windows
//! of a token stream.

use crate::tensor::Rng;
use crate::{Error, Result};
use std::path::Path;

/// Maps each distinct character of a text to an id (sorted by character).
///
/// ```
/// use backprop::data::CharTokenizer;
/// let tok = CharTokenizer::from_text("hello");
/// assert_eq!(tok.vocab_size(), 4); // e h l o
/// let ids = tok.encode("hole").unwrap();
/// assert_eq!(tok.decode(&ids), "hole");
/// assert!(tok.encode("help!").is_err()); // 'p' and '!' are unknown
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CharTokenizer {
    chars: Vec<char>,
}

impl CharTokenizer {
    /// The vocabulary of `text`.
    pub fn from_text(text: &str) -> CharTokenizer {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharTokenizer { chars }
    }

    /// A tokenizer over exactly these characters (sorted, distinct).
    pub fn from_chars(mut chars: Vec<char>) -> CharTokenizer {
        chars.sort_unstable();
        chars.dedup();
        CharTokenizer { chars }
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of ids.
    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// Ids of `text`; an error names the first character outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        text.chars()
            .enumerate()
            .map(|(i, ch)| {
                self.chars.binary_search(&ch).map_err(|_| {
                    Error::invalid(
                        "text",
                        format!("character {ch:?} at position {} is not in the model's vocabulary", i + 1),
                    )
                })
            })
            .collect()
    }

    /// The text of `ids` (ids outside the vocabulary become U+FFFD).
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter().map(|&i| self.chars.get(i).copied().unwrap_or('\u{FFFD}')).collect()
    }
}

/// A tokenized text split into training and validation parts (in text order).
#[derive(Clone, Debug)]
pub struct TextData {
    /// The vocabulary.
    pub tokenizer: CharTokenizer,
    /// The first part of the text.
    pub train: Vec<usize>,
    /// The rest.
    pub val: Vec<usize>,
}

impl TextData {
    /// Reads a UTF-8 text file; errors for a missing, empty or binary file.
    pub fn load(path: &Path, train_fraction: f32) -> Result<TextData> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if bytes.contains(&0) {
            return Err(Error::format(path, "looks binary (contains NUL bytes), not a text file"));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::format(path, format!("is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
        })?;
        if text.trim().is_empty() {
            return Err(Error::format(path, "is empty"));
        }
        Ok(Self::from_text(&text, train_fraction))
    }

    /// Tokenizes `text` and splits it: the first `train_fraction` for training.
    pub fn from_text(text: &str, train_fraction: f32) -> TextData {
        let tokenizer = CharTokenizer::from_text(text);
        let ids = tokenizer.encode(text).expect("every character of the text is in its own vocabulary");
        let cut = ((ids.len() as f32) * train_fraction).round() as usize;
        TextData { tokenizer, train: ids[..cut].to_vec(), val: ids[cut..].to_vec() }
    }
}

impl TextData {
    /// The same text in the ids of `tokenizer` (a pre-trained model's
    /// vocabulary), to fine-tune that model on it.
    ///
    /// ```
    /// use backprop::data::{CharTokenizer, TextData};
    /// let model = CharTokenizer::from_text("abcdefgh ");
    /// let data = TextData::from_text("bad cafe", 0.5).in_vocabulary(&model)?;
    /// assert_eq!(model.decode(&data.train), "bad ");
    /// let e = TextData::from_text("a zebra!", 0.5).in_vocabulary(&model).unwrap_err().to_string();
    /// assert!(e.contains("3 characters are not in the model's vocabulary: '!' (1), 'r' (1), 'z' (1)"), "{e}");
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `text`, naming every character of the
    /// text outside the vocabulary (with its count): a new character has no
    /// embedding to start from, so it is refused rather than mapped.
    pub fn in_vocabulary(&self, tokenizer: &CharTokenizer) -> Result<TextData> {
        let own = self.tokenizer.chars();
        let mut counts = vec![0usize; own.len()];
        for &id in self.train.iter().chain(&self.val) {
            counts[id] += 1;
        }
        let missing: Vec<String> = own
            .iter()
            .zip(&counts)
            .filter(|(ch, _)| tokenizer.chars().binary_search(ch).is_err())
            .map(|(ch, n)| format!("{ch:?} ({n})"))
            .collect();
        if !missing.is_empty() {
            let message =
                format!("{} characters are not in the model's vocabulary: {}", missing.len(), missing.join(", "));
            return Err(Error::invalid("text", message));
        }
        let map: Vec<usize> = own.iter().map(|ch| tokenizer.chars().binary_search(ch).unwrap_or(0)).collect();
        let convert = |ids: &[usize]| ids.iter().map(|&i| map[i]).collect();
        Ok(TextData { tokenizer: tokenizer.clone(), train: convert(&self.train), val: convert(&self.val) })
    }
}

/// `batch` random windows of `block + 1` consecutive tokens from `tokens`:
/// inputs are the first `block`, targets the last `block` (shifted by one).
/// Returns `(inputs, targets)`, each `batch * block` ids, row-major.
///
/// # Panics
/// When `tokens` holds fewer than `block + 1` ids.
pub fn random_windows(tokens: &[usize], batch: usize, block: usize, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    assert!(tokens.len() > block, "random_windows: {} tokens cannot hold a window of {}", tokens.len(), block + 1);
    let mut x = Vec::with_capacity(batch * block);
    let mut y = Vec::with_capacity(batch * block);
    for _ in 0..batch {
        let start = rng.below(tokens.len() - block);
        x.extend_from_slice(&tokens[start..start + block]);
        y.extend_from_slice(&tokens[start + 1..start + block + 1]);
    }
    (x, y)
}
