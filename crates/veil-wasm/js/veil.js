// Veil's two wasm modules behind one import (`cargo xtask wasm` copies this file beside them).
// Every page instantiates the CPU module (Flex only, small); the WebGPU module, which carries
// CubeCL's WebGPU runtime and kernel compiler and is several times larger, is fetched only where
// the CPU module's `webgpuAdvice()` finds a hardware adapter, or where a page asks for WebGPU.
import initCpu, * as cpu from "./veil_wasm_cpu.js";

let cpuModule = null;
let gpuModule = null;

/** The CPU module, instantiated once: its `VeilFilter`, `KeywordMatcher` and `webgpuAdvice`. */
export function cpuWasm() {
  cpuModule ??= initCpu().then(() => cpu);
  return cpuModule;
}

function gpuWasm() {
  if (!gpuModule) {
    gpuModule = import("./veil_wasm_gpu.js").then(async (gpu) => {
      await gpu.default();
      return gpu;
    });
    // A module that failed to arrive is asked for again next time.
    gpuModule.catch(() => (gpuModule = null));
  }
  return gpuModule;
}

/** Loads `pack` (its bytes) as a `VeilFilter` on `backend`: `"cpu"` in the CPU module,
 * `"webgpu"` in the WebGPU module (failing where WebGPU cannot run), `"auto"` in the WebGPU
 * module where a hardware adapter exists and in the CPU module otherwise; either way the
 * filter's `fallbackReason` says why it judges on the CPU, and its `module` which one it is. */
export async function loadFilter(pack, backend) {
  const base = await cpuWasm();
  if (backend === "webgpu" || (backend === "auto" && !(await base.webgpuAdvice()))) {
    let gpu;
    try {
      gpu = await gpuWasm();
    } catch (error) {
      if (backend === "webgpu") throw new Error(`Veil's WebGPU module did not load: ${error?.message ?? error}`);
      console.warn("Veil: the WebGPU module did not load; judging on the CPU", error);
    }
    if (gpu) return gpu.VeilFilter.load(pack, backend);
  }
  return base.VeilFilter.load(pack, backend);
}
