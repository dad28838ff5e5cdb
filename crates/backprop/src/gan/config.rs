//! What a GAN is made of: everything needed to rebuild one, stored in its checkpoint.

use crate::{Error, Result};

/// The two architectures of [`GanConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GanArch {
    /// Fully connected networks (Goodfellow et al. 2014): the generator
    /// `latent -> generator_hidden... -> C*H*W` (tanh), the discriminator
    /// `C*H*W -> discriminator_hidden... -> 1` (a logit), leaky ReLU between.
    Mlp,
    /// A deep convolutional GAN (Radford et al. 2016, "DCGAN"), sized for
    /// images whose sides divide by 4: the generator projects the noise to
    /// `128 x H/4 x W/4` (Linear, BatchNorm1d, ReLU) and doubles the size
    /// twice with 4x4 stride-2 transposed convolutions (128 -> 64 with
    /// BatchNorm2d and ReLU, 64 -> C with tanh); the discriminator mirrors it
    /// with 4x4 stride-2 convolutions (C -> 64, leaky ReLU; 64 -> 128,
    /// BatchNorm2d, leaky ReLU) and a linear logit.
    Dcgan,
}

impl std::str::FromStr for GanArch {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mlp" => Ok(GanArch::Mlp),
            "dcgan" => Ok(GanArch::Dcgan),
            _ => Err(format!("unknown GAN architecture '{s}' (expected mlp or dcgan)")),
        }
    }
}

impl std::fmt::Display for GanArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GanArch::Mlp => "mlp",
            GanArch::Dcgan => "dcgan",
        })
    }
}

/// A GAN's shape: architecture, noise size, image shape, conditioning.
///
/// ```
/// use backprop::gan::GanConfig;
/// let c = GanConfig::mlp(100, [1, 28, 28], 10);
/// assert_eq!((c.outputs(), c.generator_inputs(), c.discriminator_inputs()), (784, 100, 784));
/// let c = GanConfig { conditional: true, ..c };
/// assert_eq!((c.generator_inputs(), c.discriminator_inputs()), (110, 794));
/// assert!(GanConfig { latent: 0, ..c }.check().unwrap_err().to_string().contains("latent"));
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GanConfig {
    /// The networks' kind.
    pub arch: GanArch,
    /// Size of the noise vector z (drawn from N(0, 1)).
    pub latent: usize,
    /// The generated images' shape `[channels, height, width]` (a point of
    /// a 2-d toy distribution is `[1, 1, 2]`).
    pub image: [usize; 3],
    /// Classes of the data (what a conditional GAN is conditioned on).
    pub classes: usize,
    /// Conditioned on the class (Mirza & Osindero 2014): the generator reads
    /// `[z, one_hot(y)]`, the discriminator the image with `one_hot(y)`
    /// appended (as constant planes for the DCGAN).
    pub conditional: bool,
    /// Hidden layer sizes of the MLP generator (empty for the DCGAN, whose
    /// layers are fixed; left out of the stored configuration when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generator_hidden: Vec<usize>,
    /// Hidden layer sizes of the MLP discriminator (empty for the DCGAN).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discriminator_hidden: Vec<usize>,
    /// Slope of the leaky ReLUs for negative inputs.
    pub negative_slope: f32,
}

impl GanConfig {
    /// The default MLP GAN: generator `latent -> 256 -> 512 -> 1024 -> C*H*W`
    /// (tanh), discriminator `C*H*W -> 512 -> 256 -> 1`, leaky ReLU 0.2.
    pub fn mlp(latent: usize, image: [usize; 3], classes: usize) -> GanConfig {
        GanConfig {
            arch: GanArch::Mlp,
            latent,
            image,
            classes,
            conditional: false,
            generator_hidden: vec![256, 512, 1024],
            discriminator_hidden: vec![512, 256],
            negative_slope: 0.2,
        }
    }

    /// The default DCGAN for `image` (sides divisible by 4); it has no MLP hidden sizes.
    ///
    /// ```
    /// use backprop::gan::GanConfig;
    /// let c = GanConfig::dcgan(100, [1, 28, 28], 10);
    /// assert!(c.check().is_ok() && c.generator_hidden.is_empty());
    /// let stored = serde_json::to_string(&c).unwrap(); // what the checkpoint keeps
    /// assert!(!stored.contains("hidden"), "{stored}");
    /// assert_eq!(serde_json::from_str::<GanConfig>(&stored).unwrap(), c);
    /// ```
    pub fn dcgan(latent: usize, image: [usize; 3], classes: usize) -> GanConfig {
        let mlp = GanConfig::mlp(latent, image, classes);
        GanConfig { arch: GanArch::Dcgan, generator_hidden: Vec::new(), discriminator_hidden: Vec::new(), ..mlp }
    }

    /// Values per generated image: `C * H * W`.
    pub fn outputs(&self) -> usize {
        self.image.iter().product()
    }

    /// Values per generator input: the latent size, plus the classes when conditional.
    pub fn generator_inputs(&self) -> usize {
        self.latent + if self.conditional { self.classes } else { 0 }
    }

    /// Values per discriminator input (MLP): the image, plus the classes when conditional.
    pub fn discriminator_inputs(&self) -> usize {
        self.outputs() + if self.conditional { self.classes } else { 0 }
    }

    /// Channels the DCGAN discriminator reads: the image's, plus one plane per class when conditional.
    pub fn discriminator_channels(&self) -> usize {
        self.image[0] + if self.conditional { self.classes } else { 0 }
    }

    /// The number of trainable parameters the two networks will have
    /// (`None` if it overflows `usize`), computed without building them, so
    /// that a caller can refuse a GAN too large for the machine first.
    ///
    /// ```
    /// use backprop::gan::GanConfig;
    /// let c = GanConfig::mlp(100, [1, 28, 28], 10);
    /// assert_eq!(c.parameter_count(), Some(1_486_352 + 533_505));
    /// let d = GanConfig::dcgan(100, [1, 28, 28], 10);
    /// assert_eq!(d.parameter_count(), Some(771_969 + 138_689));
    /// ```
    pub fn parameter_count(&self) -> Option<usize> {
        let dense = |sizes: &[usize]| {
            sizes.windows(2).try_fold(0usize, |n, w| n.checked_add(w[0].checked_mul(w[1])?.checked_add(w[1])?))
        };
        match self.arch {
            GanArch::Mlp => {
                let g = [&[self.generator_inputs()][..], &self.generator_hidden, &[self.outputs()]].concat();
                let d = [&[self.discriminator_inputs()][..], &self.discriminator_hidden, &[1]].concat();
                dense(&g)?.checked_add(dense(&d)?)
            }
            GanArch::Dcgan => {
                let [ch, h, w] = self.image;
                let seed = 128usize.checked_mul(h / 4)?.checked_mul(w / 4)?;
                let generator = [
                    self.generator_inputs().checked_mul(seed)?,
                    2 * seed,
                    128 * 64 * 16 + 2 * 64,
                    ch.checked_mul(64 * 16 + 1)?,
                ];
                let discriminator =
                    [self.discriminator_channels().checked_mul(64 * 16)?, 64, 64 * 128 * 16 + 2 * 128, seed + 1];
                generator.iter().chain(&discriminator).try_fold(0usize, |n, &v| n.checked_add(v))
            }
        }
    }

    /// Refuses a configuration no network can be built from.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field: `latent` 0, an empty
    /// image, no classes for a conditional GAN, a zero hidden size, a DCGAN
    /// image whose sides do not divide by 4, sizes that overflow.
    pub fn check(&self) -> Result<()> {
        if self.latent == 0 {
            return Err(Error::invalid("latent", "the noise vector needs at least 1 value, got 0"));
        }
        if self.image.contains(&0) {
            return Err(Error::invalid("image", format!("{:?} has a zero side", self.image)));
        }
        if self.image.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).is_none_or(|n| n > 1 << 24) {
            return Err(Error::invalid("image", format!("{:?} is too large", self.image)));
        }
        if self.latent > 1 << 16 {
            return Err(Error::invalid("latent", format!("{} is too large (at most 65536)", self.latent)));
        }
        if self.conditional && self.classes < 2 {
            return Err(Error::invalid(
                "conditional",
                format!("needs at least 2 classes, the data has {}", self.classes),
            ));
        }
        if self.classes > 1 << 16 {
            return Err(Error::invalid("classes", format!("{} is too many", self.classes)));
        }
        let hidden = self.generator_hidden.iter().chain(&self.discriminator_hidden);
        if hidden.clone().any(|&h| h == 0 || h > 1 << 16) {
            return Err(Error::invalid("hidden", "every hidden layer needs 1 to 65536 units"));
        }
        if self.arch == GanArch::Dcgan && (!self.image[1].is_multiple_of(4) || !self.image[2].is_multiple_of(4)) {
            return Err(Error::invalid(
                "arch",
                format!("the DCGAN needs image sides divisible by 4, got {}x{}", self.image[1], self.image[2]),
            ));
        }
        Ok(())
    }
}
