//! Class activation maps: where the network saw the flagged class in a few test images, for
//! packs on the pretrained backbone.

use std::path::PathBuf;

use burn::prelude::*;
use veil_core::classify::read_rows;
use veil_core::{Cnn, preprocess};

use crate::data::Example;

/// One test image and its class activation map for the flagged class.
pub struct ActivationMap {
    pub path: PathBuf,
    /// The network's input, `[3, side, side]` in [0, 1].
    pub input: Vec<f32>,
    pub side: usize,
    /// `map_side × map_side` contributions to the flagged class's logit.
    pub map: Vec<f32>,
    pub map_side: usize,
    pub flagged_probability: f32,
    pub should_flag: bool,
}

/// Class activation maps of up to four test images that should be flagged and four that
/// should not (in the split's order), for the pack's first flagged output. Empty for a network
/// without the pretrained backbone: its dense layers leave no map to read.
pub fn activation_maps(
    model: &Cnn,
    examples: &[Example],
    scored: &[(f32, bool)],
    flagged: usize,
    size: usize,
    device: &Device,
) -> anyhow::Result<Vec<ActivationMap>> {
    let Some(backbone) = model.backbone() else {
        return Ok(Vec::new());
    };
    let pick = |wanted: bool| {
        examples
            .iter()
            .zip(scored)
            .filter(move |(_, (_, should))| *should == wanted)
            .take(4)
    };
    let chosen: Vec<(&Example, &(f32, bool))> = pick(true).chain(pick(false)).collect();
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let inputs: Vec<Vec<f32>> = chosen.iter().map(|(e, _)| e.input.clone()).collect();
    let maps = backbone.class_activation_maps(preprocess::batch(&inputs, size, device), flagged);
    let [count, height, width] = maps.dims();
    let rows = pollster::block_on(read_rows(maps.reshape([count, height * width])))?;
    Ok(chosen
        .into_iter()
        .zip(rows)
        .map(
            |((example, &(flagged_probability, should_flag)), map)| ActivationMap {
                path: example.path.clone(),
                input: example.input.clone(),
                side: size,
                map,
                map_side: height,
                flagged_probability,
                should_flag,
            },
        )
        .collect())
}
