//! Device selection and a link self-check for the tch-based crates.
pub use tch;

pub mod amp;

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

/// Why a `.safetensors` file could not be read, in words (the crate's own messages are variant names
/// such as `InvalidHeaderDeserialization`).
pub fn safetensors_reason(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::InvalidHeader => "its header is not UTF-8 text (not a safetensors file?)".into(),
        E::InvalidHeaderStart => "its header does not start with `{` (not a safetensors file?)".into(),
        E::InvalidHeaderDeserialization => "its header is not a valid safetensors table".into(),
        E::HeaderTooLarge => {
            "its first 8 bytes give a header length over 100 MB (not a safetensors file, or damaged)".into()
        }
        E::HeaderTooSmall => "it is shorter than the 8 bytes every safetensors file starts with (empty or cut)".into(),
        E::InvalidHeaderLength => "its header length points past the end of the file (truncated?)".into(),
        E::TensorNotFound(name) => format!("tensor `{name}` is missing"),
        E::TensorInvalidInfo => "a tensor's shape and type do not match its byte range (damaged header)".into(),
        E::InvalidOffset(name) => format!("tensor `{name}` has an invalid byte range (truncated or damaged)"),
        E::IoError(e) => e.to_string(),
        E::JsonError(e) => format!("its header is not valid JSON: {e}"),
        E::InvalidTensorView(dtype, shape, len) => {
            format!("a {dtype:?} tensor of shape {shape:?} cannot be {len} bytes long")
        }
        E::MetadataIncompleteBuffer => {
            "its tensors do not cover the bytes after the header (truncated, or bytes appended)".into()
        }
        E::ValidationOverflow => "a tensor's size overflows (damaged header)".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn safetensors_errors_read_as_words() {
        for bytes in [
            &b"not a checkpoint"[..],
            &[4, 0, 0, 0, 0, 0, 0, 0, b'{', b'}'][..],
            &b"abc"[..],
        ] {
            let e = safetensors::SafeTensors::deserialize(bytes).unwrap_err();
            let reason = super::safetensors_reason(&e);
            assert!(
                !reason.contains("Header") && reason.contains(' '),
                "{reason} from {e:?}"
            );
        }
    }
}
