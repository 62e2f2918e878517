use std::path::{Path, PathBuf};

/// Everything that can be wrong with a dataset folder. Each message names the path, what was expected
/// there and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("unknown dataset '{name}'; valid names: {valid}")]
    UnknownDataset { name: String, valid: String },

    #[error("bad value '{value}' for {option}: expected {expected}")]
    BadOption {
        option: String,
        value: String,
        expected: String,
    },

    #[error("{path}: folder not found; expected {expected}. Fix: {fix}")]
    MissingFolder {
        path: PathBuf,
        expected: String,
        fix: String,
    },

    #[error(
        "{root}: no {dataset} layout found; expected {expected} in one of: {tried}. \
         Fix: pass --root pointing at the folder that contains them (or its parent)"
    )]
    NoLayout {
        root: PathBuf,
        dataset: String,
        expected: String,
        tried: String,
    },

    #[error("{path}: cannot parse the file name; expected {expected}. Fix: rename or remove the file")]
    BadName { path: PathBuf, expected: String },

    #[error("{path}: {what} {value} is out of range; expected {expected}. Fix: rename or remove the file")]
    OutOfRange {
        path: PathBuf,
        what: String,
        value: i64,
        expected: String,
    },

    #[error("{path}: no images found; expected {expected}. Fix: check that the dataset was extracted completely")]
    NoImages { path: PathBuf, expected: String },

    #[error("{path}: listed in {list} line {line} but missing. Fix: re-extract the dataset or remove the line")]
    MissingFile { path: PathBuf, list: PathBuf, line: usize },

    #[error("{path}:{line}: cannot parse '{found}'; expected {expected}")]
    BadLine {
        path: PathBuf,
        line: usize,
        found: String,
        expected: String,
    },

    #[error("{path}: no entries; expected {expected}")]
    EmptyList { path: PathBuf, expected: String },

    #[error("{path}: {message}. Fix: {fix}")]
    Inconsistent {
        path: PathBuf,
        message: String,
        fix: String,
    },

    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: unreadable image: {reason}. Fix: re-extract or remove the file")]
    Image { path: PathBuf, reason: String },

    #[error("{first} (and {more} more problems; `occreid data check` lists them all)")]
    Several { first: Box<DataError>, more: usize },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The file or folder the problem is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::UnknownDataset { .. } | Self::BadOption { .. } => None,
            Self::MissingFolder { path, .. }
            | Self::BadName { path, .. }
            | Self::OutOfRange { path, .. }
            | Self::NoImages { path, .. }
            | Self::MissingFile { path, .. }
            | Self::BadLine { path, .. }
            | Self::EmptyList { path, .. }
            | Self::Inconsistent { path, .. }
            | Self::Io { path, .. }
            | Self::Image { path, .. } => Some(path),
            Self::NoLayout { root, .. } => Some(root),
            Self::Several { first, .. } => first.path(),
        }
    }

    /// A stable snake_case tag for machine-readable reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownDataset { .. } => "unknown_dataset",
            Self::BadOption { .. } => "bad_option",
            Self::MissingFolder { .. } => "missing_folder",
            Self::NoLayout { .. } => "no_layout",
            Self::BadName { .. } => "bad_name",
            Self::OutOfRange { .. } => "out_of_range",
            Self::NoImages { .. } => "no_images",
            Self::MissingFile { .. } => "missing_file",
            Self::BadLine { .. } => "bad_line",
            Self::EmptyList { .. } => "empty_list",
            Self::Inconsistent { .. } => "inconsistent",
            Self::Io { .. } => "io",
            Self::Image { .. } => "unreadable_image",
            Self::Several { first, .. } => first.kind(),
        }
    }
}
