//! Device selection and a link self-check for the tch-based crates.
pub use tch;

use tch::Device;

/// Which device a command asked for (`--device auto|cpu|cuda`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device '{0}': expected one of auto, cpu, cuda")]
    Unknown(String),
    #[error("--device cuda was requested but libtorch reports no CUDA device (is LD_LIBRARY_PATH pointing at the torch/lib of a CUDA build, and is a GPU visible?)")]
    CudaUnavailable,
}

impl std::str::FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(DeviceError::Unknown(other.to_string())),
        }
    }
}

impl DeviceChoice {
    pub fn resolve(self) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto => Ok(Device::cuda_if_available()),
            Self::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            Self::Cuda => Err(DeviceError::CudaUnavailable),
        }
    }
}

/// One line describing the linked libtorch, for `occreid --version`-style diagnostics.
pub fn runtime_summary() -> String {
    format!(
        "libtorch linked; cuda available: {} ({} device(s)); cudnn: {}",
        tch::Cuda::is_available(),
        tch::Cuda::device_count(),
        tch::Cuda::cudnn_is_available()
    )
}
