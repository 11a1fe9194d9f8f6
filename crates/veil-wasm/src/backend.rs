//! Choosing where the network runs: WebGPU when the browser has a working hardware adapter, the
//! Flex CPU backend otherwise. The crate builds two modules (`cpu` and `gpu` features): the CPU
//! module has no WebGPU runtime, and [`webgpu_advice`] tells the page whether fetching the
//! WebGPU module is worth it.

#[cfg(feature = "gpu")]
use std::cell::RefCell;
use std::str::FromStr;

use burn::prelude::*;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// WebGPU, or the CPU when WebGPU is missing or fails its self-test.
    Auto,
    WebGpu,
    Cpu,
}

impl FromStr for BackendChoice {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "auto" => Ok(Self::Auto),
            "webgpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!(
                "unknown backend {other:?}: use \"auto\", \"webgpu\" or \"cpu\""
            )),
        }
    }
}

pub struct Selected {
    pub device: Device,
    /// `"webgpu"` or `"cpu"`.
    pub name: &'static str,
    pub fallback_reason: Option<String>,
}

/// Which module this is: `"webgpu"` (WebGPU and the CPU) or `"cpu"` (the CPU only).
pub const MODULE: &str = if cfg!(feature = "gpu") {
    "webgpu"
} else {
    "cpu"
};

#[cfg(feature = "gpu")]
thread_local! {
    // burn's wgpu runtime is initialised once per page; later filters reuse its device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

pub async fn select(choice: BackendChoice) -> Result<Selected, String> {
    let cpu = |fallback_reason| Selected {
        device: Device::flex(),
        name: "cpu",
        fallback_reason,
    };
    match choice {
        BackendChoice::Cpu => Ok(cpu(None)),
        BackendChoice::WebGpu => webgpu().await.map(|device| Selected {
            device,
            name: "webgpu",
            fallback_reason: None,
        }),
        BackendChoice::Auto => {
            if let Some(reason) = webgpu_advice().await {
                return Ok(cpu(Some(reason)));
            }
            Ok(match webgpu().await {
                Ok(device) => Selected {
                    device,
                    name: "webgpu",
                    fallback_reason: None,
                },
                Err(reason) => cpu(Some(reason)),
            })
        }
    }
}

/// Why this browser should judge on the CPU, or `None` where it offers a hardware WebGPU adapter
/// (which still has to pass [`self_test`]).
pub async fn webgpu_advice() -> Option<String> {
    let Some(gpu) = navigator_gpu() else {
        return Some("this browser exposes no WebGPU (navigator.gpu is missing)".into());
    };
    let Some(adapter) = default_adapter(&gpu).await else {
        return Some("this browser offers no WebGPU adapter".into());
    };
    software_renderer(&adapter).map(|renderer| {
        format!(
            "the WebGPU adapter ({renderer}) renders in software, which is slower than the CPU backend"
        )
    })
}

#[cfg(not(feature = "gpu"))]
async fn webgpu() -> Result<Device, String> {
    // The page loads this module for the CPU and fetches the WebGPU module where it can use it.
    Err("Veil's WebGPU module did not load, so this is its CPU module, which has no WebGPU".into())
}

#[cfg(feature = "gpu")]
async fn webgpu() -> Result<Device, String> {
    if let Some(device) = WEBGPU.with_borrow(Clone::clone) {
        return Ok(device);
    }
    // Asking wgpu for an adapter where the API is absent can abort the module; look first.
    if !has_navigator_gpu() {
        return Err("this browser exposes no WebGPU (navigator.gpu is missing)".into());
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|error| format!("WebGPU initialisation failed: {error}"))?;
    self_test(&device).await?;
    WEBGPU.with_borrow_mut(|cached| *cached = Some(device.clone()));
    Ok(device)
}

/// Some adapters initialise but compute garbage or nothing; one tiny matmul read back finds out
/// before any verdict depends on it.
#[cfg(feature = "gpu")]
async fn self_test(device: &Device) -> Result<(), String> {
    let a = Tensor::<2>::from_data([[1.0f32, 2.0], [3.0, 4.0]], device);
    let product = a.clone().matmul(a);
    let values = product
        .into_data_async()
        .await
        .map_err(|error| format!("WebGPU self-test could not read results: {error:?}"))?
        .try_to_vec::<f32>()
        .map_err(|error| format!("WebGPU self-test returned bad data: {error:?}"))?;
    if values != [7.0, 10.0, 15.0, 22.0] {
        return Err(format!(
            "WebGPU self-test computed {values:?} instead of [7, 10, 15, 22]"
        ));
    }
    Ok(())
}

#[cfg(feature = "gpu")]
fn has_navigator_gpu() -> bool {
    navigator_gpu().is_some()
}

fn navigator_gpu() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    if navigator.is_undefined() {
        return None;
    }
    Reflect::get(&navigator, &"gpu".into())
        .ok()
        .filter(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// `navigator.gpu.requestAdapter()`, or `None` where it fails or finds none.
async fn default_adapter(gpu: &JsValue) -> Option<JsValue> {
    let request: js_sys::Function = Reflect::get(gpu, &"requestAdapter".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: js_sys::Promise = request.call0(gpu).ok()?.dyn_into().ok()?;
    let adapter = JsFuture::from(promise).await.ok()?;
    (!adapter.is_null() && !adapter.is_undefined()).then_some(adapter)
}

/// Names the adapter if it emulates a GPU on the CPU (SwiftShader, llvmpipe, WARP: a machine
/// without a usable GPU). Such adapters run the net about ten times slower than the Flex backend
/// on the same CPU (BENCHMARKS.md), so `auto` does not pick them.
fn software_renderer(adapter: &JsValue) -> Option<String> {
    let info = Reflect::get(adapter, &"info".into())
        .ok()
        .filter(|info| info.is_object())?;
    let field = |name: &str| {
        Reflect::get(&info, &name.into())
            .ok()
            .and_then(|value| value.as_string())
            .unwrap_or_default()
    };
    let name = format!("{} {}", field("vendor"), field("architecture"))
        .trim()
        .to_string();
    let is_fallback = Reflect::get(&info, &"isFallbackAdapter".into())
        .ok()
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    let lowered = name.to_lowercase();
    let software = ["swiftshader", "llvmpipe", "lavapipe", "softpipe", "warp"]
        .iter()
        .any(|renderer| lowered.contains(renderer));
    (is_fallback || software).then(|| {
        if name.is_empty() {
            "a fallback adapter".to_string()
        } else {
            name
        }
    })
}
