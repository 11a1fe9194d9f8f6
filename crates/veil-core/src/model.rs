//! The Veil CNN family. Every architecture the trainer offers is a configuration of the types
//! here, and the browser builds the very same module from the configuration stored in a pack.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
    PaddingConfig2d, Relu,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Which network a pack holds. Stored in every pack, so a pack names the code that can run it; a
/// pack naming an architecture this build does not know is refused with the name it asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// Seed S0's "benchmark" net: stride-2 3×3 conv blocks, then one hidden dense layer.
    ConvStack(ConvStackConfig),
}

impl Architecture {
    /// Side of the square RGB image the network takes, in pixels.
    pub fn input_size(&self) -> usize {
        match self {
            Architecture::ConvStack(config) => config.input_size,
        }
    }

    pub fn num_classes(&self) -> usize {
        match self {
            Architecture::ConvStack(config) => config.num_classes,
        }
    }

    pub fn init(&self, device: &Device) -> Cnn {
        match self {
            Architecture::ConvStack(config) => config.init(device),
        }
    }

    /// Checks what would otherwise panic deep inside burn when the module is built.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Architecture::ConvStack(config) => config.validate(),
        }
    }
}

/// `channels.len()` blocks of [Conv 3×3 stride 2 'same' → BatchNorm → ReLU], flatten,
/// Dense(`dense`) → BatchNorm → ReLU → Dropout, Dense(`num_classes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvStackConfig {
    pub input_size: usize,
    pub channels: Vec<usize>,
    pub dense: usize,
    pub dropout: f64,
    pub num_classes: usize,
}

impl ConvStackConfig {
    /// Seed S0's benchmark net (16-32-64-128-256, Dense 1000, dropout .5) at a given input size.
    pub fn s0_benchmark(input_size: usize, num_classes: usize) -> Self {
        Self {
            input_size,
            channels: vec![16, 32, 64, 128, 256],
            dense: 1000,
            dropout: 0.5,
            num_classes,
        }
    }

    /// Side of the feature map after the conv blocks: each stride-2 'same' conv halves it,
    /// rounding up.
    pub fn feature_side(&self) -> usize {
        self.channels
            .iter()
            .fold(self.input_size, |side, _| side.div_ceil(2))
    }

    fn validate(&self) -> Result<(), String> {
        if self.input_size < 8 || self.input_size > 1024 {
            return Err(format!(
                "input_size {} is outside 8..=1024 pixels",
                self.input_size
            ));
        }
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err("channels must list at least one non-zero width".into());
        }
        if self.dense == 0 {
            return Err("dense must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        if self.num_classes < 2 {
            return Err(format!(
                "num_classes is {}: a classifier needs at least two classes",
                self.num_classes
            ));
        }
        Ok(())
    }

    fn init(&self, device: &Device) -> Cnn {
        let widths = std::iter::once(3).chain(self.channels.iter().copied());
        let blocks = widths
            .clone()
            .zip(self.channels.iter().copied())
            .map(|(input, output)| ConvBlock::new(input, output, device))
            .collect();
        let side = self.feature_side();
        let flat = self.channels.last().copied().unwrap_or(3) * side * side;
        Cnn {
            blocks,
            hidden: LinearConfig::new(flat, self.dense)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
            hidden_norm: BatchNormConfig::new(self.dense).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(self.dense, self.num_classes)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
            activation: Relu::new(),
        }
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
    activation: Relu,
}

impl ConvBlock {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            // 'Same' with stride 2 pads bottom/right like Keras, which the seed nets were built in.
            conv: Conv2dConfig::new([input, output], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Same)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
            norm: BatchNormConfig::new(output).init(device),
            activation: Relu::new(),
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        self.activation
            .forward(self.norm.forward(self.conv.forward(input)))
    }
}

/// The network itself. Built only through [`Architecture::init`], so its shape always matches
/// the configuration a pack records.
#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    hidden: Linear,
    hidden_norm: BatchNorm,
    dropout: Dropout,
    output: Linear,
    activation: Relu,
}

impl Cnn {
    /// `images`: `[batch, 3, size, size]` as made by [`crate::preprocess`]. Returns logits
    /// `[batch, num_classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self
            .blocks
            .iter()
            .fold(images, |x, block| block.forward(x))
            .flatten::<2>(1, 3);
        let hidden = self.hidden_norm.forward(self.hidden.forward(features));
        let hidden = self.dropout.forward(self.activation.forward(hidden));
        self.output.forward(hidden)
    }

    /// Class probabilities, `[batch, num_classes]`.
    pub fn probabilities(&self, images: Tensor<4>) -> Tensor<2> {
        burn::tensor::activation::softmax(self.forward(images), 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_side_rounds_up_like_same_padding() {
        let config = ConvStackConfig::s0_benchmark(224, 2);
        assert_eq!(config.feature_side(), 7);
        let odd = ConvStackConfig::s0_benchmark(65, 2);
        // 65 → 33 → 17 → 9 → 5 → 3
        assert_eq!(odd.feature_side(), 3);
    }

    #[test]
    fn forward_gives_one_row_of_probabilities_per_image() {
        let device = Device::flex();
        let config = ConvStackConfig {
            input_size: 33,
            channels: vec![4, 8],
            dense: 6,
            dropout: 0.0,
            num_classes: 3,
        };
        let model = Architecture::ConvStack(config).init(&device);
        let images =
            Tensor::<4>::random([2, 3, 33, 33], burn::tensor::Distribution::Default, &device);
        let probabilities = model.probabilities(images).into_data();
        assert_eq!(probabilities.shape().as_slice(), &[2, 3]);
        let values = probabilities.try_to_vec::<f32>().unwrap();
        for row in values.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
        }
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut config = ConvStackConfig::s0_benchmark(64, 1);
        let message = Architecture::ConvStack(config.clone())
            .validate()
            .unwrap_err();
        assert!(message.contains("num_classes"), "{message}");
        config.num_classes = 2;
        config.dropout = 1.5;
        let message = Architecture::ConvStack(config).validate().unwrap_err();
        assert!(message.contains("dropout"), "{message}");
    }
}
