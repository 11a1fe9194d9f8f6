//! The Veil CNN family. Every architecture the trainer offers is a configuration of the types
//! here, and the browser builds the very same module from the configuration stored in a pack.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
    PaddingConfig2d, Relu,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::efficientnet::{EfficientNetLite0, EfficientNetLite0Config};
use crate::fold;

/// Which network a pack holds. Stored in every pack, so a pack names the code that can run it; a
/// pack naming an architecture this build does not know is refused with the name it asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// Seed S0's "benchmark" net: stride-2 3×3 conv blocks, then one hidden dense layer.
    ConvStack(ConvStackConfig),
    /// Any stack of conv layers (kernel, stride, pooling, dropout each) and dense layers: the
    /// seeds' other nets (S0 v1.0 and v2.0, S1's from-scratch net, S2's VGG- and AlexNet-like).
    Layers(LayersConfig),
    /// The pretrained backbone of seeds S3 and S4, with a head of `num_classes`.
    #[serde(rename = "efficientnet-lite0")]
    EfficientNetLite0(EfficientNetLite0Config),
}

impl Architecture {
    /// The layer-by-layer description the plain conv nets build from; `None` for EfficientNet.
    pub fn layers(&self) -> Option<LayersConfig> {
        match self {
            Architecture::ConvStack(config) => Some(config.layers()),
            Architecture::Layers(config) => Some(config.clone()),
            Architecture::EfficientNetLite0(_) => None,
        }
    }

    /// Side of the square RGB image the network takes, in pixels.
    pub fn input_size(&self) -> usize {
        match self {
            Architecture::ConvStack(config) => config.input_size,
            Architecture::Layers(config) => config.input_size,
            Architecture::EfficientNetLite0(config) => config.input_size,
        }
    }

    /// Which of the features the output layer reads say what a picture shows, for
    /// `crate::user_labels`: on the backbone, the last map's averages, without the style
    /// statistics (a JPEG re-encoding moves those far more than it moves what is in the
    /// picture); the whole vector for the plain conv nets.
    pub fn likeness<'a>(&self, features: &'a [f32]) -> &'a [f32] {
        match self {
            Architecture::EfficientNetLite0(_) => {
                &features[features.len().saturating_sub(crate::efficientnet::FEATURES)..]
            }
            Architecture::ConvStack(_) | Architecture::Layers(_) => features,
        }
    }

    pub fn num_classes(&self) -> usize {
        match self {
            Architecture::ConvStack(config) => config.num_classes,
            Architecture::Layers(config) => config.num_classes,
            Architecture::EfficientNetLite0(config) => config.num_classes,
        }
    }

    pub fn init(&self, device: &Device) -> Cnn {
        match self {
            Architecture::ConvStack(config) => Cnn::Layers(config.layers().init(device)),
            Architecture::Layers(config) => Cnn::Layers(config.init(device)),
            Architecture::EfficientNetLite0(config) => Cnn::EfficientNetLite0(config.init(device)),
        }
    }

    /// Checks what would otherwise panic deep inside burn when the module is built.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Architecture::ConvStack(config) => config.layers().validate(),
            Architecture::Layers(config) => config.validate(),
            Architecture::EfficientNetLite0(config) => config.validate(),
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

    pub fn layers(&self) -> LayersConfig {
        LayersConfig {
            input_size: self.input_size,
            conv: self
                .channels
                .iter()
                .map(|&channels| ConvLayer {
                    channels,
                    kernel: 3,
                    stride: 2,
                    pool: false,
                    dropout: 0.0,
                })
                .collect(),
            hidden: vec![self.dense],
            dropout: self.dropout,
            num_classes: self.num_classes,
        }
    }
}

/// One conv layer: Conv k×k (stride, 'same' padding) → BatchNorm → ReLU, then optionally a 2×2
/// max pool and dropout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvLayer {
    pub channels: usize,
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
    #[serde(default)]
    pub pool: bool,
    #[serde(default)]
    pub dropout: f64,
}

fn one() -> usize {
    1
}

/// `conv` layers, flatten, `hidden` dense layers (each Dense → BatchNorm → ReLU → Dropout
/// `dropout`), then Dense(`num_classes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayersConfig {
    pub input_size: usize,
    pub conv: Vec<ConvLayer>,
    pub hidden: Vec<usize>,
    pub dropout: f64,
    pub num_classes: usize,
}

impl LayersConfig {
    /// Side of the feature map after the conv layers: a stride-s 'same' conv divides it by s,
    /// rounding up; a 2×2 pool halves it, rounding down (Keras' defaults).
    pub fn feature_side(&self) -> usize {
        self.conv.iter().fold(self.input_size, |side, layer| {
            let side = side.div_ceil(layer.stride.max(1));
            if layer.pool { side / 2 } else { side }
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.input_size < 8 || self.input_size > 1024 {
            return Err(format!(
                "input_size {} is outside 8..=1024 pixels",
                self.input_size
            ));
        }
        if self.conv.is_empty() {
            return Err("the network needs at least one conv layer (channels)".into());
        }
        for (index, layer) in self.conv.iter().enumerate() {
            if layer.channels == 0 || layer.kernel == 0 || layer.stride == 0 {
                return Err(format!(
                    "conv layer {}: channels, kernel and stride must be at least 1",
                    index + 1
                ));
            }
            if !(0.0..1.0).contains(&layer.dropout) {
                return Err(format!(
                    "conv layer {}: dropout {} is outside [0, 1)",
                    index + 1,
                    layer.dropout
                ));
            }
        }
        if self.feature_side() == 0 {
            return Err(format!(
                "the conv layers shrink a {} px input to nothing: use a larger input_size or fewer strides and pools",
                self.input_size
            ));
        }
        if self.hidden.contains(&0) {
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

    fn init(&self, device: &Device) -> LayersNet {
        let inputs = std::iter::once(3).chain(self.conv.iter().map(|layer| layer.channels));
        let blocks = inputs
            .zip(&self.conv)
            .map(|(input, layer)| ConvBlock::new(input, layer, device))
            .collect();
        let side = self.feature_side();
        let flat = self.conv.last().map_or(3, |layer| layer.channels) * side * side;
        let widths = std::iter::once(flat).chain(self.hidden.iter().copied());
        let hidden = widths
            .clone()
            .zip(self.hidden.iter().copied())
            .map(|(input, output)| DenseBlock::new(input, output, self.dropout, device))
            .collect();
        let last = widths.last().unwrap_or(flat);
        LayersNet {
            blocks,
            hidden,
            output: LinearConfig::new(last, self.num_classes)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    /// `None` once folded into `conv` (see [`crate::fold`]).
    norm: Option<BatchNorm>,
    activation: Relu,
    pool: Option<MaxPool2d>,
    dropout: Option<Dropout>,
}

impl ConvBlock {
    fn new(input: usize, layer: &ConvLayer, device: &Device) -> Self {
        Self {
            // 'Same' with stride 2 pads bottom/right like Keras, which the seed nets were built in.
            conv: Conv2dConfig::new([input, layer.channels], [layer.kernel, layer.kernel])
                .with_stride([layer.stride, layer.stride])
                .with_padding(PaddingConfig2d::Same)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
            norm: Some(BatchNormConfig::new(layer.channels).init(device)),
            activation: Relu::new(),
            pool: layer.pool.then(|| MaxPool2dConfig::new([2, 2]).init()),
            dropout: (layer.dropout > 0.0).then(|| DropoutConfig::new(layer.dropout).init()),
        }
    }

    fn fold_batch_norm(self) -> Self {
        Self {
            conv: fold::absorbed(self.conv, self.norm.as_ref()),
            norm: None,
            ..self
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = fold::norm_unless_folded(self.norm.as_ref(), self.conv.forward(input));
        let x = self.activation.forward(x);
        let x = match &self.pool {
            Some(pool) => pool.forward(x),
            None => x,
        };
        match &self.dropout {
            Some(dropout) => dropout.forward(x),
            None => x,
        }
    }
}

#[derive(Module, Debug)]
pub struct DenseBlock {
    linear: Linear,
    /// `None` once folded into `linear` (see [`crate::fold`]).
    norm: Option<BatchNorm>,
    activation: Relu,
    dropout: Dropout,
}

impl DenseBlock {
    fn new(input: usize, output: usize, dropout: f64, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(input, output)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
            norm: Some(BatchNormConfig::new(output).init(device)),
            activation: Relu::new(),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    fn fold_batch_norm(self) -> Self {
        Self {
            linear: fold::absorbed(self.linear, self.norm.as_ref()),
            norm: None,
            ..self
        }
    }

    fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let x = fold::norm_unless_folded(self.norm.as_ref(), self.linear.forward(input));
        self.dropout.forward(self.activation.forward(x))
    }
}

/// The network itself. Built only through [`Architecture::init`], so its shape always matches
/// the configuration a pack records.
// One network per loaded pack: the variants' size difference costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Cnn {
    Layers(LayersNet),
    EfficientNetLite0(EfficientNetLite0),
}

impl Cnn {
    /// `images`: `[batch, 3, size, size]` as made by [`crate::preprocess`]. Returns logits
    /// `[batch, num_classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Cnn::Layers(net) => net.forward(images),
            Cnn::EfficientNetLite0(net) => net.forward(images),
        }
    }

    /// Label probabilities, `[batch, num_classes]`.
    pub fn probabilities(&self, images: Tensor<4>, output: Output) -> Tensor<2> {
        output.probabilities(self.forward(images))
    }

    /// What the output layer reads, `[batch, features]`, and the logits it makes of it, in one
    /// pass: the user's labels are matched on those features (`crate::user_labels`).
    pub fn features_and_logits(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        match self {
            Cnn::Layers(net) => {
                let features = net.features(images);
                (features.clone(), net.output.forward(features))
            }
            Cnn::EfficientNetLite0(net) => {
                let features = net.features(images);
                (features.clone(), net.classify(features))
            }
        }
    }

    /// The pretrained backbone, if this network has one.
    pub fn backbone(&self) -> Option<&EfficientNetLite0> {
        match self {
            Cnn::Layers(_) => None,
            Cnn::EfficientNetLite0(net) => Some(net),
        }
    }

    /// Freezes a pretrained backbone but for its last `trainable_blocks` blocks (see
    /// [`EfficientNetLite0::freeze_backbone`]); a network trained from scratch has no backbone
    /// and is returned as it is.
    pub fn freeze_backbone(self, trainable_blocks: usize) -> Self {
        match self {
            Cnn::Layers(net) => Cnn::Layers(net),
            Cnn::EfficientNetLite0(net) => {
                Cnn::EfficientNetLite0(net.freeze_backbone(trainable_blocks))
            }
        }
    }

    /// The same network with every batch norm folded into the layer before it (see
    /// [`crate::fold`]): what judging runs. For judging only: it has no batch norms left to
    /// train, and packs store the unfolded layout.
    pub fn fold_batch_norms(self) -> Self {
        match self {
            Cnn::Layers(net) => Cnn::Layers(LayersNet {
                blocks: net
                    .blocks
                    .into_iter()
                    .map(ConvBlock::fold_batch_norm)
                    .collect(),
                hidden: net
                    .hidden
                    .into_iter()
                    .map(DenseBlock::fold_batch_norm)
                    .collect(),
                ..net
            }),
            Cnn::EfficientNetLite0(net) => Cnn::EfficientNetLite0(net.fold_batch_norms()),
        }
    }

    /// The first conv layer's kernels, `[filters, 3, k, k]`: what the network looks for in raw
    /// pixels (the trainer's report draws them, as seed S1 did).
    pub fn first_layer_filters(&self) -> Tensor<4> {
        match self {
            Cnn::Layers(net) => net.blocks[0].conv.weight.val(),
            Cnn::EfficientNetLite0(net) => net.first_layer_filters(),
        }
    }
}

/// What the network's outputs mean, and so how its logits become probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// One label per image: a softmax over the labels.
    #[default]
    SingleLabel,
    /// Any number of labels per image (seed S1's genres): a sigmoid per label.
    MultiLabel,
}

impl Output {
    pub fn probabilities(self, logits: Tensor<2>) -> Tensor<2> {
        match self {
            Output::SingleLabel => burn::tensor::activation::softmax(logits, 1),
            Output::MultiLabel => burn::tensor::activation::sigmoid(logits),
        }
    }

    /// The probability that an image shows something the filter hides, from one row of
    /// [`Self::probabilities`] and the flagged outputs: their sum when the labels exclude each
    /// other, the largest when each is judged on its own. The trainer chooses thresholds on
    /// exactly this number.
    pub fn flagged_probability(self, row: &[f32], flagged: &[usize]) -> f32 {
        let flagged = flagged.iter().map(|&i| row[i]);
        match self {
            Output::SingleLabel => flagged.sum(),
            Output::MultiLabel => flagged.fold(0.0, f32::max),
        }
    }
}

/// The plain conv nets: conv blocks, dense blocks, the output layer.
#[derive(Module, Debug)]
pub struct LayersNet {
    blocks: Vec<ConvBlock>,
    hidden: Vec<DenseBlock>,
    output: Linear,
}

impl LayersNet {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.output.forward(self.features(images))
    }

    /// The last dense block's output: what the output layer reads.
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self
            .blocks
            .iter()
            .fold(images, |x, block| block.forward(x))
            .flatten::<2>(1, 3);
        self.hidden
            .iter()
            .fold(features, |x, block| block.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::testing::{assert_equal_up_to_rounding, trained_norm};

    #[test]
    fn feature_side_rounds_up_like_same_padding() {
        let config = ConvStackConfig::s0_benchmark(224, 2).layers();
        assert_eq!(config.feature_side(), 7);
        let odd = ConvStackConfig::s0_benchmark(65, 2).layers();
        // 65 → 33 → 17 → 9 → 5 → 3
        assert_eq!(odd.feature_side(), 3);
    }

    fn layer(channels: usize, kernel: usize, stride: usize, pool: bool) -> ConvLayer {
        ConvLayer {
            channels,
            kernel,
            stride,
            pool,
            dropout: 0.25,
        }
    }

    #[test]
    fn pools_halve_rounding_down_and_even_kernels_keep_same_padding() {
        // Seed S0 v1.0's shape: 6×6 s1, 5×5 s2, 4×4 s2, 3×3 s2, each followed by a 2×2 pool.
        let config = LayersConfig {
            input_size: 64,
            conv: vec![
                layer(4, 6, 1, true),
                layer(6, 5, 2, true),
                layer(8, 4, 2, true),
                layer(8, 3, 2, true),
            ],
            hidden: vec![10, 6],
            dropout: 0.5,
            num_classes: 3,
        };
        // 64 → pool 32 → 16 → pool 8 → 4 → pool 2 → 1 → pool 0: one pool too many.
        assert_eq!(config.feature_side(), 0);
        let message = Architecture::Layers(config.clone()).validate().unwrap_err();
        assert!(message.contains("shrink"), "{message}");
        let config = LayersConfig {
            input_size: 96,
            ..config
        };
        // 96 → pool 48 → 24 → pool 12 → 6 → pool 3 → 2 → pool 1
        assert_eq!(config.feature_side(), 1);
        let device = Device::flex();
        let model = Architecture::Layers(config).init(&device);
        let images =
            Tensor::<4>::random([2, 3, 96, 96], burn::tensor::Distribution::Default, &device);
        assert_eq!(
            model.probabilities(images, Output::SingleLabel).dims(),
            [2, 3]
        );
    }

    #[test]
    fn folding_the_batch_norms_keeps_the_logits() {
        let device = Device::flex();
        let config = LayersConfig {
            input_size: 32,
            conv: vec![layer(4, 3, 1, true), layer(6, 3, 2, false)],
            hidden: vec![10, 6],
            dropout: 0.0,
            num_classes: 3,
        };
        let mut net = config.init(&device);
        for block in &mut net.blocks {
            block.norm = block.norm.as_ref().map(trained_norm);
        }
        for block in &mut net.hidden {
            block.norm = block.norm.as_ref().map(trained_norm);
        }
        let model = Cnn::Layers(net);
        let images =
            Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
        let expected = model.forward(images.clone());
        let folded = model.fold_batch_norms();
        let Cnn::Layers(net) = &folded else {
            unreachable!()
        };
        assert!(net.blocks.iter().all(|block| block.norm.is_none()));
        assert!(net.hidden.iter().all(|block| block.norm.is_none()));
        assert_equal_up_to_rounding(expected, folded.forward(images), "layer stack");
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
        let probabilities = model.probabilities(images, Output::SingleLabel).into_data();
        assert_eq!(probabilities.shape().as_slice(), &[2, 3]);
        let values = probabilities.try_to_vec::<f32>().unwrap();
        for row in values.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
        }
    }

    #[test]
    fn single_labels_share_one_distribution_and_multi_labels_are_judged_apart() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data([[2.0, 2.0, -1.0]], &device);
        let row = |output: Output| {
            output
                .probabilities(logits.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let (single, multi) = (row(Output::SingleLabel), row(Output::MultiLabel));
        assert!((single.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((multi[0] - 0.880_797).abs() < 1e-5, "sigmoid(2)");
        // Flagged: labels 0 and 1. Exclusive labels add up; independent ones take the likeliest.
        let flagged = [0, 1];
        assert!(
            (Output::SingleLabel.flagged_probability(&single, &flagged) - (single[0] + single[1]))
                .abs()
                < 1e-6
        );
        assert_eq!(
            Output::MultiLabel.flagged_probability(&multi, &flagged),
            multi[0]
        );
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
