//! Which Burn backend runs the tensors. Chosen at run time; the model code is the same for all.
//! wgpu is there with the Cargo feature `webgpu` (the CLI's and the WebGPU module's builds);
//! the page's wasm module is built without it, CPU backends only.

use burn::tensor::Device;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Burn's pure-Rust CPU backend (0.22): the fastest CPU path natively and in wasm.
    Flex,
    /// The ndarray CPU backend: the fallback the browser app promises when WebGPU is absent.
    NdArray,
    /// wgpu: Vulkan/Metal natively, WebGPU in a browser.
    #[cfg(feature = "webgpu")]
    Wgpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            #[cfg(feature = "webgpu")]
            Backend::Wgpu => "wgpu",
        }
    }

    /// Flex or ndarray.
    pub fn is_cpu(self) -> bool {
        matches!(self, Backend::Flex | Backend::NdArray)
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::NdArray),
            #[cfg(feature = "webgpu")]
            "wgpu" | "webgpu" => Ok(Backend::Wgpu),
            #[cfg(not(feature = "webgpu"))]
            "wgpu" | "webgpu" => Err(format!(
                "backend '{s}': this build has no wgpu (the Cargo feature webgpu is off)"
            )),
            _ => Err(format!(
                "unknown backend '{s}' (expected flex, ndarray or wgpu)"
            )),
        }
    }

    /// A plain (non-autodiff) device. wgpu is initialised lazily by its first tensor natively;
    /// in a browser use `Device::wgpu_options().init_async()` instead.
    pub fn device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            #[allow(deprecated)] // ndarray stays: it is the fallback the browser app promises
            Backend::NdArray => Device::ndarray(),
            #[cfg(feature = "webgpu")]
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        }
    }
}

/// Whether `device` (with or without autodiff) is flex or ndarray: its tensors live in this
/// process's memory, so reading one out is a copy (often none: flex hands a tensor it alone holds
/// over as is), never a GPU read-back. The CPU-only paths (`activation`, the host optimizer step
/// in `adamw`) take this test.
pub fn on_host(device: &Device) -> bool {
    let plain = device.clone().without_autodiff();
    plain == Device::flex() || {
        #[allow(deprecated)] // ndarray stays: the fallback the browser app promises
        let ndarray = Device::ndarray();
        plain == ndarray
    }
}
