//! Which Burn backend runs the tensors. Chosen at run time; the model code is the same for all.

use burn::tensor::Device;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Burn's pure-Rust CPU backend (0.22): the fastest CPU path natively and in wasm.
    Flex,
    /// The ndarray CPU backend: the fallback the browser app promises when WebGPU is absent.
    NdArray,
    /// wgpu: Vulkan/Metal natively, WebGPU in a browser.
    Wgpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::NdArray),
            "wgpu" | "webgpu" => Ok(Backend::Wgpu),
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
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        }
    }
}
