//! Which burn device a command runs on. GPU runtimes that are missing, or present but unable to
//! run a kernel, become a sentence that names the alternatives, never a panic.

#[cfg(not(all(feature = "wgpu", feature = "cuda")))]
use anyhow::bail;
use burn::prelude::Device;
use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// Pure-Rust CPU backend (Flex): runs anywhere, deterministic with a seed.
    Cpu,
    /// The first GPU wgpu finds (Vulkan, Metal, DX12).
    Wgpu,
    /// The first NVIDIA GPU (needs a build with `--features cuda`).
    Cuda,
}

/// The device `backend` names, checked to run kernels.
pub fn device(backend: Backend) -> anyhow::Result<Device> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        Backend::Wgpu => wgpu_device(),
        Backend::Cuda => cuda_device(),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> anyhow::Result<Device> {
    let device = Device::wgpu_options().init().map_err(|error| {
        anyhow::anyhow!(
            "no usable GPU through wgpu ({error}); use --backend cpu to train on the CPU"
        )
    })?;
    runs_kernels(&device).map_err(|reason| {
        anyhow::anyhow!(
            "the GPU wgpu found cannot run Veil's kernels ({reason}); use --backend cpu to train on the CPU"
        )
    })?;
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> anyhow::Result<Device> {
    bail!(
        "this veil-train was built without the `wgpu` feature; rebuild with it or use --backend cpu"
    )
}

#[cfg(feature = "cuda")]
fn cuda_device() -> anyhow::Result<Device> {
    let device = Device::cuda(0);
    runs_kernels(&device).map_err(|reason| {
        anyhow::anyhow!(
            "no usable NVIDIA GPU through CUDA ({reason}); use --backend wgpu or --backend cpu"
        )
    })?;
    Ok(device)
}

/// Runs one tiny operation on `device`. GPU runtimes report a missing driver or an unusable
/// card by panicking at the first operation: this turns that panic into its message, so the
/// user gets a sentence instead of a backtrace.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn runs_kernels(device: &Device) -> Result<(), String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        burn::tensor::Tensor::<1>::ones([1], device).into_scalar::<f32>()
    });
    std::panic::set_hook(hook);
    probe.map(drop).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
            .unwrap_or_else(|| "the GPU runtime failed to start".into())
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> anyhow::Result<Device> {
    bail!(
        "this veil-train was built without the `cuda` feature; rebuild with `--features cuda` or use --backend cpu"
    )
}

impl Backend {
    /// The name the command line takes for this backend (`cpu`, `wgpu`, `cuda`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .expect("no variant is skipped")
            .get_name()
            .to_string()
    }
}
