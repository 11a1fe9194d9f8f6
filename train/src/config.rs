//! A training run's every knob, as a TOML recipe (`veil-train train --config recipe.toml`) with
//! command-line flags on top. Unknown keys are errors, so a typo never silently becomes a
//! default; the effective configuration is written into the run folder as `config.toml`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use veil_core::model::{ConvLayer, ConvStackConfig, LayersConfig};
use veil_core::{Architecture, EfficientNetLite0Config, Output, Precision};

use crate::augment::AugmentConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Dataset folder with train/<class>/ and valid/<class>/ (test/<class>/ optional); relative
    /// paths are taken from the directory veil-train runs in.
    pub data: Option<PathBuf>,
    /// Classes whose images the filter hides.
    pub flag: Vec<String>,
    /// Words that turn the filter on in the extension's popup.
    pub keywords: Vec<String>,
    pub name: String,
    pub description: String,
    pub seed: u64,
    /// How the pack stores its weights: `f32`, or `f16` at half the size (what a pretrained
    /// backbone needs to stay a small download). Its thresholds and quality are measured on the
    /// stored weights either way.
    pub precision: Precision,
    pub dataset: DatasetConfig,
    pub model: ModelConfig,
    pub training: LoopConfig,
    pub augment: AugmentConfig,
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    pub early_stopping: EarlyStoppingConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            data: None,
            flag: Vec::new(),
            keywords: Vec::new(),
            name: "Veil filter".into(),
            description: String::new(),
            seed: 42,
            precision: Precision::F32,
            dataset: DatasetConfig::default(),
            model: ModelConfig::default(),
            training: LoopConfig::default(),
            augment: AugmentConfig::default(),
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig::default(),
            early_stopping: EarlyStoppingConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetConfig {
    /// Shares of each class for train, valid and test when `data` holds the class folders
    /// directly (no train/ folder); which file goes where follows a seeded hash of its name.
    pub split: [f64; 3],
    /// Drop images whose perceptual hash is within this many bits (of 64) of an image already
    /// kept, across all splits (seed S2); absent: keep everything.
    pub dedup_distance: Option<u32>,
    /// A CSV of labels, relative to the data folder, for a multi-label dataset (seed S1): a
    /// header `file,<label>,<label>,…` and one row per image with 0 or 1 per label. The images
    /// are split here by `split`; each may carry any number of labels (sigmoid outputs,
    /// binary cross-entropy).
    pub labels: Option<PathBuf>,
    /// What train, valid and test are made of: single files, or whole sources.
    pub split_by: SplitBy,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        Self {
            split: [0.7, 0.15, 0.15],
            dedup_distance: None,
            labels: None,
            split_by: SplitBy::File,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    /// As the folders say (`train/`, `valid/`, `test/`), or by a seeded hash of each file's name.
    #[default]
    File,
    /// Whole sources (the `source` or `package` column of the data folder's `manifest.tsv`),
    /// whatever folder their files are in: validation and test then hold only sources that
    /// training never saw, so the figures measure pictures unlike the training set's, not
    /// siblings of it. Each class's sources go to test, then valid, in a seeded order, as long
    /// as they fit in the split's share of the class's images (the smallest source where none
    /// fits); a source larger than a share stays in training.
    Source,
}

/// The network (`veil_core::Architecture` without the class count, which the dataset decides),
/// told apart by `kind`. Each kind takes only its own keys: a key of another kind is an error
/// that names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// Seed S0's benchmark net: `channels` (stride-2 3×3 convs), one `dense` layer.
    ConvStack(ConvStackModel),
    /// Any conv and dense layers: `[[model.conv]]` entries and `hidden` widths.
    Layers(LayersModel),
    /// The ImageNet-pretrained EfficientNet-Lite0 with a new head (seeds S3 and S4):
    /// `pretrained` weights, `train_blocks` of it unfrozen.
    EfficientnetLite0(EfficientNetModel),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvStackModel {
    /// Side of the square input, in pixels.
    pub input_size: usize,
    /// Output channels of each stride-2 3×3 conv block.
    pub channels: Vec<usize>,
    /// Width of the hidden dense layer (seed S0 used 1000 at 224 px).
    pub dense: usize,
    /// Dropout after the hidden dense layer.
    pub dropout: f64,
}

impl Default for ConvStackModel {
    fn default() -> Self {
        Self {
            input_size: 64,
            channels: vec![16, 32, 64, 128, 256],
            dense: 128,
            dropout: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LayersModel {
    /// Side of the square input, in pixels.
    pub input_size: usize,
    /// Each conv layer (`channels`, `kernel`, `stride`, `pool`, `dropout`).
    pub conv: Vec<ConvLayer>,
    /// Widths of the dense layers before the output.
    pub hidden: Vec<usize>,
    /// Dropout after each hidden dense layer.
    pub dropout: f64,
}

impl Default for LayersModel {
    fn default() -> Self {
        Self {
            input_size: 64,
            conv: Vec::new(),
            hidden: Vec::new(),
            dropout: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EfficientNetModel {
    /// Side of the square input, in pixels.
    pub input_size: usize,
    /// The ImageNet weights (`cargo xtask setup` fetches them here).
    pub pretrained: PathBuf,
    /// How many of its 16 last blocks learn (with the 1×1 head conv after them). 0 freezes the
    /// whole backbone: each image's features are then computed once and only the new classifier
    /// trains (seed S3); 2 is seed S4's fine-tuning.
    pub train_blocks: usize,
    /// The new classifier also reads the mean and spread of every stage's channels (how the
    /// picture is drawn), not only the last features (what is in it).
    pub style_statistics: bool,
    /// Dropout before the new classifier.
    pub dropout: f64,
}

impl Default for EfficientNetModel {
    fn default() -> Self {
        Self {
            input_size: 64,
            pretrained: PathBuf::from(crate::pretrained::EFFICIENTNET_LITE0_WEIGHTS),
            train_blocks: 0,
            style_statistics: false,
            dropout: 0.5,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::ConvStack(ConvStackModel::default())
    }
}

impl ModelConfig {
    pub fn architecture(&self, num_classes: usize) -> Architecture {
        match self {
            Self::ConvStack(model) => Architecture::ConvStack(ConvStackConfig {
                input_size: model.input_size,
                channels: model.channels.clone(),
                dense: model.dense,
                dropout: model.dropout,
                num_classes,
            }),
            Self::Layers(model) => Architecture::Layers(LayersConfig {
                input_size: model.input_size,
                conv: model.conv.clone(),
                hidden: model.hidden.clone(),
                dropout: model.dropout,
                num_classes,
            }),
            Self::EfficientnetLite0(model) => {
                Architecture::EfficientNetLite0(EfficientNetLite0Config {
                    input_size: model.input_size,
                    num_classes,
                    dropout: model.dropout,
                    style_statistics: model.style_statistics,
                })
            }
        }
    }

    /// Side of the square input, in pixels.
    pub fn input_size(&self) -> usize {
        match self {
            Self::ConvStack(model) => model.input_size,
            Self::Layers(model) => model.input_size,
            Self::EfficientnetLite0(model) => model.input_size,
        }
    }

    /// The pretrained backbone's settings, for the kind that has one.
    pub fn backbone(&self) -> Option<&EfficientNetModel> {
        match self {
            Self::EfficientnetLite0(model) => Some(model),
            _ => None,
        }
    }

    /// How many backbone blocks learn (0 for the kinds without a backbone, which train whole).
    pub fn train_blocks(&self) -> usize {
        self.backbone().map_or(0, |model| model.train_blocks)
    }

    /// The command line's `--input-size`, `--dense` and `--dropout` on top of the recipe; a flag
    /// this kind has no such setting for is an error that says which kind takes it.
    pub fn override_with(
        &mut self,
        input_size: Option<usize>,
        dense: Option<usize>,
        dropout: Option<f64>,
    ) -> anyhow::Result<()> {
        let (size, rate) = match self {
            Self::ConvStack(model) => {
                model.dense = dense.unwrap_or(model.dense);
                (&mut model.input_size, &mut model.dropout)
            }
            Self::Layers(model) => (&mut model.input_size, &mut model.dropout),
            Self::EfficientnetLite0(model) => (&mut model.input_size, &mut model.dropout),
        };
        *size = input_size.unwrap_or(*size);
        *rate = dropout.unwrap_or(*rate);
        if dense.is_some() && !matches!(self, Self::ConvStack(_)) {
            bail!(
                "--dense sets the hidden layer of kind = \"conv-stack\"; this recipe's [model] is another kind"
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// The most epochs to run; early stopping may end sooner.
    pub epochs: usize,
    pub batch_size: usize,
    /// What to do about classes of unequal size (seed S1).
    pub balance: Balance,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            epochs: 8,
            batch_size: 16,
            balance: Balance::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Every training image once per epoch, and every class weighs the same per image.
    None,
    /// Weigh each class's loss by how rare it is (total / (classes × class size)).
    Weights,
    /// Repeat the smaller classes' images in each epoch until every class is as large as the
    /// largest (augmentation makes the repeats differ).
    Upsample,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Adamw,
    Sgd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// `adam`, `adamw` or `sgd`.
    pub kind: OptimizerKind,
    pub learning_rate: f64,
    /// L2 penalty (Adam, SGD) or decoupled weight decay (AdamW); 0 for none.
    pub weight_decay: f32,
    /// SGD only.
    pub momentum: f64,
    /// SGD only: Nesterov momentum, as seed S1 trained.
    pub nesterov: bool,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            momentum: 0.9,
            nesterov: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The optimizer's learning rate throughout.
    Constant,
    /// Cosine annealing from the learning rate to `min_lr` over all the run's steps.
    Cosine,
    /// Multiply by `factor` after `patience` epochs without a better validation loss.
    Plateau,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// `constant`, `cosine` or `plateau`.
    pub kind: ScheduleKind,
    pub min_lr: f64,
    /// Plateau only.
    pub factor: f64,
    /// Plateau only, in epochs.
    pub patience: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Constant,
            min_lr: 1e-6,
            factor: 0.1,
            patience: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStoppingConfig {
    /// Stop after this many epochs without a better validation loss; 0 never stops early.
    pub patience: usize,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        Self { patience: 5 }
    }
}

impl RunConfig {
    /// Reads a recipe; errors name the file and, for a typo, the key and where it is.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the config {}", path.display()))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses a recipe's text; `origin` says where it came from in the error.
    pub fn from_toml(text: &str, origin: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|error| {
            anyhow::anyhow!(
                "{origin} is not a valid veil-train config: {}\n(the shipped recipes in recipes/ list every key)",
                error.to_string().trim_end()
            )
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a run config is plain data and serializes")
    }

    /// Checks what would otherwise fail later with a less helpful message.
    /// One label per image (class folders) or any number (a CSV of labels).
    pub fn output(&self) -> Output {
        if self.dataset.labels.is_some() {
            Output::MultiLabel
        } else {
            Output::SingleLabel
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.data.is_none() {
            bail!("no dataset: give --data DIR or `data = \"DIR\"` in the config");
        }
        if self.flag.is_empty() {
            bail!("no class to hide: give --flag CLASS or `flag = [\"CLASS\"]` in the config");
        }
        let [train, valid, test] = self.dataset.split;
        if [train, valid, test]
            .iter()
            .any(|share| !(0.0..=1.0).contains(share))
            || train <= 0.0
            || valid <= 0.0
            || (train + valid + test - 1.0).abs() > 1e-6
        {
            bail!(
                "dataset.split {:?} must be three shares (train, valid, test) that add up to 1, with train and valid above 0",
                self.dataset.split
            );
        }
        match &self.model {
            ModelConfig::Layers(model) if model.conv.is_empty() => bail!(
                "model.kind = \"layers\" needs its conv layers: add [[model.conv]] tables (channels, kernel, stride, pool, dropout)"
            ),
            ModelConfig::EfficientnetLite0(model) if model.train_blocks > 16 => bail!(
                "model.train_blocks = {}: EfficientNet-Lite0 has 16 blocks (0 trains only the new classifier)",
                model.train_blocks
            ),
            _ => {}
        }
        if self.dataset.labels.is_some() && self.dataset.split_by == SplitBy::Source {
            bail!(
                "dataset.split_by = \"source\" divides class folders by their manifest; a CSV of labels is split by file (split_by = \"file\")"
            );
        }
        if self.dataset.labels.is_some() && self.training.balance == Balance::Upsample {
            bail!(
                "training.balance = \"upsample\" repeats each class's images, which needs one class per image; with a CSV of labels use balance = \"weights\""
            );
        }
        if self.training.epochs == 0 {
            bail!("training.epochs is 0: train for at least one epoch");
        }
        if !(self.optimizer.learning_rate >= 0.0 && self.optimizer.learning_rate <= 1.0) {
            bail!(
                "optimizer.learning_rate {} is outside [0, 1]",
                self.optimizer.learning_rate
            );
        }
        if self.schedule.kind == ScheduleKind::Plateau
            && !(0.0..1.0).contains(&self.schedule.factor)
        {
            bail!(
                "schedule.factor {} must be in [0, 1): it multiplies the learning rate on a plateau",
                self.schedule.factor
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> anyhow::Result<RunConfig> {
        let path = std::env::temp_dir().join(format!("veil-config-{name}.toml"));
        fs::write(&path, text)?;
        RunConfig::from_file(&path)
    }

    #[test]
    fn every_shipped_recipe_parses_and_validates() {
        let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes");
        let mut seen = 0;
        for entry in fs::read_dir(&recipes).unwrap() {
            let path = entry.unwrap().path();
            let config = RunConfig::from_file(&path).unwrap();
            config
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                toml::from_str::<RunConfig>(&config.to_toml()).unwrap(),
                config
            );
            seen += 1;
        }
        assert!(seen >= 2, "recipes/ holds the shipped recipes");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_table() {
        let error =
            parse("typo", "[optimizer]\nkind = \"adam\"\nlearnig_rate = 0.1\n").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("learnig_rate"), "{message}");
        assert!(
            message.contains("not a valid veil-train config"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_optimizer_lists_the_known_ones() {
        let message = parse("optimizer", "[optimizer]\nkind = \"adamm\"\n")
            .unwrap_err()
            .to_string();
        for known in ["adam", "adamw", "sgd"] {
            assert!(message.contains(known), "{message}");
        }
    }

    #[test]
    fn missing_keys_take_the_defaults() {
        let config = parse(
            "defaults",
            "flag = [\"show\"]\ndata = \"d\"\n[training]\nepochs = 3\n",
        )
        .unwrap();
        assert_eq!(config.training.epochs, 3);
        assert_eq!(config.training.batch_size, LoopConfig::default().batch_size);
        assert_eq!(config.optimizer, OptimizerConfig::default());
        config.validate().unwrap();
    }

    #[test]
    fn validation_names_the_missing_piece() {
        let message = RunConfig::default().validate().unwrap_err().to_string();
        assert!(message.contains("--data"), "{message}");
        let no_flag = RunConfig {
            data: Some("d".into()),
            ..RunConfig::default()
        };
        assert!(
            no_flag
                .validate()
                .unwrap_err()
                .to_string()
                .contains("--flag")
        );
    }

    #[test]
    fn a_key_of_another_kind_of_network_is_named() {
        let text = "flag = [\"show\"]\ndata = \"d\"\n[model]\nstyle_statistics = true\n";
        for kind in ["conv-stack", "layers"] {
            let message = parse("style", &format!("{text}kind = \"{kind}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(message.contains("style_statistics"), "{message}");
        }
        let message = parse(
            "hidden",
            "[model]\nkind = \"efficientnet-lite0\"\nhidden = [64]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(message.contains("hidden"), "{message}");
        let backbone = parse(
            "style-backbone",
            &format!("{text}kind = \"efficientnet-lite0\"\n"),
        );
        backbone.unwrap().validate().unwrap();
    }

    #[test]
    fn a_model_without_a_kind_lists_the_kinds() {
        let message = parse("no-kind", "[model]\ninput_size = 32\n")
            .unwrap_err()
            .to_string();
        assert!(message.contains("kind"), "{message}");
    }

    #[test]
    fn dense_from_the_command_line_applies_to_the_conv_stack_only() {
        let mut stack = ModelConfig::default();
        stack.override_with(Some(48), Some(32), None).unwrap();
        assert_eq!(stack.input_size(), 48);
        assert!(matches!(
            stack,
            ModelConfig::ConvStack(ConvStackModel { dense: 32, .. })
        ));
        let mut backbone = ModelConfig::EfficientnetLite0(EfficientNetModel::default());
        let message = backbone
            .override_with(None, Some(32), None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("conv-stack"), "{message}");
    }
}
