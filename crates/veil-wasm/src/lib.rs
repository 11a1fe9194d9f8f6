//! The JavaScript face of Veil: the playground page and the extension load a filter pack and
//! judge images through [`VeilFilter`]. All logic lives in `veil-core`; this crate only chooses
//! the backend and converts between JavaScript and Rust values.

mod backend;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use image::RgbaImage;
use js_sys::{Array, Float32Array, Promise, Uint8Array};
use serde::Serialize;
use veil_core::label_export::{self, LabelledPicture};
use veil_core::operating_points::Strictness;
use veil_core::{
    Classifier, FilterPack, KeywordSet, Mark, Prepared, UserLabels, Verdict, preprocess,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

pub use backend::BackendChoice;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// One verdict as JavaScript sees it: `{label, probability, flaggedProbability, flagged,
/// scores, backend, ms}`.
#[derive(Serialize)]
struct Judgement<'a> {
    #[serde(flatten)]
    verdict: Verdict,
    backend: &'a str,
    /// Wall time of the whole batch this image was judged in (decode, resize, network).
    ms: f64,
}

struct Loaded {
    classifier: Classifier,
    backend: backend::Selected,
    /// The batch `prepareBatch` made ready, by content key, until `judgePrepared` judges it.
    prepared: RefCell<HashMap<String, Prepared>>,
    /// The user's labels for this pack (`setLabels`), which every verdict then follows.
    labels: RefCell<Rc<UserLabels>>,
}

/// A filter pack loaded on a backend, ready to judge images.
#[wasm_bindgen]
pub struct VeilFilter {
    loaded: Rc<Loaded>,
}

#[wasm_bindgen]
impl VeilFilter {
    /// Verifies and loads a pack. `backend` is `"auto"` (WebGPU, falling back to the CPU when
    /// WebGPU is missing, in software or broken), `"webgpu"` (fail instead of falling back) or
    /// `"cpu"`. Pages load filters through `veil.js`, which picks the module for the backend.
    pub async fn load(pack: Vec<u8>, backend: String) -> Result<VeilFilter, JsError> {
        let choice: BackendChoice = backend.parse().map_err(|e: String| JsError::new(&e))?;
        let pack = FilterPack::from_bytes(&pack).map_err(to_js)?;
        pack.check_weights_within(veil_core::pack::BROWSER_WEIGHTS_LIMIT)
            .map_err(to_js)?;
        let backend = backend::select(choice)
            .await
            .map_err(|e| JsError::new(&e))?;
        let classifier = Classifier::new(&pack, &backend.device).map_err(to_js)?;
        Ok(VeilFilter {
            loaded: Rc::new(Loaded {
                classifier,
                backend,
                prepared: RefCell::default(),
                labels: RefCell::default(),
            }),
        })
    }

    /// `"webgpu"` or `"cpu"`: where this filter runs.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.loaded.backend.name.to_string()
    }

    /// `"webgpu"` or `"cpu"`: which of Veil's two modules this filter was loaded in.
    #[wasm_bindgen(getter)]
    pub fn module(&self) -> String {
        backend::MODULE.to_string()
    }

    /// Why `"auto"` ended on the CPU, if it did.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.loaded.backend.fallback_reason.clone()
    }

    /// The pack's metadata: name, labels, keywords, operating points, training summary.
    pub fn metadata(&self) -> Result<JsValue, JsError> {
        to_value(self.loaded.classifier.metadata())
    }

    /// Judges raw RGBA pixels (a canvas `ImageData`'s `data`). Resolves to one verdict.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub fn classify_rgba(
        &self,
        width: u32,
        height: u32,
        rgba: Vec<u8>,
        strictness: Option<String>,
    ) -> Promise {
        let image = preprocess::from_rgba(width, height, rgba);
        self.judge_one(image, strictness)
    }

    /// Judges an encoded image (PNG, JPEG, WebP, GIF). Resolves to one verdict.
    #[wasm_bindgen(js_name = classifyEncoded)]
    pub fn classify_encoded(&self, bytes: Vec<u8>, strictness: Option<String>) -> Promise {
        let image = preprocess::decode(&bytes);
        self.judge_one(image, strictness)
    }

    /// Judges many encoded images in one forward pass. Resolves to an array with, for each
    /// input, a verdict or `{error}` (one bad image does not spoil the batch).
    #[wasm_bindgen(js_name = classifyBatch)]
    pub fn classify_batch(&self, images: Array, strictness: Option<String>) -> Promise {
        let classifier = &self.loaded.classifier;
        let prepared = decode_all(&images)
            .into_iter()
            .map(|image| image.map(|image| classifier.prepare(&image)))
            .collect();
        judge_all(Rc::clone(&self.loaded), prepared, strictness)
    }

    /// Decodes encoded images and makes them the network's input without judging them.
    /// Returns, for each, `{key}` (its content key: the same picture under any URL has the same
    /// one) or `{error}`; the inputs wait for [`VeilFilter::judge_prepared`]. Replaces the
    /// batch prepared before, if it was never judged.
    #[wasm_bindgen(js_name = prepareBatch)]
    pub fn prepare_batch(&self, images: Array) -> Result<Array, JsError> {
        let mut prepared = HashMap::new();
        let results = Array::new();
        for item in decode_all(&images) {
            let value = match item {
                Ok(image) => {
                    let ready = self.loaded.classifier.prepare(&image);
                    let value = to_value(&KeyEntry { key: &ready.key })?;
                    prepared.insert(ready.key.clone(), ready);
                    value
                }
                Err(message) => to_value(&ErrorEntry { error: &message })?,
            };
            results.push(&value);
        }
        *self.loaded.prepared.borrow_mut() = prepared;
        Ok(results)
    }

    /// Judges the prepared images with these content keys in one forward pass, and forgets
    /// the prepared batch. Resolves to a verdict or `{error}` per key.
    #[wasm_bindgen(js_name = judgePrepared)]
    pub fn judge_prepared(&self, keys: Vec<String>, strictness: Option<String>) -> Promise {
        let mut ready = self.loaded.prepared.take();
        let prepared = keys
            .iter()
            .map(|key| {
                ready.remove(key).ok_or_else(|| {
                    "this image was not prepared for judging (a newer batch replaced it)"
                        .to_string()
                })
            })
            .collect();
        judge_all(Rc::clone(&self.loaded), prepared, strictness)
    }
}

#[wasm_bindgen]
impl VeilFilter {
    /// Sets the user's labels, which every later verdict follows where a labelled picture is
    /// near (`veil_core::user_labels`): `marks[i]` is `"hide"` or `"show"`, and `features`
    /// holds their feature vectors (from [`VeilFilter::features_of`] on this pack) end to end.
    #[wasm_bindgen(js_name = setLabels)]
    pub fn set_labels(&self, marks: Vec<String>, features: Vec<f32>) -> Result<(), JsError> {
        let marks = marks
            .iter()
            .map(|mark| mark.parse::<Mark>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| JsError::new(&e))?;
        let labels = self
            .loaded
            .classifier
            .labels(marks, &features)
            .map_err(to_js)?;
        *self.loaded.labels.borrow_mut() = Rc::new(labels);
        Ok(())
    }

    /// The feature vector this pack's output layer reads for each encoded image: what a label
    /// on it keeps. Resolves to an array with a `Float32Array` or `{error}` per image.
    #[wasm_bindgen(js_name = featuresOf)]
    pub fn features_of(&self, images: Array) -> Promise {
        let loaded = Rc::clone(&self.loaded);
        let items: Vec<Result<Prepared, String>> = decode_all(&images)
            .into_iter()
            .map(|image| image.map(|image| loaded.classifier.prepare(&image)))
            .collect();
        future_to_promise(async move {
            let ready: Vec<&Prepared> =
                items.iter().filter_map(|item| item.as_ref().ok()).collect();
            let mut features = loaded
                .classifier
                .features(&ready)
                .await
                .map_err(to_js)?
                .into_iter();
            let results = Array::new();
            for item in &items {
                let value: JsValue = match item {
                    Ok(_) => {
                        Float32Array::from(features.next().expect("one row per image").as_slice())
                            .into()
                    }
                    Err(message) => to_value(&ErrorEntry { error: message })?,
                };
                results.push(&value);
            }
            Ok(results.into())
        })
    }
}

/// Judges the prepared images in one forward pass. Resolves to an array with a verdict, or the
/// `{error}` an item already had, for each item.
fn judge_all(
    loaded: Rc<Loaded>,
    items: Vec<Result<Prepared, String>>,
    strictness: Option<String>,
) -> Promise {
    future_to_promise(async move {
        let strictness = parse_strictness(strictness)?;
        let started = now_ms();
        let ready: Vec<&Prepared> = items.iter().filter_map(|item| item.as_ref().ok()).collect();
        let labels = Rc::clone(&loaded.labels.borrow());
        let mut verdicts = loaded
            .classifier
            .classify_prepared(&ready, strictness, &labels)
            .await
            .map_err(to_js)?
            .into_iter();
        let ms = now_ms() - started;
        let results = Array::new();
        for item in &items {
            let value = match item {
                Ok(_) => judgement(&loaded, verdicts.next().expect("one verdict per image"), ms)?,
                Err(message) => to_value(&ErrorEntry { error: message })?,
            };
            results.push(&value);
        }
        Ok(results.into())
    })
}

/// Each item of `images` (a `Uint8Array` of an encoded image) decoded, or why not.
fn decode_all(images: &Array) -> Vec<Result<RgbaImage, String>> {
    images
        .iter()
        .map(|value| {
            let bytes = value
                .dyn_into::<Uint8Array>()
                .map_err(|_| "each batch item must be a Uint8Array".to_string())?;
            preprocess::decode(&bytes.to_vec()).map_err(|e| e.to_string())
        })
        .collect()
}

/// Why this browser should judge on the CPU (no WebGPU, no adapter, a software adapter), or
/// `undefined` where its adapter is worth fetching the WebGPU module for.
#[wasm_bindgen(js_name = webgpuAdvice)]
pub async fn webgpu_advice() -> Option<String> {
    backend::webgpu_advice().await
}

/// The user's labelled pictures as a zip `veil-train train --data` reads once unpacked (see
/// `veil_core::label_export`): `marks[i]` (`"hide"` or `"show"`) and `urls[i]` say what the user
/// said of `pictures[i]`, a `Uint8Array` of its file.
#[wasm_bindgen(js_name = labelsDataset)]
pub fn labels_dataset(
    marks: Vec<String>,
    urls: Vec<String>,
    pictures: Array,
) -> Result<Uint8Array, JsError> {
    let pictures: Vec<Vec<u8>> = pictures
        .iter()
        .map(|value| value.dyn_into::<Uint8Array>().map(|bytes| bytes.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| JsError::new("each labelled picture must be a Uint8Array"))?;
    if marks.len() != urls.len() || marks.len() != pictures.len() {
        return Err(JsError::new("labelsDataset needs one mark and one URL per picture"));
    }
    let labelled = marks
        .iter()
        .zip(&urls)
        .zip(&pictures)
        .map(|((mark, url), bytes)| {
            Ok(LabelledPicture { mark: mark.parse::<Mark>().map_err(|e| JsError::new(&e))?, url, bytes })
        })
        .collect::<Result<Vec<_>, JsError>>()?;
    let zip = label_export::labels_dataset(&labelled).map_err(to_js)?;
    Ok(Uint8Array::from(zip.as_slice()))
}

/// The user's keyword list, for the extension: which posts mention a keyword and which packs
/// the keywords turn on (whole words, case- and accent-insensitive; see `veil_core::keywords`).
#[wasm_bindgen]
pub struct KeywordMatcher {
    keywords: KeywordSet,
}

#[wasm_bindgen]
impl KeywordMatcher {
    #[wasm_bindgen(constructor)]
    pub fn new(keywords: Vec<String>) -> KeywordMatcher {
        KeywordMatcher {
            keywords: KeywordSet::new(keywords),
        }
    }

    /// The first keyword (as the user typed it) that `text` mentions, or `undefined`.
    pub fn find(&self, text: &str) -> Option<String> {
        self.keywords.find(text).map(str::to_string)
    }

    /// Whether one of `pack_keywords` (a filter pack's) is one of the user's keywords.
    #[wasm_bindgen(js_name = turnsOn)]
    pub fn turns_on(&self, pack_keywords: Vec<String>) -> bool {
        self.keywords
            .shares_keyword_with(&KeywordSet::new(pack_keywords))
    }
}

#[derive(Serialize)]
struct KeyEntry<'a> {
    key: &'a str,
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    error: &'a str,
}

impl VeilFilter {
    fn judge_one(
        &self,
        image: Result<RgbaImage, preprocess::PreprocessError>,
        strictness: Option<String>,
    ) -> Promise {
        let loaded = Rc::clone(&self.loaded);
        future_to_promise(async move {
            let image = image.map_err(to_js)?;
            let strictness = parse_strictness(strictness)?;
            let started = now_ms();
            let verdict = loaded
                .classifier
                .classify(std::slice::from_ref(&image), strictness)
                .await
                .map_err(to_js)?
                .pop()
                .expect("one verdict per image");
            judgement(&loaded, verdict, now_ms() - started)
        })
    }
}

fn judgement(loaded: &Loaded, verdict: Verdict, ms: f64) -> Result<JsValue, JsValue> {
    to_value(&Judgement {
        verdict,
        backend: loaded.backend.name,
        ms,
    })
    .map_err(JsValue::from)
}

fn parse_strictness(strictness: Option<String>) -> Result<Strictness, JsValue> {
    strictness
        .map_or(Ok(Strictness::default()), |s| s.parse())
        .map_err(|e: String| JsError::new(&e).into())
}

fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    // JSON-compatible: maps become plain objects, not `Map`s.
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

fn to_js(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

/// `performance.now()` from whichever global this runs in (page, worker, service worker).
fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|performance| {
            let now = js_sys::Reflect::get(&performance, &"now".into()).ok()?;
            now.dyn_into::<js_sys::Function>()
                .ok()?
                .call0(&performance)
                .ok()?
                .as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}
