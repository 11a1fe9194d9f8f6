//! EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant for mobile and browsers: ReLU6, no
//! squeeze-excite, fixed stem and head), the pretrained backbone of seeds S3 and S4. Its layout
//! follows the published ImageNet weights so they load one tensor per parameter: TF-style
//! 'same' padding (asymmetric for stride 2), BatchNorm ε = 10⁻³, inputs scaled to
//! (pixel − 127) / 128.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
    PaddingConfig2d,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fold;

/// Width of the last feature map, pooled: what the ImageNet classifier reads.
pub const FEATURES: usize = 1280;
/// Width of the style statistics: the mean and standard deviation of every stage's output
/// channels (16 + 24 + 40 + 80 + 112 + 192 + 320 channels, twice).
pub const STYLE_FEATURES: usize = 2 * 784;

/// Its seven stages: (repeats, kernel, first stride, expansion, output channels).
const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
];
const STEM: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficientNetLite0Config {
    /// Side of the square input; the network pools globally, so any size from 32 px works, but
    /// the ImageNet weights were trained at 224.
    #[serde(default = "imagenet_size")]
    pub input_size: usize,
    pub num_classes: usize,
    /// Dropout before the classifier (0.2 in the original).
    #[serde(default = "imagenet_dropout")]
    pub dropout: f64,
    /// The classifier also reads [`STYLE_FEATURES`]: the last feature map says what is in the
    /// picture, the earlier stages' statistics how it is drawn (painted art against photos),
    /// which the last map alone separates worse.
    #[serde(default)]
    pub style_statistics: bool,
}

fn imagenet_size() -> usize {
    224
}

fn imagenet_dropout() -> f64 {
    0.2
}

impl EfficientNetLite0Config {
    pub fn new(num_classes: usize) -> Self {
        Self {
            input_size: imagenet_size(),
            num_classes,
            dropout: imagenet_dropout(),
            style_statistics: false,
        }
    }

    /// Width of what [`EfficientNetLite0::features`] returns.
    pub fn num_features(&self) -> usize {
        if self.style_statistics {
            FEATURES + STYLE_FEATURES
        } else {
            FEATURES
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(32..=1024).contains(&self.input_size) {
            return Err(format!(
                "input_size {} is outside 32..=1024 pixels (EfficientNet-Lite0 halves it five times)",
                self.input_size
            ));
        }
        if self.num_classes < 2 {
            return Err(format!(
                "num_classes is {}: a classifier needs at least two classes",
                self.num_classes
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> EfficientNetLite0 {
        let mut blocks = Vec::new();
        let mut input = STEM;
        for (repeats, kernel, stride, expansion, output) in STAGES {
            for repeat in 0..repeats {
                let stride = if repeat == 0 { stride } else { 1 };
                blocks.push(InvertedResidual::new(
                    input, output, kernel, stride, expansion, device,
                ));
                input = output;
            }
        }
        EfficientNetLite0 {
            stem: ConvNorm::new(3, STEM, 3, 2, 1, device),
            blocks,
            head: ConvNorm::new(input, FEATURES, 1, 1, 1, device),
            style_statistics: self.style_statistics,
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: LinearConfig::new(self.num_features(), self.num_classes)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device),
        }
    }
}

/// Conv (no bias, 'same') → BatchNorm; `groups` = channels makes it depthwise.
#[derive(Module, Debug)]
pub struct ConvNorm {
    conv: Conv2d,
    /// `None` once folded into `conv` (see [`crate::fold`]).
    norm: Option<BatchNorm>,
}

impl ConvNorm {
    fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        Self {
            conv: Conv2dConfig::new([input, output], [kernel, kernel])
                .with_stride([stride, stride])
                .with_groups(groups)
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .with_initializer(Initializer::KaimingNormal {
                    gain: 2.0_f64.sqrt(),
                    fan_out_only: true,
                })
                .init(device),
            // The published weights' ε, and TF's momentum 0.99 (0.01 in burn's convention).
            norm: Some(
                BatchNormConfig::new(output)
                    .with_epsilon(1e-3)
                    .with_momentum(0.01)
                    .init(device),
            ),
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        fold::norm_unless_folded(self.norm.as_ref(), self.conv.forward(input))
    }

    fn fold_batch_norm(self) -> Self {
        Self {
            conv: fold::absorbed(self.conv, self.norm.as_ref()),
            norm: None,
        }
    }
}

/// Global average pooling, `[batch, channels]`.
fn average(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([batch, channels])
}

fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

/// MobileNetV2's block: 1×1 expansion (absent when the expansion is 1), depthwise k×k, 1×1
/// projection, and a skip connection where the shape allows.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvNorm>,
    depthwise: ConvNorm,
    project: ConvNorm,
    skip: bool,
}

impl InvertedResidual {
    fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        expansion: usize,
        device: &Device,
    ) -> Self {
        let hidden = input * expansion;
        Self {
            expand: (expansion != 1).then(|| ConvNorm::new(input, hidden, 1, 1, 1, device)),
            depthwise: ConvNorm::new(hidden, hidden, kernel, stride, hidden, device),
            project: ConvNorm::new(hidden, output, 1, 1, 1, device),
            skip: stride == 1 && input == output,
        }
    }

    fn fold_batch_norms(self) -> Self {
        Self {
            expand: self.expand.map(ConvNorm::fold_batch_norm),
            depthwise: self.depthwise.fold_batch_norm(),
            project: self.project.fold_batch_norm(),
            ..self
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => relu6(expand.forward(input.clone())),
            None => input.clone(),
        };
        let x = self.project.forward(relu6(self.depthwise.forward(x)));
        if self.skip { x + input } else { x }
    }
}

#[derive(Module, Debug)]
pub struct EfficientNetLite0 {
    stem: ConvNorm,
    blocks: Vec<InvertedResidual>,
    head: ConvNorm,
    /// See [`EfficientNetLite0Config::style_statistics`].
    #[module(skip)]
    style_statistics: bool,
    dropout: Dropout,
    classifier: Linear,
}

impl EfficientNetLite0 {
    /// Globally pooled features of images in [0, 1] (as [`crate::preprocess`] makes them),
    /// `[batch, num_features]`: the last feature map's averages (`FEATURES`), after the style
    /// statistics when the config asks for them.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        if !self.style_statistics {
            return average(self.feature_map(images));
        }
        let mut pooled = Vec::with_capacity(2 * STAGES.len() + 1);
        let mut x = self.stem_map(images);
        let mut blocks = self.blocks.iter();
        for (repeats, ..) in STAGES {
            x = blocks
                .by_ref()
                .take(repeats)
                .fold(x, |x, block| block.forward(x));
            let [batch, channels, height, width] = x.dims();
            let flat = x.clone().reshape([batch, channels, height * width]);
            let (variance, mean) = flat.var_mean_bias(2);
            pooled.push(mean.reshape([batch, channels]));
            // The ε keeps the square root's gradient finite on a constant channel.
            pooled.push(variance.add_scalar(1e-6).sqrt().reshape([batch, channels]));
        }
        pooled.push(average(relu6(self.head.forward(x))));
        Tensor::cat(pooled, 1)
    }

    /// The stem's output: the input scaled as the weights were trained, then the first conv.
    fn stem_map(&self, images: Tensor<4>) -> Tensor<4> {
        // The weights were trained on (pixel − 127) / 128 with pixels in 0..=255.
        let x = images.mul_scalar(255.0 / 128.0).sub_scalar(127.0 / 128.0);
        relu6(self.stem.forward(x))
    }

    /// The last feature map before pooling, `[batch, FEATURES, side / 32, side / 32]`.
    fn feature_map(&self, images: Tensor<4>) -> Tensor<4> {
        let x = self.stem_map(images);
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        relu6(self.head.forward(x))
    }

    /// Class activation maps (Zhou et al., 2016; seed S4's heat maps): how much each place of
    /// each image adds to `class`'s logit, `[batch, side / 32, side / 32]`, through the last
    /// feature map. That is the whole logit less its bias without style statistics; with them,
    /// the part the statistics add has no place and is left out.
    pub fn class_activation_maps(&self, images: Tensor<4>, class: usize) -> Tensor<3> {
        let map = self.feature_map(images);
        let [batch, channels, height, width] = map.dims();
        // Linear's weight is [inputs, outputs]: column `class` weighs each feature, and the
        // last feature map's averages are the last `channels` inputs.
        let inputs = self.classifier.weight.dims()[0];
        let weights = self
            .classifier
            .weight
            .val()
            .slice([inputs - channels..inputs, class..class + 1])
            .reshape([1, channels, 1, 1]);
        (map * weights).sum_dim(1).reshape([batch, height, width])
    }

    /// Logits, `[batch, num_classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classify(self.features(images))
    }

    /// The classifier alone, on features from [`Self::features`]: with a frozen backbone the
    /// trainer computes those once per image (seed S3's "bottlenecks") and trains only this.
    pub fn classify(&self, features: Tensor<2>) -> Tensor<2> {
        self.classifier.forward(self.dropout.forward(features))
    }

    /// Freezes the backbone except its last `trainable_blocks` inverted-residual blocks (and,
    /// when there are any, the 1×1 head conv after them): only the classifier and those learn,
    /// and the frozen BatchNorms keep their ImageNet statistics.
    pub fn freeze_backbone(self, trainable_blocks: usize) -> Self {
        let first_trainable = self.blocks.len().saturating_sub(trainable_blocks);
        Self {
            stem: self.stem.freeze(),
            blocks: self
                .blocks
                .into_iter()
                .enumerate()
                .map(|(index, block)| {
                    if index < first_trainable {
                        block.freeze()
                    } else {
                        block
                    }
                })
                .collect(),
            head: if trainable_blocks == 0 {
                self.head.freeze()
            } else {
                self.head
            },
            ..self
        }
    }

    /// The same network with every batch norm folded into its convolution (see [`fold`]). For
    /// judging only: it has no batch norms left to train, and packs store the unfolded layout.
    pub fn fold_batch_norms(self) -> Self {
        Self {
            stem: self.stem.fold_batch_norm(),
            blocks: self
                .blocks
                .into_iter()
                .map(InvertedResidual::fold_batch_norms)
                .collect(),
            head: self.head.fold_batch_norm(),
            ..self
        }
    }

    /// Inverted-residual blocks in the backbone.
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// The stem's kernels, `[32, 3, 3, 3]`.
    pub fn first_layer_filters(&self) -> Tensor<4> {
        self.stem.conv.weight.val()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::testing::{assert_equal_up_to_rounding, assert_within, trained_norm};

    #[test]
    fn has_the_published_shape() {
        let device = Device::flex();
        let model = EfficientNetLite0Config::new(1000).init(&device);
        // The ImageNet weights' tensors hold 4,694,024 numbers (BatchNorm statistics included).
        assert_eq!(model.num_params(), 4_694_024);
        assert_eq!(model.blocks.len(), 16);
        let images = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        assert_eq!(model.features(images.clone()).dims(), [2, FEATURES]);
        assert_eq!(model.forward(images).dims(), [2, 1000]);
    }

    #[test]
    fn folding_the_batch_norms_keeps_the_logits() {
        let device = Device::flex();
        let config = EfficientNetLite0Config {
            style_statistics: true,
            ..EfficientNetLite0Config::new(2)
        };
        let mut model = config.init(&device);
        let train = |layer: &mut ConvNorm| layer.norm = layer.norm.as_ref().map(trained_norm);
        train(&mut model.stem);
        train(&mut model.head);
        for block in &mut model.blocks {
            block.expand.iter_mut().for_each(train);
            train(&mut block.depthwise);
            train(&mut block.project);
        }
        let images =
            Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &device);
        let expected = model.forward(images.clone());
        let folded = model.fold_batch_norms();
        assert!(folded.stem.norm.is_none() && folded.blocks[15].project.norm.is_none());
        assert_equal_up_to_rounding(expected, folded.forward(images), "EfficientNet-Lite0");
    }

    #[test]
    fn style_statistics_are_each_stages_channel_means_and_spreads() {
        let device = Device::flex();
        let plain = EfficientNetLite0Config::new(2).init(&device);
        let config = EfficientNetLite0Config {
            style_statistics: true,
            ..EfficientNetLite0Config::new(2)
        };
        // The same weights (the style statistics add no parameters to the backbone).
        let styled = EfficientNetLite0 {
            style_statistics: true,
            classifier: LinearConfig::new(config.num_features(), 2).init(&device),
            ..plain.clone()
        };
        let images =
            Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &device);
        let features = styled.features(images.clone());
        assert_eq!(features.dims(), [2, FEATURES + STYLE_FEATURES]);
        // Equal up to the rounding of a different summation order: within 1e-5 of the largest
        // value (f32 rounding is about 1e-7 of it; a wrong column is off by whole units).
        // The last FEATURES columns are the plain network's features.
        assert_within(
            plain.features(images.clone()),
            features
                .clone()
                .slice([0..2, STYLE_FEATURES..STYLE_FEATURES + FEATURES]),
            1e-5,
            "features",
        );
        // The first 16 columns are the first stage's channel means.
        let stage = plain.blocks[0].forward(plain.stem_map(images.clone()));
        let means = stage.mean_dim(3).mean_dim(2).reshape([2, 16]);
        assert_within(means, features.clone().slice([0..2, 0..16]), 1e-5, "means");
        // Spreads are never negative.
        let spreads = features.slice([0..2, 16..32]);
        assert!(spreads.min().into_scalar::<f32>() > 0.0);
        assert_eq!(styled.forward(images).dims(), [2, 2]);
    }

    #[test]
    fn a_frozen_backbone_learns_only_its_last_blocks_and_keeps_its_statistics() {
        let device = Device::flex().autodiff();
        let model = EfficientNetLite0Config::new(2)
            .init(&device)
            .freeze_backbone(1);
        assert!(!model.stem.conv.weight.is_require_grad());
        assert!(!model.blocks[14].depthwise.conv.weight.is_require_grad());
        assert!(model.blocks[15].depthwise.conv.weight.is_require_grad());
        assert!(model.head.conv.weight.is_require_grad());
        assert!(model.classifier.weight.is_require_grad());
        // The sum of the running means, read after any pending update.
        let mean = |norm: &BatchNorm| norm.running_mean.value_sync().sum().into_scalar::<f32>();
        let (stem_before, last_before) = (
            mean(model.stem.norm.as_ref().unwrap()),
            mean(model.head.norm.as_ref().unwrap()),
        );
        let images =
            Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &device);
        let _ = model.forward(images);
        assert_eq!(
            mean(model.stem.norm.as_ref().unwrap()),
            stem_before,
            "a frozen BatchNorm keeps ImageNet's statistics"
        );
        assert_ne!(
            mean(model.head.norm.as_ref().unwrap()),
            last_before,
            "a trainable one learns the new images'"
        );
        let frozen = EfficientNetLite0Config::new(2)
            .init(&device)
            .freeze_backbone(0);
        assert!(!frozen.head.conv.weight.is_require_grad());
        assert!(frozen.classifier.weight.is_require_grad());
    }

    #[test]
    fn class_activation_maps_average_to_the_logit_without_its_bias() {
        let device = Device::flex();
        let model = EfficientNetLite0Config::new(3).init(&device);
        let images =
            Tensor::<4>::random([2, 3, 96, 96], burn::tensor::Distribution::Default, &device);
        let maps = model.class_activation_maps(images.clone(), 2);
        assert_eq!(maps.dims(), [2, 3, 3]);
        let bias = model.classifier.bias.as_ref().unwrap().val().slice(2..3);
        let logits = model.forward(images).slice([0..2, 2..3]).reshape([2]) - bias;
        let averaged = maps.mean_dim(2).mean_dim(1).reshape([2]);
        let difference = (averaged - logits).abs().max().into_scalar::<f32>();
        assert!(difference < 1e-4, "{difference}");
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut config = EfficientNetLite0Config::new(2);
        config.input_size = 16;
        assert!(config.validate().unwrap_err().contains("input_size"));
        let config = EfficientNetLite0Config::new(1);
        assert!(config.validate().unwrap_err().contains("num_classes"));
    }
}
